"""Layered validation of FHIR JSON (R5, R4B or R4), offline.

Each finding is a `Problem` whose `layer` says which check made it:

    json       well-formed UTF-8 JSON; no duplicate keys, nulls, empty strings/arrays/objects
    structure  against the version's definitions (R5, R4B or R4): unknown elements,
               cardinality, choice types, JSON types, primitive formats, resource types,
               profiled types (SimpleQuantity), and extensions against their definitions (the
               core extensions, and those shipped in the same file); on a StructureDefinition,
               its type, its own constraints' keys and FHIRPath, its differential paths and
               its slicing (`_conformance`)
    invariant  every FHIRPath constraint of the definitions at every element present
    binding    codes of required bindings are in their value sets; UCUM units, languages,
               currencies and MIME types checked offline
    bundle     fullUrls, requests, ids, and references resolving inside the Bundle (to a
               resource type the element allows)
    narrative  the XHTML of Narrative.div is well-formed and safe
    (extra)    any `Layer` the caller plugs in, e.g. terminology

What was not checked is said, never passed over: a resource type no version defines is a
structure error, and so is a meta.profile outside the definitions (as in the HL7 engine); a
version told from the content when it fits more than one of R4, R4B and R5, or a declared
fhirVersion with no definitions here, is a warning naming it (so `--strict` fails). Inputs
past the limits of `ivig_fhir.limits` (file size, NDJSON line size, nesting depth) are refused,
code `limit`.
There is no limit on how many resources a run checks: NDJSON is streamed in batches of lines
and large inputs are spread over every core with a bounded window of work (`validate_files`),
so memory stays flat.

Locations: `Problem.file`, `Problem.line` and `Problem.column` (where the field's name, or the
deepest element of its path the text has, starts: in a pretty-printed file, a minified one, or
an NDJSON record's line) and `Problem.field`, an HL7-style FHIRPath such as
`Bundle.entry[2].resource.issue[0]`.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import stat
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
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
)
from ivig_fhir.problems import Problem

from . import (
    _binding,
    _bundle,
    _codes,
    _conformance,
    _extensions,
    _fhirpath,
    _invariant,
    _json,
    _measure,
    _narrative,
    _rules,
    _search,
    _structure,
    _structuremap,
)
from ._lines import locate
from ._walk import walk

__all__ = ["Layer", "Validation", "detect_version", "locate", "validate_bytes",
           "validate_files", "validate_paths", "validate_resource"]

Layer = Callable[[dict[str, Any], str], list[Problem]]
"""An extra check: (resource or Bundle as JSON, file) -> problems."""

_PROFILE_HINTS = {"R4B": ("/4.3", "r4b", "R4B"), "R4": ("/4.0/", "/r4/", "R4/")}
_ORDER = ("R5", "R4B", "R4")  # preferred, on a tie
_XVER_R5 = "http://hl7.org/fhir/5.0/StructureDefinition/extension-"


def _detect(data: dict[str, Any]) -> tuple[str, tuple[str, ...], str]:
    """(version, every version the content fits as well, a declared version with no
    definitions here or "") for a resource, Bundle entries included: from a `fhirVersion`
    element, else meta.profile, else from which version's definitions know the most of its
    resource types and elements (R5 cross-version extensions mean R4 or R4B), else R5. A
    second item with more than one version means the content cannot tell them apart."""
    resources = [data]
    entries = data.get("entry") if data.get("resourceType") == "Bundle" else None
    if isinstance(entries, list):
        resources += [e["resource"] for e in entries
                      if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    unsupported = ""
    for res in resources:
        declared = res.get("fhirVersion")
        if isinstance(declared, str):
            try:
                version = normalize_version(declared).upper()
                return version, (version,), ""
            except ValueError:
                unsupported = declared
                break
    misfits = dict.fromkeys(_ORDER, 0)
    defs = {v: load(v) for v in _ORDER}
    for res in resources:
        meta = res.get("meta")
        profiles = meta.get("profile") if isinstance(meta, dict) else None
        for version, hints in _PROFILE_HINTS.items():
            if isinstance(profiles, list) and any(
                isinstance(p, str) and any(h in p for h in hints) for p in profiles
            ):
                return version, (version,), unsupported
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
    return fits[0], fits, unsupported


def detect_version(data: dict[str, Any]) -> str:
    """'R5', 'R4B' or 'R4' for a resource (see `_detect`)."""
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
    structure = (w.problems + _rules.check(w, defs, file=file, line=line)
                 + _conformance.check(w, defs, file=file, line=line)
                 + _search.check(w, defs, file=file, line=line)
                 + _structuremap.check(w, defs, file=file, line=line))
    problems += structure
    problems += _invariant.check(w, data, file=file, version=version, line=line,
                                 quiet_failures=bool(structure))
    problems += _binding.check(w, defs, file=file, line=line)
    problems += _bundle.check(data, w, file=file, line=line)
    problems += _extensions.check(data, w, defs, file=file, line=line)
    problems += _measure.check(w, file=file, line=line)
    for node in w.nodes:
        if node.type == "xhtml":
            problems += _narrative.check_div(node.value, file=file, field=node.loc, line=line)
    for layer in extra_layers:
        problems += layer(data, file)
    return sorted(set(problems), key=_key)


@dataclass
class Validation:
    """What `validate_files` found, which files it read (and of those, skipped) and the FHIR
    versions it used."""

    problems: list[Problem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    versions: set[str] = field(default_factory=set)
    skipped: list[Path] = field(default_factory=list)  # export manifests, not FHIR


def validate_bytes(
    raw: bytes,
    *,
    file: str,
    fhir_version: str | None = None,
    extra_layers: Sequence[Layer] = (),
) -> list[Problem]:
    """Validate a JSON document, or NDJSON (one resource per line) when `file` ends .ndjson."""
    return _validate_bytes(raw, file, fhir_version, extra_layers, set())


def _validate_bytes(raw: bytes, file: str, fhir_version: str | None,
                    extra_layers: Sequence[Layer], versions: set[str]) -> list[Problem]:
    if file.endswith(".ndjson"):
        lines = ((n, chunk) for n, chunk in enumerate(raw.split(b"\n"), start=1))
        return _ndjson(lines, file, fhir_version, extra_layers, versions)
    data, problems = _parse(raw, file, 0)
    if data is None:
        return problems
    notes = _Notes()
    found = locate(problems + _one(data, file, fhir_version, extra_layers, None, versions,
                                   notes), raw.decode("utf-8-sig"))
    return sorted(found + notes.problems(file), key=_key)


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
         line: int | None, versions: set[str], notes: _Notes) -> list[Problem]:
    """One parsed document; the version used goes to `versions`, and how the content told it
    (when it had to) to `notes`."""
    if not isinstance(data, dict):
        return _json.check(data, file=file, line=line)
    version = fhir_version
    if version is None:
        version, fits, unsupported = _detect(data)
        notes.add(line, version, fits, unsupported)
    versions.add(normalize_version(version).upper())
    return validate_resource(data, file=file, fhir_version=version, extra_layers=extra_layers,
                             line=line)


@dataclass
class _Notes:
    """How a file's versions were told from its content, for one note per file."""

    fits: dict[tuple[str, ...], int | None] = field(default_factory=dict)
    chosen: set[str] = field(default_factory=set)
    unsupported: dict[str, int | None] = field(default_factory=dict)

    def add(self, line: int | None, version: str, fits: tuple[str, ...],
            unsupported: str) -> None:
        self.chosen.add(version)
        self.fits.setdefault(fits, line)
        if unsupported:
            self.unsupported.setdefault(unsupported, line)

    def problems(self, file: str) -> list[Problem]:
        """A warning per declared version with no definitions here, else one when the content
        fits more than one version (at the first line it was guessed for)."""
        chosen = " and ".join(sorted(self.chosen, key=_ORDER.index))
        out = [Problem(file, line, None, "", f"fhirVersion {declared} has no definitions here: "
                       f"validated as {chosen} from the content; it is not fully checked "
                       "(pass --fhir-version)", "warning", "version", "version-undetermined")
               for declared, line in self.unsupported.items()]
        shared = {f: line for f, line in self.fits.items() if len(f) > 1}
        if shared and not out:
            fit = " and ".join(sorted({v for f in shared for v in f}, key=_ORDER.index))
            lines = [n for n in shared.values() if n is not None]
            out.append(Problem(file, min(lines) if lines else None, None, "",
                               f"FHIR version not stated: the content fits {fit} equally; "
                               f"validated as {chosen} (pass --fhir-version to be sure)",
                               "warning", "version", "version-undetermined"))
        return out


