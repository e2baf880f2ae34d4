"""The ICD-10-CM release simple-icd-10-cm ships, as a code -> official description table.

The package parses its 10 MB tabular XML on import (about 2 s), which would dominate every
`ivig-fhir validate`. The table it yields is kept in a user cache, keyed by the package
version, the table's layout and the Python version, and rebuilt from the package whenever one
changes. Without a writable cache it is simply built each run. The cache file holds the table
category by category (a category and every code below it, marshalled apart, behind an index of
where each starts): a build looks up about a hundred codes of 98,000, so it reads the few
categories it needs instead of the whole table (0.1 s).

Besides descriptions the table keeps the tabular hierarchy (each code's parent, as
`get_parent` gives it) and the tabular notes a curator must see against a concept: Excludes1,
Excludes2, "use additional code", "code first", and the free notes (where the release says
e.g. "This code is not for inpatient use").
"""

from __future__ import annotations

import marshal
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Generic, TypeVar

PACKAGE = "simple-icd-10-cm"
LAYOUT = 4  # bump when the cached table changes shape
# Tabular notes kept per code: simple_icd_10_cm getter -> label shown to a curator.
NOTES = {"get_excludes1": "Excludes1", "get_excludes2": "Excludes2",
         "get_use_additional_code": "Use additional code", "get_code_first": "Code first",
         "get_notes": "Note"}

Notes = list[tuple[str, str]]
# One category and every code below it: (descriptions, codes with children, parents, notes,
# children). Its codes start with the category's three characters, and so do their parents.
Category = tuple[dict[str, str], frozenset[str], dict[str, str], dict[str, Notes],
                 dict[str, list[str]]]
_EMPTY: Category = ({}, frozenset(), {}, {}, {})
V = TypeVar("V")


def _category(code: str) -> str:
    return code[:3]


class _Column(Mapping[str, V], Generic[V]):
    """One column of the table (descriptions, parents, notes or children) as a mapping over
    every code, reading only the categories of the codes asked for."""

    def __init__(self, release: Release, pick: Callable[[Category], Mapping[str, V]]) -> None:
        self._release = release
        self._pick = pick

    def __getitem__(self, code: str) -> V:
        return self._pick(self._release.category(code))[code]

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code in self._pick(self._release.category(code))

    def __iter__(self) -> Iterator[str]:
        for name in self._release.category_names():
            yield from self._pick(self._release.category(name))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _Codes:
    """The codes that have children (categories and subcategories: not billable)."""

    def __init__(self, release: Release) -> None:
        self._release = release

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code in self._release.category(code)[1]


class Release:
    """The table, read a category at a time (see the module's docstring)."""

    def __init__(self, name: str, stored: bytes | None = None,
                 table: dict[str, Category] | None = None) -> None:
        self.name = name  # e.g. "simple-icd-10-cm 1.5.0 (ICD-10-CM April 1, 2026)"
        self._stored = memoryview(stored or b"")
        self._index: dict[str, tuple[int, int]] = {}
        self._read: dict[str, Category] = dict(table or {})
        if stored is not None:
            size = int.from_bytes(stored[:8], "big")
            self._index = marshal.loads(self._stored[8:8 + size])  # noqa: S302 - our own file
            self._start = 8 + size
        self.descriptions: Mapping[str, str] = _Column(self, lambda c: c[0])
        self.categories = _Codes(self)
        self.parents: Mapping[str, str] = _Column(self, lambda c: c[2])
        self.notes: Mapping[str, Notes] = _Column(self, lambda c: c[3])
        self.children: Mapping[str, list[str]] = _Column(self, lambda c: c[4])

    def category(self, code: str) -> Category:
        """The part of the table `code` is in (empty for a code of no category)."""
        name = _category(code)
        found = self._read.get(name)
        if found is None:
            where = self._index.get(name)
            if where is None:
                return _EMPTY
            start, end = where
            try:
                texts, having_children, up, kept, down = marshal.loads(  # noqa: S302 - ours
                    self._stored[self._start + start:self._start + end])
            except (ValueError, EOFError, TypeError):
                # a corrupted cache file: the package's table, which is written anew
                self._read, self._index = _rebuilt(), {}
                return self._read.get(name, _EMPTY)
            found = self._read[name] = (texts, frozenset(having_children), up, kept, down)
        return found

    def category_names(self) -> list[str]:
        return sorted(self._index) if self._index else sorted(self._read)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Release):
            return NotImplemented
        return self.name == other.name and self.category_names() == other.category_names() \
            and all(self.category(c) == other.category(c) for c in self.category_names())

    __hash__ = None  # type: ignore[assignment]

    def description(self, code: str) -> str | None:
        return self.category(code)[0].get(code)

    def descendants(self, code: str) -> list[str]:
        """Every code below `code` in the tabular hierarchy, sorted."""
        children = self.category(code)[4]
        found: list[str] = []
        todo = list(children.get(code, ()))
        while todo:
            child = todo.pop()
            found.append(child)
            todo.extend(children.get(child, ()))
        return sorted(found)

    def ancestors(self, code: str) -> list[str]:
        """Parent, grandparent, ... up to the category."""
        parents = self.category(code)[2]
        out = []
        while code in parents:
            code = parents[code]
            out.append(code)
        return out

    def tabular_notes(self, code: str) -> list[tuple[str, str, str]]:
        """(code the note stands at, label, text) for the code and each ancestor: an Excludes1
        at a category binds every code below it."""
        notes = self.category(code)[3]
        return [(at, label, text) for at in (code, *self.ancestors(code))
                for label, text in notes.get(at, ())]


