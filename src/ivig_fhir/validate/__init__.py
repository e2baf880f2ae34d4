"""Layered validation of FHIR JSON (R5, or R4B), offline.

Each finding is a `Problem` whose `layer` says which check made it:

    json       well-formed UTF-8 JSON; no duplicate keys, nulls, empty strings/arrays/objects
    structure  the fhir.resources model parses it (unknown elements, types, formats), plus
               cardinality, JSON types, profiled types (SimpleQuantity) from the definitions,
               and extensions against their StructureDefinitions shipped in the same file
    invariant  every FHIRPath constraint of the definitions at every element present
    binding    codes of required bindings are in their value sets; UCUM units, languages,
               currencies and MIME types checked offline
    bundle     fullUrls, requests, ids, and references resolving inside the Bundle (to a
               resource type the element allows)
    narrative  the XHTML of Narrative.div is well-formed and safe
    (extra)    any `Layer` the caller plugs in, e.g. terminology

What was not checked is said, never passed over: a resource type or a meta.profile outside
the definitions is a warning naming it (so `--strict` fails), and so is a version told from
the content when R4, R4B and R5 cannot be told apart. Inputs past the limits of
`ivig_fhir.limits` (file size, NDJSON line size, nesting depth) are refused, code `limit`.

Locations: `Problem.file`, `Problem.line` (JSON syntax errors; the NDJSON record; in a Bundle
file, the line where the entry starts) and
`Problem.field`, an HL7-style FHIRPath such as `Bundle.entry[2].resource.issue[0]`.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivig_fhir.definitions import load, normalize_version
from ivig_fhir.limits import (
    MAX_JSON_DEPTH,
    MAX_JSON_FILE_BYTES,
    MAX_NDJSON_FILE_BYTES,
    MAX_NDJSON_LINE_BYTES,
    MAX_PROBLEMS_PER_FILE,
    MAX_RESOURCES_PER_RUN,
)
from ivig_fhir.problems import Problem

from . import _binding, _bundle, _extensions, _invariant, _json, _narrative, _structure
from ._lines import add_entry_lines
from ._walk import walk

__all__ = ["Layer", "Validation", "detect_version", "validate_bytes", "validate_files",
           "validate_paths", "validate_resource"]

Layer = Callable[[dict[str, Any], str], list[Problem]]
"""An extra check: (resource or Bundle as JSON, file) -> problems."""

_R4B_PROFILE_HINTS = ("/4.3", "r4b", "R4B")


def detect_version(data: dict[str, Any]) -> str:
    """'R4B' or 'R5' for a resource (see `_detect`)."""
    return _detect(data)[0]


def _detect(data: dict[str, Any]) -> tuple[str, str]:
    """(version, how it was told) for a resource, Bundle entries included: from a
    `fhirVersion` element, else meta.profile, else which version's definitions know more of its
    elements; `how` is "" when nothing told the versions apart (then 'R5')."""
    resources = [data]
    entries = data.get("entry") if data.get("resourceType") == "Bundle" else None
    if isinstance(entries, list):
        resources += [e["resource"] for e in entries
                      if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    for res in resources:
        declared = res.get("fhirVersion")
        if isinstance(declared, str):
            try:
                return normalize_version(declared).upper(), f"fhirVersion {declared}"
            except ValueError:
                return "R4B", f"fhirVersion {declared}, which has no definitions here"
    score = 0
    r5, r4b = load("R5"), load("R4B")
    for res in resources:
        meta = res.get("meta")
        profiles = meta.get("profile") if isinstance(meta, dict) else None
        if isinstance(profiles, list) and any(
            isinstance(p, str) and any(h in p for h in _R4B_PROFILE_HINTS) for p in profiles
        ):
            return "R4B", "meta.profile"
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
    if score > 0:
        return "R4B", "elements"
    return "R5", "elements" if score < 0 else ""


def _version_note(version: str, how: str) -> str | None:
    """Why a version told from the content may be wrong, or None when it is certain."""
    if how == "":
        return ("nothing in the content tells FHIR R4, R4B and R5 apart: validated as R5; "
                "pass --fhir-version to be sure")
    if how == "elements" and version == "R4B":
        return ("elements show R4 or R4B, which only a declared version tells apart: "
                "validated as R4B; R4 is not checked here, pass --fhir-version")
    if how.endswith("no definitions here"):
        return f"{how}: validated as R4B, the closest; it is not fully checked"
    return None


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
    structure = _structure.check(data, file=file, version=version, line=line)
    w = walk(data, defs, file=file, line=line)
    # The walk's cardinality findings only where the model said nothing about that element.
    model_fields = {p.field for p in structure}
    structure += [p for p in w.problems if p.field not in model_fields]
    problems += structure
    problems += _invariant.check(w, data, file=file, version=version, line=line,
                                 quiet_failures=bool(structure))
    problems += _binding.check(w, defs, file=file, line=line)
    problems += _bundle.check(data, w, file=file, line=line)
    problems += _extensions.check(data, w, file=file, line=line)
    for node in w.nodes:
        if node.type == "xhtml":
            problems += _narrative.check_div(node.value, file=file, field=node.loc, line=line)
    for rt in sorted(w.untyped):
        problems.append(Problem(file, line, None, rt, f"no {version.upper()} definitions for "
                                f"{rt} in the offline extract: its invariants and bindings were "
                                "not checked", "warning", "invariant", "no-definitions"))
    problems += _unknown_profiles(data, file, line)
    for layer in extra_layers:
        problems += layer(data, file)
    return sorted(set(problems), key=_key)


def _unknown_profiles(data: dict[str, Any], file: str, line: int | None) -> list[Problem]:
    """meta.profile URLs with no StructureDefinition here (neither the core type's nor one in
    the same file): the resource was checked against its base type only."""
    resources = [data]
    entries = data.get("entry") if data.get("resourceType") == "Bundle" else None
    if isinstance(entries, list):
        resources += [e["resource"] for e in entries
                      if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    known = {r.get("url") for r in resources if r.get("resourceType") == "StructureDefinition"}
    problems = []
    for index, res in enumerate(resources):
        meta = res.get("meta")
        profiles = meta.get("profile") if isinstance(meta, dict) else None
        rt = res.get("resourceType")
        for url in profiles if isinstance(profiles, list) else []:
            if not isinstance(url, str) or url in known or (
                    isinstance(rt, str) and url == f"http://hl7.org/fhir/StructureDefinition/{rt}"):
                continue
            where = f"Bundle.entry[{index - 1}].resource.meta.profile" if index else (
                f"{rt}.meta.profile")
            problems.append(Problem(file, line, None, where, f"profile {url} is not in the "
                                    "offline definitions or this file: the resource was checked "
                                    "against its base type only, not this profile", "warning",
                                    "structure", "unknown-profile"))
    return problems


@dataclass
class _Budget:
    """Resources a run may still check (MAX_RESOURCES_PER_RUN)."""

    left: int = MAX_RESOURCES_PER_RUN

    def take(self, count: int, file: str, line: int | None) -> Problem | None:
        if count > self.left:
            self.left = 0
            return Problem(file, line, None, "", f"more than {MAX_RESOURCES_PER_RUN:,} "
                           "resources in this run (limit MAX_RESOURCES_PER_RUN): "
                           f"{'the rest of ' if line and line > 1 else ''}this file was not "
                           "checked", "fatal", "json", "limit")
        self.left -= count
        return None


@dataclass
class Validation:
    """What `validate_files` found, which files it read and the FHIR versions it used."""

    problems: list[Problem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    versions: set[str] = field(default_factory=set)


def validate_bytes(
    raw: bytes,
    *,
    file: str,
    fhir_version: str | None = None,
    extra_layers: Sequence[Layer] = (),
) -> list[Problem]:
    """Validate a JSON document, or NDJSON (one resource per line) when `file` ends .ndjson."""
    return _validate_bytes(raw, file, fhir_version, extra_layers, set(), _Budget())


def _validate_bytes(raw: bytes, file: str, fhir_version: str | None,
                    extra_layers: Sequence[Layer], versions: set[str],
                    budget: _Budget) -> list[Problem]:
    if file.endswith(".ndjson"):
        lines = ((n, chunk) for n, chunk in enumerate(raw.split(b"\n"), start=1))
        return _ndjson(lines, file, fhir_version, extra_layers, versions, budget)
    data, problems = _parse(raw, file, 0)
    if data is None:
        return problems
    entries = data.get("entry") if isinstance(data, dict) else None
    over = budget.take(1 + (len(entries) if isinstance(entries, list) else 0), file, 1)
    if over:
        return [over]
    notes: dict[str, Problem] = {}
    found = _one(data, file, fhir_version, extra_layers, None, versions, notes)
    found += notes.values()
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        # Point findings inside an entry at the line where the entry starts.
        found = sorted(add_entry_lines(found, raw.decode("utf-8")), key=_key)
    return found


def _parse(raw: bytes, file: str, line_offset: int) -> tuple[Any | None, list[Problem]]:
    """`_json.parse` within MAX_JSON_DEPTH: deeper input would exhaust the recursion of the
    parser or of the layers."""
    line = line_offset + 1
    too_deep = [Problem(file, line, None, "", f"nested deeper than {MAX_JSON_DEPTH} levels "
                        "(limit MAX_JSON_DEPTH): not checked", "fatal", "json", "limit")]
    try:
        data, problems = _json.parse(raw, file=file, line_offset=line_offset)
    except RecursionError:
        return None, too_deep
    if data is not None and _depth(data) > MAX_JSON_DEPTH:
        return None, too_deep
    return data, problems


def _depth(data: Any) -> int:
    deepest, stack = 0, [(data, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            if deepest > MAX_JSON_DEPTH:
                break
            stack.extend((v, level + 1) for v in (node.values() if isinstance(node, dict)
                                                  else node))
    return deepest


def _one(data: Any, file: str, fhir_version: str | None, extra_layers: Sequence[Layer],
         line: int | None, versions: set[str], notes: dict[str, Problem]) -> list[Problem]:
    """One parsed document. A doubtful version told from the content goes to `notes` (once
    per file and message), the version used to `versions`."""
    if not isinstance(data, dict):
        return _json.check(data, file=file, line=line)
    version = fhir_version
    if version is None:
        version, how = _detect(data)
        note = _version_note(version, how)
        if note and note not in notes:
            notes[note] = Problem(file, line, None, "", note, "warning", "version",
                                  "version-undetermined")
    versions.add(normalize_version(version).upper())
    return validate_resource(data, file=file, fhir_version=version, extra_layers=extra_layers,
                             line=line)


def _ndjson(lines: Iterable[tuple[int, bytes]], file: str, fhir_version: str | None,
            extra_layers: Sequence[Layer], versions: set[str],
            budget: _Budget) -> list[Problem]:
    problems: list[Problem] = []
    notes: dict[str, Problem] = {}
    for n, chunk in lines:
        if not chunk.strip():
            continue
        if len(problems) >= MAX_PROBLEMS_PER_FILE:
            problems.append(Problem(file, n, None, "", f"more than {MAX_PROBLEMS_PER_FILE:,} "
                                    "problems in this file (limit MAX_PROBLEMS_PER_FILE): the "
                                    "rest of it was not checked", "fatal", "json", "limit"))
            break
        over = budget.take(1, file, n)
        if over:
            problems.append(over)
            break
        if len(chunk) > MAX_NDJSON_LINE_BYTES:
            problems.append(Problem(file, n, None, "", f"line longer than "
                                    f"{MAX_NDJSON_LINE_BYTES:,} bytes (limit "
                                    "MAX_NDJSON_LINE_BYTES): not checked", "fatal", "json",
                                    "limit"))
            continue
        data, found = _parse(chunk.rstrip(b"\r\n"), file, n - 1)
        problems += found
        if data is not None:
            problems += _one(data, file, fhir_version, extra_layers, n, versions, notes)
    return sorted(problems + list(notes.values()), key=_key)


def _stream_lines(fh: Any) -> Iterable[tuple[int, bytes]]:
    """Lines of an open binary file, each read at most MAX_NDJSON_LINE_BYTES + 1 at a time: a
    longer line is yielded cut (and refused by `_ndjson`), the rest of it skipped."""
    n = 0
    while True:
        chunk = fh.readline(MAX_NDJSON_LINE_BYTES + 1)
        if not chunk:
            return
        n += 1
        if len(chunk) > MAX_NDJSON_LINE_BYTES and not chunk.endswith(b"\n"):
            while (rest := fh.readline(MAX_NDJSON_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
        yield n, chunk


def _input_files(paths: Sequence[Path]) -> list[Path]:
    """The files `validate_files` reads: each path given, and in a folder every *.json and
    *.ndjson (any case) below it, in order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*")
                            if p.suffix.lower() in (".json", ".ndjson") and not p.is_dir())
        else:
            files.append(path)
    return files


