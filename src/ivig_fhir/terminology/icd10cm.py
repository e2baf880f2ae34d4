"""The ICD-10-CM release simple-icd-10-cm ships, as a code -> official description table.

The package parses its 10 MB tabular XML on import (about 2 s), which would dominate every
`ivig-fhir validate`. The table it yields is kept in a user cache (marshal, about 0.05 s to
read), keyed by the package version, the table's layout and the Python version, and rebuilt
from the package whenever one changes. Without a writable cache it is simply built each run.

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
from dataclasses import dataclass
from functools import cache, cached_property
from importlib import metadata
from pathlib import Path

PACKAGE = "simple-icd-10-cm"
LAYOUT = 3  # bump when the cached table changes shape
# Tabular notes kept per code: simple_icd_10_cm getter -> label shown to a curator.
NOTES = {"get_excludes1": "Excludes1", "get_excludes2": "Excludes2",
         "get_use_additional_code": "Use additional code", "get_code_first": "Code first",
         "get_notes": "Note"}


@dataclass(frozen=True)
class Release:
    name: str  # e.g. "simple-icd-10-cm 1.5.0 (ICD-10-CM April 1, 2026)"
    descriptions: dict[str, str]  # code as written in FHIR (with the dot) -> description
    categories: frozenset[str]  # codes that have children: not billable
    parents: dict[str, str]  # code -> parent code (categories have none: blocks are no codes)
    notes: dict[str, list[tuple[str, str]]]  # code -> [(label, text)] of its own tabular notes

    def description(self, code: str) -> str | None:
        return self.descriptions.get(code)

    @cached_property
    def children(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for code, parent in self.parents.items():
            out.setdefault(parent, []).append(code)
        for codes in out.values():  # short lists: cheaper than sorting every code at once
            codes.sort()
        return out

    def descendants(self, code: str) -> list[str]:
        """Every code below `code` in the tabular hierarchy, sorted."""
        found: list[str] = []
        todo = list(self.children.get(code, ()))
        while todo:
            child = todo.pop()
            found.append(child)
            todo.extend(self.children.get(child, ()))
        return sorted(found)

    def ancestors(self, code: str) -> list[str]:
        """Parent, grandparent, ... up to the category."""
        out = []
        while code in self.parents:
            code = self.parents[code]
            out.append(code)
        return out

    def tabular_notes(self, code: str) -> list[tuple[str, str, str]]:
        """(code the note stands at, label, text) for the code and each ancestor: an Excludes1
        at a category binds every code below it."""
        return [(at, label, text) for at in (code, *self.ancestors(code))
                for label, text in self.notes.get(at, ())]


def _cache_file(version: str) -> Path:
    base = os.environ.get("IVIG_FHIR_CACHE") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    if not os.environ.get("IVIG_FHIR_CACHE"):
        root = root / "ivig-fhir"
    tag = f"{sys.implementation.cache_tag}"
    return root / f"icd10cm-{version}-v{LAYOUT}-{tag}.marshal"


Table = tuple[dict[str, str], list[str], dict[str, str], dict[str, list[tuple[str, str]]]]


def _from_package() -> Table:
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
    return (descriptions, sorted(c for c in descriptions if not cm.is_leaf(c)), parents,
            notes)


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
    path = _cache_file(version)
    try:
        table: Table = marshal.loads(path.read_bytes())  # noqa: S302 - our own file
        descriptions, categories, parents, notes = table
    except (OSError, ValueError, EOFError, TypeError):
        descriptions, categories, parents, notes = _from_package()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                tmp.write(marshal.dumps((descriptions, categories, parents, notes)))
            os.replace(tmp.name, path)
        except OSError:
            pass  # a read-only home: no cache, the table is rebuilt next run
    # The notes as stored: (label, text) pairs, which marshal keeps as tuples (copying 4,000
    # lists of them cost more than the rest of the terminology layer).
    return Release(f"{PACKAGE} {version} (ICD-10-CM {_release_date()})", descriptions,
                   frozenset(categories), parents, notes)