def _cache_file(version: str) -> Path:
    base = os.environ.get("IVIG_FHIR_CACHE") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    if not os.environ.get("IVIG_FHIR_CACHE"):
        root = root / "ivig-fhir"
    tag = f"{sys.implementation.cache_tag}"
    return root / f"icd10cm-{version}-v{LAYOUT}-{tag}.marshal"


def _from_package() -> dict[str, Category]:
    """The table, category by category, as the package gives it."""
    import simple_icd_10_cm as cm

    descriptions = {code: cm.get_description(code) for code in cm.get_all_codes(True)
                    if cm.is_category(code) or cm.is_subcategory(code)
                    or cm.is_extended_subcategory(code)}
    # A block named like its only category (B20, C7A) is its parent in the package: no code.
    parents = {code: parent for code in descriptions
               if (parent := cm.get_parent(code)) in descriptions and parent != code}
    notes: dict[str, list[tuple[str, str]]] = {}
    for code in descriptions:
        found = []
        for getter, label in NOTES.items():
            value = getattr(cm, getter)(code)
            found += [(label, text) for text in ([value] if isinstance(value, str) else value)
                      if text]
        # The package files some free notes ("not for inpatient use") among inclusion terms.
        found += [("Note", term) for term in cm.get_inclusion_term(code)
                  if term.startswith("This code")]
        if found:
            notes[code] = found
    table: dict[str, Category] = {}
    for code, text in descriptions.items():
        table.setdefault(_category(code), ({}, frozenset(), {}, {}, {}))[0][code] = text
    for name, (texts, _, up, kept, down) in table.items():
        for code in texts:
            if code in parents:
                up[code] = parents[code]
                down.setdefault(parents[code], []).append(code)
            if code in notes:
                kept[code] = notes[code]
        for codes in down.values():
            codes.sort()
        table[name] = (texts, frozenset(c for c in texts if not cm.is_leaf(c)), up, kept, down)
    return table


def _stored(table: dict[str, Category]) -> bytes:
    """The cache file: the index (category -> where it starts and ends, after the index),
    then each category marshalled apart."""
    index: dict[str, tuple[int, int]] = {}
    parts: list[bytes] = []
    at = 0
    for name in sorted(table):
        texts, having_children, up, kept, down = table[name]
        part = marshal.dumps((texts, sorted(having_children), up, kept, down))
        index[name] = (at, at + len(part))
        parts.append(part)
        at += len(part)
    head = marshal.dumps(index)
    return len(head).to_bytes(8, "big") + head + b"".join(parts)


def _release_date() -> str:
    """'April 1, 2026', from the name of the tabular file the package ships (found without
    importing the package, which would load it)."""
    from importlib.util import find_spec

    spec = find_spec("simple_icd_10_cm")
    folders = spec.submodule_search_locations if spec else None
    for folder in folders or ():
        for xml in sorted((Path(folder) / "data").glob("icd10c*-tabular-*.xml")):
            month, day, year = xml.stem.rsplit("-", 3)[1:]
            return f"{month} {day}, {year}"
    return "release date unknown"


@cache
def release() -> Release:
    version = metadata.version(PACKAGE)
    name = f"{PACKAGE} {version} (ICD-10-CM {_release_date()})"
    path = _cache_file(version)
    try:
        return Release(name, path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        pass  # no cache file, or not one of this layout (a corrupted category is rebuilt then)
    return Release(name, table=_rebuilt())


def _rebuilt() -> dict[str, Category]:
    """The table from the package, stored in the user cache for the next run."""
    table = _from_package()
    path = _cache_file(metadata.version(PACKAGE))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            tmp.write(_stored(table))
        os.replace(tmp.name, path)
    except OSError:
        pass  # a read-only home: no cache, the table is rebuilt next run
    return table
