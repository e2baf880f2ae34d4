"""Layered validation of FHIR JSON (R5, R4B or R4), offline.

Each finding is a `Problem` whose `layer` says which check made it:

    json       well-formed UTF-8 JSON; no duplicate keys, nulls, empty strings/arrays/objects
    structure  against the version's definitions (R5, R4B or R4): unknown elements,
               cardinality, choice types, JSON types, primitive formats, resource types,
               profiled types (SimpleQuantity), and extensions against their definitions (the
               core extensions, and those shipped in the same file)
    invariant  every FHIRPath constraint of the definitions at every element present
    binding    codes of required bindings are in their value sets; UCUM units, languages,
               currencies and MIME types checked offline
    bundle     fullUrls, requests, ids, and references resolving inside the Bundle (to a
               resource type the element allows)
    narrative  the XHTML of Narrative.div is well-formed and safe
    (extra)    any `Layer` the caller plugs in, e.g. terminology

Locations: `Problem.file`, `Problem.line` (JSON syntax errors; the NDJSON record; in a Bundle
file, the line where the entry starts) and
`Problem.field`, an HL7-style FHIRPath such as `Bundle.entry[2].resource.issue[0]`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ivig_fhir.definitions import load, normalize_version
from ivig_fhir.problems import Problem

from . import (
    _binding,
    _bundle,
    _extensions,
    _invariant,
    _json,
    _narrative,
    _rules,
    _structure,
)
from ._lines import add_entry_lines
from ._walk import walk

__all__ = ["Layer", "detect_version", "validate_bytes", "validate_paths", "validate_resource"]

Layer = Callable[[dict[str, Any], str], list[Problem]]
"""An extra check: (resource or Bundle as JSON, file) -> problems."""

_PROFILE_HINTS = {"R4B": ("/4.3", "r4b", "R4B"), "R4": ("/4.0/", "/r4/", "R4/")}
_ORDER = ("R5", "R4B", "R4")  # preferred, on a tie
_XVER_R5 = "http://hl7.org/fhir/5.0/StructureDefinition/extension-"


def _detect(data: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """(version, every version the content fits as well): from meta.profile, else from which
    version's definitions know the most of its resource types and elements (Bundle entries
    included; R5 cross-version extensions mean R4 or R4B), else R5. A second item with more
    than one version means the content cannot tell them apart."""
    resources = [data]
    entries = data.get("entry") if data.get("resourceType") == "Bundle" else None
    if isinstance(entries, list):
        resources += [e["resource"] for e in entries
                      if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    misfits = dict.fromkeys(_ORDER, 0)
    defs = {v: load(v) for v in _ORDER}
    for res in resources:
        meta = res.get("meta")
        profiles = meta.get("profile") if isinstance(meta, dict) else None
        for version, hints in _PROFILE_HINTS.items():
            if isinstance(profiles, list) and any(
                isinstance(p, str) and any(h in p for h in hints) for p in profiles
            ):
                return version, (version,)
        rt = res.get("resourceType")
        if not isinstance(rt, str):
            continue
        if _XVER_R5 in json.dumps(res.get("extension", []) + res.get("modifierExtension", [])
                                  if isinstance(res.get("extension", []), list) else []):
            misfits["R5"] += 1
        for version in _ORDER:
            sd = defs[version].structure(rt)
            if sd is None or sd.kind != "resource":
                misfits[version] += 10
                continue
            kids = sd.children(rt)
            misfits[version] += sum(1 for key in res
                                    if key != "resourceType" and key.lstrip("_") not in kids
                                    and not _choice(kids, key.lstrip("_")))
    best = min(misfits.values())
    fits = tuple(v for v in _ORDER if misfits[v] == best)
    return fits[0], fits


def detect_version(data: dict[str, Any]) -> str:
    """'R5', 'R4B' or 'R4' for a resource: from meta.profile, else from which version's
    definitions know the most of its resource types and elements, else R5."""
    return _detect(data)[0]


def _key(p: Problem) -> tuple[str, int, int, str, str, str]:
    return (p.file, p.line or 0, p.column or 0, p.field, p.layer, p.message)


def _choice(kids: Any, name: str) -> bool:
    return any(k.endswith("[x]") and name.startswith(k[:-3]) for k in kids)


def validate_resource(
    data: dict[str, Any],
    *,
    file: str,
    fhir_version: str = "R5",
    extra_layers: Sequence[Layer] = (),
    line: int | None = None,
) -> list[Problem]:
    """All layers on one parsed resource (a Bundle's entries included). Sorted problems."""
    version = normalize_version(fhir_version)
    problems = _json.check(data, file=file, line=line)
    if any(p.severity == "fatal" for p in problems):
        return sorted(problems)
    defs = load(version)
    structure = _structure.check(data, defs, file=file, line=line)
    if structure:
        return sorted(problems + structure, key=_key)
    w = walk(data, defs, file=file, line=line)
    structure = w.problems + _rules.check(w, defs, file=file, line=line)
    problems += structure
    problems += _invariant.check(w, data, file=file, version=version, line=line,
                                 quiet_failures=bool(structure))
    problems += _binding.check(w, defs, file=file, line=line)
    problems += _bundle.check(data, w, file=file, line=line)
    problems += _extensions.check(data, w, defs, file=file, line=line)
    for node in w.nodes:
        if node.type == "xhtml":
            problems += _narrative.check_div(node.value, file=file, field=node.loc, line=line)
    for layer in extra_layers:
        problems += layer(data, file)
    return sorted(set(problems), key=_key)


def validate_bytes(
    raw: bytes,
    *,
    file: str,
    fhir_version: str | None = None,
    extra_layers: Sequence[Layer] = (),
) -> list[Problem]:
    """Validate a JSON document, or NDJSON (one resource per line) when `file` ends .ndjson."""
    if file.endswith(".ndjson"):
        return _ndjson(raw, file=file, fhir_version=fhir_version, extra_layers=extra_layers)
    data, problems = _json.parse(raw, file=file)
    if data is None:
        return problems
    fits: set[tuple[str, ...]] = set()
    found = problems + _one(data, file, fhir_version, extra_layers, None, fits)
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        # Point findings inside an entry at the line where the entry starts.
        found = sorted(add_entry_lines(found, raw.decode("utf-8-sig")), key=_key)
    return found + _ambiguity(file, fits)


def _one(data: Any, file: str, fhir_version: str | None, extra_layers: Sequence[Layer],
         line: int | None, fits: set[tuple[str, ...]]) -> list[Problem]:
    if not isinstance(data, dict):
        return _json.check(data, file=file, line=line)
    if fhir_version:
        return validate_resource(data, file=file, fhir_version=fhir_version,
                                 extra_layers=extra_layers, line=line)
    version, found_fits = _detect(data)
    fits.add(found_fits)
    return validate_resource(data, file=file, fhir_version=version, extra_layers=extra_layers,
                             line=line)


def _ambiguity(file: str, fits: set[tuple[str, ...]]) -> list[Problem]:
    """One note per file whose FHIR version the content does not decide."""
    shared = [f for f in fits if len(f) > 1]
    if not shared:
        return []
    both = sorted({v for f in shared for v in f}, key=_ORDER.index)
    chosen = sorted({f[0] for f in fits}, key=_ORDER.index)
    return [Problem(file, None, None, "", f"FHIR version not stated: the content fits "
                    f"{' and '.join(both)} equally; validated as {' and '.join(chosen)} (give "
                    "--fhir-version to choose)", "information", "structure", "version-ambiguous")]


def _ndjson(raw: bytes, *, file: str, fhir_version: str | None,
            extra_layers: Sequence[Layer]) -> list[Problem]:
    problems: list[Problem] = []
    fits: set[tuple[str, ...]] = set()
    for n, chunk in enumerate(raw.split(b"\n"), start=1):
        if not chunk.strip():
            continue
        data, found = _json.parse(chunk.rstrip(b"\r"), file=file, line_offset=n - 1)
        problems += found
        if data is not None:
            problems += _one(data, file, fhir_version, extra_layers, n, fits)
    return sorted(problems + _ambiguity(file, fits), key=_key)


def validate_paths(
    paths: Sequence[Path],
    *,
    fhir_version: str | None = None,
    extra_layers: Sequence[Layer] = (),
) -> list[Problem]:
    """Validate files (*.json, *.ndjson); a directory means the files in it, recursively."""
    problems: list[Problem] = []
    for path in paths:
        files = (sorted(p for p in path.rglob("*") if p.suffix in (".json", ".ndjson"))
                 if path.is_dir() else [path])
        for f in files:
            try:
                raw = f.read_bytes()
            except OSError as e:
                problems.append(Problem(str(f), None, None, "", f"cannot read: {e.strerror}",
                                        "fatal", "json", "unreadable"))
                continue
            problems += validate_bytes(raw, file=str(f), fhir_version=fhir_version,
                                       extra_layers=extra_layers)
    return problems