Told = tuple[int, str, tuple[str, ...], str]
"""How a line's FHIR version was told from its content: (line, version, fits, unsupported)."""


def _check_line(n: int, chunk: bytes, file: str, fhir_version: str | None,
                extra_layers: Sequence[Layer]) -> tuple[list[Problem], Told | None, str | None]:
    """One NDJSON line: its problems, how its version was told (when it had to be) and the
    version used (None when nothing could be parsed)."""
    if len(chunk) > MAX_NDJSON_LINE_BYTES:
        return [Problem(file, n, None, "", f"line longer than {MAX_NDJSON_LINE_BYTES:,} bytes "
                        "(limit MAX_NDJSON_LINE_BYTES): not checked", "fatal", "json",
                        "limit")], None, None
    data, found = _parse(chunk.rstrip(b"\r\n"), file, n - 1)
    if data is None:
        return found, None, None
    if not isinstance(data, dict):
        return found + _json.check(data, file=file, line=n), None, None
    version, told = fhir_version, None
    if version is None:
        version, fits, unsupported = _detect(data)
        told = (n, version, fits, unsupported)
    found += validate_resource(data, file=file, fhir_version=version, extra_layers=extra_layers,
                               line=n)
    return locate(found, chunk.decode("utf-8-sig")), told, normalize_version(version).upper()


