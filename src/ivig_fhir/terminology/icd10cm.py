"""The ICD-10-CM release simple-icd-10-cm ships, as a code -> official description table.

The package parses its 10 MB tabular XML on import (about 2 s), which would dominate every
`ivig-fhir validate`. The table it yields is kept in a user cache (marshal, about 0.05 s to
read), keyed by the package version and the Python version, and rebuilt from the package
whenever either changes. Without a writable cache it is simply built each run.
"""

from __future__ import annotations

import marshal
import os
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

PACKAGE = "simple-icd-10-cm"


@dataclass(frozen=True)
class Release:
    name: str  # e.g. "simple-icd-10-cm 1.5.0 (ICD-10-CM April 1, 2026)"
    descriptions: dict[str, str]  # code as written in FHIR (with the dot) -> description
    categories: frozenset[str]  # codes that have children: not billable

    def description(self, code: str) -> str | None:
        return self.descriptions.get(code)


def _cache_file(version: str) -> Path:
    base = os.environ.get("IVIG_FHIR_CACHE") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    if not os.environ.get("IVIG_FHIR_CACHE"):
        root = root / "ivig-fhir"
    tag = f"{sys.implementation.cache_tag}"
    return root / f"icd10cm-{version}-{tag}.marshal"


def _from_package() -> tuple[dict[str, str], list[str]]:
    import simple_icd_10_cm as cm

    descriptions = {code: cm.get_description(code) for code in cm.get_all_codes(True)
                    if cm.is_category(code) or cm.is_subcategory(code)
                    or cm.is_extended_subcategory(code)}
    return descriptions, sorted(c for c in descriptions if not cm.is_leaf(c))


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
        descriptions, categories = marshal.loads(path.read_bytes())  # noqa: S302 - our own file
    except (OSError, ValueError, EOFError, TypeError):
        descriptions, categories = _from_package()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                tmp.write(marshal.dumps((descriptions, categories)))
            os.replace(tmp.name, path)
        except OSError:
            pass  # a read-only home: no cache, the table is rebuilt next run
    return Release(f"{PACKAGE} {version} (ICD-10-CM {_release_date()})", descriptions,
                   frozenset(categories))