def validate_files(
    paths: Sequence[Path],
    *,
    fhir_version: str | None = None,
    extra_layers: Sequence[Layer] = (),
) -> Validation:
    """Validate files (*.json, *.ndjson); a directory means the files in it, recursively.
    NDJSON is read line by line; a file past the limits is refused (code `limit`)."""
    result = Validation(files=_input_files(paths))
    budget = _Budget()
    for f in result.files:
        def refused(message: str, code: str, f: Path = f) -> None:
            result.problems.append(Problem(str(f), None, None, "", message, "fatal", "json",
                                           code))
        ndjson = f.suffix.lower() == ".ndjson"
        limit, name = ((MAX_NDJSON_FILE_BYTES, "MAX_NDJSON_FILE_BYTES") if ndjson
                       else (MAX_JSON_FILE_BYTES, "MAX_JSON_FILE_BYTES"))
        try:
            info = f.stat()
            if not stat.S_ISREG(info.st_mode):
                refused("not a regular file: not checked", "unreadable")
                continue
            if info.st_size > limit:
                refused(f"{info.st_size:,} bytes, larger than {limit:,} (limit {name}): not "
                        "checked; split the file", "limit")
                continue
            with f.open("rb") as fh:
                if ndjson:
                    result.problems += _ndjson(_stream_lines(fh), str(f), fhir_version,
                                               extra_layers, result.versions, budget)
                    continue
                raw = fh.read(limit + 1)
        except OSError as e:
            refused(f"cannot read: {e.strerror or e}", "unreadable")
            continue
        if len(raw) > limit:
            refused(f"larger than {limit:,} bytes (limit {name}): not checked", "limit")
            continue
        result.problems += _validate_bytes(raw, str(f), fhir_version, extra_layers,
                                           result.versions, budget)
    return result


def validate_paths(
    paths: Sequence[Path],
    *,
    fhir_version: str | None = None,
    extra_layers: Sequence[Layer] = (),
) -> list[Problem]:
    """The problems `validate_files` finds."""
    return validate_files(paths, fhir_version=fhir_version, extra_layers=extra_layers).problems