LineResult = tuple[int, list[Problem], Told | None, str | None]


class _NdjsonFile:
    """The findings of one NDJSON file as its lines' results come in, in line order. Past
    MAX_PROBLEMS_PER_FILE problems, warnings and notes are counted, not kept (a large export
    repeats the same few), and the first line with an error ends the check (`done`): memory
    stays bounded either way."""

    def __init__(self, file: str, versions: set[str]) -> None:
        self.file = file
        self.versions = versions
        self.problems: list[Problem] = []
        self.notes = _Notes()
        self.done = False
        self.unlisted = 0

    def add(self, results: Iterable[LineResult]) -> None:
        for n, found, told, version in results:
            if self.done:
                return
            if len(self.problems) >= MAX_PROBLEMS_PER_FILE:
                if any(p.is_error for p in found):
                    self.problems.append(Problem(
                        self.file, n, None, "", f"more than {MAX_PROBLEMS_PER_FILE:,} problems "
                        "in this file (limit MAX_PROBLEMS_PER_FILE): the rest of it was not "
                        "checked", "fatal", "json", "limit"))
                    self.done = True
                    return
                self.unlisted += len(found)
                found = []
            self.problems += found
            if told is not None:
                self.notes.add(*told)
            if version is not None:
                self.versions.add(version)

    def result(self) -> list[Problem]:
        unlisted = [Problem(self.file, None, None, "", f"{self.unlisted:,} more warnings and "
                            f"notes past the first {MAX_PROBLEMS_PER_FILE:,} problems of this "
                            "file are not listed (limit MAX_PROBLEMS_PER_FILE)", "warning",
                            "json", "problems-unlisted")] if self.unlisted else []
        return sorted(self.problems + self.notes.problems(self.file), key=_key) + unlisted


def _check_lines(batch: Sequence[tuple[int, bytes]], file: str, fhir_version: str | None,
                 extra_layers: Sequence[Layer]) -> list[LineResult]:
    return [(n, *_check_line(n, chunk, file, fhir_version, extra_layers))
            for n, chunk in batch if chunk.strip()]


def _ndjson(lines: Iterable[tuple[int, bytes]], file: str, fhir_version: str | None,
            extra_layers: Sequence[Layer], versions: set[str]) -> list[Problem]:
    found = _NdjsonFile(file, versions)
    for n, chunk in lines:
        found.add(_check_lines([(n, chunk)], file, fhir_version, extra_layers))
        if found.done:
            break
    return found.result()


def _stream_lines(fh: Any) -> Iterator[tuple[int, bytes]]:
    """Lines of an open binary file, each read at most MAX_NDJSON_LINE_BYTES + 1 at a time: a
    longer line is yielded cut (and refused by `_check_line`), the rest of it skipped."""
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


