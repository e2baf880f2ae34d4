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

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ivig_fhir.definitions import load, normalize_version
from ivig_fhir.problems import Problem

from . import _binding, _bundle, _extensions, _invariant, _json, _narrative, _structure
from ._lines import add_entry_lines
from ._walk import walk

__all__ = ["Layer", "detect_version", "validate_bytes", "validate_paths", "validate_resource"]

Layer = Callable[[dict[str, Any], str], list[Problem]]
"""An extra check: (resource or Bundle as JSON, file) -> problems."""

_R4B_PROFILE_HINTS = ("/4.3", "r4b", "R4B")


def detect_version(data: dict[str, Any]) -> str:
    """'R4B' or 'R5' for a resource: from meta.profile, else from which version's definitions
    know more of its elements (Bundle entries included), else R5."""
    resources = [data]
    entries = data.get("entry") if data.get("resourceType") == "Bundle" else None
    if isinstance(entries, list):
        resources += [e["resource"] for e in entries
                      if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    score = 0
    r5, r4b = load("R5"), load("R4B")
    for res in resources:
        meta = res.get("meta")
        profiles = meta.get("profile") if isinstance(meta, dict) else None
        if isinstance(profiles, list) and any(
            isinstance(p, str) and any(h in p for h in _R4B_PROFILE_HINTS) for p in profiles
        ):
            return "R4B"
        rt = res.get("resourceType")
        if not isinstance(rt, str):
            continue
        a, b = r5.structure(rt), r4b.structure(rt)
        if a is None or b is None:
            continue
        ka, kb = a.children(rt), b.children(rt)
        for key in res:
            name = key.lstrip("_")
            in5 = name in ka or _choice(ka, name)
            in4 = name in kb or _choice(kb, name)
            score += (in4 and not in5) - (in5 and not in4)
    return "R4B" if score > 0 else "R5"


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
    structure = w.problems
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
    found = _one(data, file, fhir_version, extra_layers, None)
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        # Point findings inside an entry at the line where the entry starts.
        found = sorted(add_entry_lines(found, raw.decode("utf-8")), key=_key)
    return found


def _one(data: Any, file: str, fhir_version: str | None, extra_layers: Sequence[Layer],
         line: int | None) -> list[Problem]:
    if not isinstance(data, dict):
        return _json.check(data, file=file, line=line)
    version = fhir_version or detect_version(data)
    return validate_resource(data, file=file, fhir_version=version, extra_layers=extra_layers,
                             line=line)


def _ndjson(raw: bytes, *, file: str, fhir_version: str | None,
            extra_layers: Sequence[Layer]) -> list[Problem]:
    problems: list[Problem] = []
    for n, chunk in enumerate(raw.split(b"\n"), start=1):
        if not chunk.strip():
            continue
        data, found = _json.parse(chunk.rstrip(b"\r"), file=file, line_offset=n - 1)
        problems += found
        if data is not None:
            problems += _one(data, file, fhir_version, extra_layers, n)
    return sorted(problems, key=_key)


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