@dataclass
class _FileResult:
    problems: list[Problem] = field(default_factory=list)
    versions: set[str] = field(default_factory=set)
    skipped: bool = False


def _refused(f: Path, message: str, code: str) -> _FileResult:
    return _FileResult([Problem(str(f), None, None, "", message, "fatal", "json", code)])


def _opened(f: Path) -> tuple[Any, _FileResult | None]:
    """The open file, or why it is not read (not a regular file, past its size limit)."""
    ndjson = f.suffix.lower() == ".ndjson"
    limit, name = ((MAX_NDJSON_FILE_BYTES, "MAX_NDJSON_FILE_BYTES") if ndjson
                   else (MAX_JSON_FILE_BYTES, "MAX_JSON_FILE_BYTES"))
    try:
        info = f.stat()
        if not stat.S_ISREG(info.st_mode):
            return None, _refused(f, "not a regular file: not checked", "unreadable")
        if info.st_size > limit:
            return None, _refused(f, f"{info.st_size:,} bytes, larger than {limit:,} (limit "
                                  f"{name}): not checked; split the file", "limit")
        return f.open("rb"), None
    except OSError as e:
        return None, _refused(f, f"cannot read: {e.strerror or e}", "unreadable")


def _check_json_file(f: Path, fhir_version: str | None,
                     extra_layers: Sequence[Layer]) -> _FileResult:
    """One *.json file, read whole (it is at most MAX_JSON_FILE_BYTES)."""
    fh, refused = _opened(f)
    if refused is not None:
        return refused
    try:
        with fh:
            raw = fh.read(MAX_JSON_FILE_BYTES + 1)
    except OSError as e:
        return _refused(f, f"cannot read: {e.strerror or e}", "unreadable")
    if len(raw) > MAX_JSON_FILE_BYTES:
        return _refused(f, f"larger than {MAX_JSON_FILE_BYTES:,} bytes (limit "
                        "MAX_JSON_FILE_BYTES): not checked", "limit")
    if _is_export_manifest(raw):
        # `validate output/` is what a newcomer types: the export's own manifest is no FHIR,
        # and no finding either.
        return _FileResult([Problem(str(f), None, None, "", "the manifest of an ivig-fhir "
                                    "export, not FHIR: skipped", "information", "json",
                                    "manifest-skipped")], skipped=True)
    result = _FileResult()
    result.problems = _validate_bytes(raw, str(f), fhir_version, extra_layers, result.versions)
    return result


# --- many files and long streams on every core ------------------------------------------------
#
# The work is one ordered stream of tasks: a whole *.json file, or a batch of NDJSON lines. A
# process pool (forked, so the workers share the parent's loaded definitions and layers) runs
# them, at most _WINDOW_PER_WORKER tasks per worker ahead of the results the parent has merged:
# memory stays bounded whatever the size of the input (a task holds at most _BATCH_BYTES of
# lines, plus one line of up to MAX_NDJSON_LINE_BYTES), and time grows linearly with it.

_BATCH_LINES = 200
_BATCH_BYTES = 4 * 1024 * 1024
_WINDOW_PER_WORKER = 4
_POOL_MIN_BYTES = 2 * 1024 * 1024
"""Input below this is checked in this process: forking the workers costs more than it saves
(the export, 0.9 MB, is one Bundle whose rules span its entries anyway)."""

Task = tuple[str, str, Sequence[tuple[int, bytes]]]  # ("json"|"lines", file, lines)
_JOB: tuple[str | None, Sequence[Layer]] = (None, ())  # set before the workers fork


def _run_task(task: Task) -> _FileResult | list[LineResult]:
    kind, file, batch = task
    fhir_version, extra_layers = _JOB
    if kind == "json":
        out: _FileResult | list[LineResult] = _check_json_file(Path(file), fhir_version,
                                                               extra_layers)
    else:
        out = _check_lines(batch, file, fhir_version, extra_layers)
    # A worker ends without running atexit: what it parsed reaches the user cache now.
    _fhirpath.save_parsed()
    _codes.ucum_problem.save()
    return out


def _batches(fh: Any) -> Iterator[list[tuple[int, bytes]]]:
    batch: list[tuple[int, bytes]] = []
    size = 0
    for n, chunk in _stream_lines(fh):
        batch.append((n, chunk))
        size += len(chunk)
        if len(batch) >= _BATCH_LINES or size >= _BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def bounded_map(fn: Callable[[Task], Any], tasks: Iterable[Task], pool: Any | None,
                window: int) -> Iterator[tuple[Task, Any]]:
    """(task, fn(task)) over tasks, in order; with a pool at most `window` tasks are taken
    from `tasks` ahead of the results yielded (which bounds the memory the tasks hold)."""
    if pool is None:
        for task in tasks:
            yield task, fn(task)
        return
    pending: deque[tuple[Task, Any]] = deque()
    for task in tasks:
        pending.append((task, pool.apply_async(fn, (task,))))
        if len(pending) >= window:
            done, out = pending.popleft()
            yield done, out.get()
    while pending:
        done, out = pending.popleft()
        yield done, out.get()


def workers_for(files: Sequence[Path]) -> int:
    """Processes to use: every core when the input is large enough to pay for them."""
    cores = os.cpu_count() or 1
    if cores < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    if len(files) == 1 and files[0].suffix.lower() != ".ndjson":
        return 1  # one task: a pool would only add its start-up
    size = 0
    for f in files:
        with contextlib.suppress(OSError):
            size += f.stat().st_size
        if size >= _POOL_MIN_BYTES:
            return cores
    return 1


def validate_files(
    paths: Sequence[Path],
    *,
    fhir_version: str | None = None,
    extra_layers: Sequence[Layer] = (),
    workers: int | None = None,
) -> Validation:
    """Validate files (*.json, *.ndjson); a directory means the files in it, recursively.
    NDJSON is streamed line by line; a file past the limits is refused (code `limit`). Large
    inputs are checked by `workers` processes (default: every core, see `workers_for`); the
    findings are the same either way."""
    global _JOB
    result = Validation(files=_input_files(paths))
    if workers is None:
        workers = workers_for(result.files)
    found: dict[str, list[Problem]] = {}  # by file, put together in the files' order
    ndjson: dict[str, _NdjsonFile] = {}

    def tasks() -> Iterator[Task]:
        for f in result.files:
            if f.suffix.lower() != ".ndjson":
                yield ("json", str(f), ())
                continue
            fh, refused = _opened(f)
            if refused is not None:
                found.setdefault(str(f), []).extend(refused.problems)
                continue
            state = ndjson[str(f)] = _NdjsonFile(str(f), result.versions)
            try:
                with fh:
                    for batch in _batches(fh):
                        if state.done:
                            break  # past MAX_PROBLEMS_PER_FILE: the rest is not read
                        yield ("lines", str(f), batch)
            except OSError as e:
                state.problems.append(Problem(str(f), None, None, "", "cannot read: "
                                              f"{e.strerror or e}", "fatal", "json",
                                              "unreadable"))

    _JOB = (fhir_version, tuple(extra_layers))
    pool = multiprocessing.get_context("fork").Pool(workers) if workers > 1 else None
    try:
        for (kind, file, _), out in bounded_map(_run_task, tasks(), pool,
                                                workers * _WINDOW_PER_WORKER):
            if kind == "lines":
                ndjson[file].add(out)
                continue
            found.setdefault(file, []).extend(out.problems)
            result.versions |= out.versions
            if out.skipped:
                result.skipped.append(Path(file))
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        _JOB = (None, ())
    for file, state in ndjson.items():
        found.setdefault(file, []).extend(state.result())
    for f in dict.fromkeys(map(str, result.files)):
        result.problems += found.get(f, [])
    return result


def _is_export_manifest(raw: bytes) -> bool:
    """A JSON object with no resourceType that names ivig-fhir as its tool."""
    if b"resourceType" in raw or b"ivig-fhir" not in raw:
        return False  # cheap: most files are FHIR and never parsed twice
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return False
    tool = data.get("tool") if isinstance(data, dict) else None
    return isinstance(tool, dict) and tool.get("name") == "ivig-fhir"


def validate_paths(
    paths: Sequence[Path],
    *,
    fhir_version: str | None = None,
    extra_layers: Sequence[Layer] = (),
) -> list[Problem]:
    """The problems `validate_files` finds."""
    return validate_files(paths, fhir_version=fhir_version, extra_layers=extra_layers).problems
