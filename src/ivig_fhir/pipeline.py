"""The build, stage by stage: load -> check terminology -> map -> bundle -> formats -> files.

Takes a settings object, returns a result; raises only `IvigFhirError`s. Nothing here prints.
For R4B and R4 the mapped (R5) resources are converted (convert.r4b, convert.r4) before they
are bundled.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from ivig_fhir import __version__
from ivig_fhir.approval import APPROVAL_FILE, Approval, approvals_holding
from ivig_fhir.bundle import BUNDLE_FILE, build_bundle, dumps
from ivig_fhir.definitions import has_extract
from ivig_fhir.formats import DEFAULT_FORMATS, FORMATS, Export, write_formats
from ivig_fhir.load import Curated, load_source_data
from ivig_fhir.mapping import Mapped, map_curated
from ivig_fhir.problems import BadInput, FindingsError, Problem, errors
from ivig_fhir.terminology import TerminologyLayer, check_concepts, check_units
from ivig_fhir.validate import locate, validate_resource

MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class BuildSettings:
    source_dir: Path = Path("source_data")
    out_dir: Path = Path("output")
    adverse_events: bool = True
    seeds_dir: Path | None = None
    formats: tuple[str, ...] = DEFAULT_FORMATS
    ndjson_base_url: str = ""
    fhir_version: str = "R5"  # or "R4B", "R4": the R5 mapping, converted (convert)
    # "Type/id" of the previous release (build --previous); those this one drops are listed
    # as withdrawn in the ndjson and package formats and in the manifest
    previous: tuple[str, ...] = ()


@dataclass
class BuildResult:
    curated: Curated
    files: dict[str, bytes]
    counts: Counter[str]
    problems: list[Problem] = field(default_factory=list)  # warnings that did not block


def load_checked(settings: BuildSettings) -> tuple[Curated, list[Problem]]:
    """Load the curated data and check its codes and units; errors raise BadInput."""
    curated = load_source_data(settings.source_dir, settings.seeds_dir)
    problems = check_concepts(curated) + check_units(curated)
    if errors(problems):
        raise BadInput("the curated source data has problems", problems)
    return curated, problems


def check_terminology(settings: BuildSettings) -> tuple[Curated, list[Problem]]:
    """The concept table's codes and units, then every code of the export they map to (FHIR
    code systems, the export's own CodeSystems). Errors raise: BadInput for the curated data,
    FindingsError for codes in the export."""
    curated, problems = load_checked(settings)
    bundle = build_bundle(curated, map_curated(curated, adverse_events=settings.adverse_events))
    export = TerminologyLayer("R5", curated)(bundle, str(settings.out_dir / BUNDLE_FILE))
    if errors(export):
        raise FindingsError("codes in the export are wrong", problems + export)
    return curated, problems + export


def check_formats(formats: tuple[str, ...]) -> None:
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise BadInput("unknown output format", [Problem(
            "--format", None, None, "format",
            f"{', '.join(unknown) or 'none given'}: choose from {', '.join(FORMATS)}")])


# convert.r4b.FHIR_VERSION and convert.r4.FHIR_VERSION (tests/test_build.py holds them equal):
# convert, and the R4B models it loads (a tenth of a second), are imported by a build that
# converts, not by every build
FHIR_VERSIONS = {"R5": "5.0.0", "R4B": "4.3.0", "R4": "4.0.1"}


def _to_r4b(resources: Sequence[Mapped]) -> list[Mapped]:
    from ivig_fhir.convert import to_r4b

    return to_r4b(resources)


def _to_r4(resources: Sequence[Mapped]) -> list[Mapped]:
    from ivig_fhir.convert import to_r4

    return to_r4(resources)


CONVERTERS = {"R4B": _to_r4b, "R4": _to_r4}


def build(settings: BuildSettings) -> BuildResult:
    if settings.fhir_version not in FHIR_VERSIONS:
        raise BadInput(f"unsupported FHIR version {settings.fhir_version!r}: use R5, R4B or R4")
    check_formats(settings.formats)
    curated, problems = load_checked(settings)
    approvals, void = approvals_holding(settings.source_dir, input_hash(settings.source_dir))
    problems += void
    resources = map_curated(curated, adverse_events=settings.adverse_events, approvals=approvals)
    if settings.fhir_version in CONVERTERS:
        from ivig_fhir.convert import NotConvertible

        try:
            resources = CONVERTERS[settings.fhir_version](resources)
        except NotConvertible as exc:
            raise FindingsError(f"the export cannot be written as FHIR {settings.fhir_version}; "
                                f"nothing was written", [Problem(
                                    "src/ivig_fhir/convert", None, None, "convert",
                                    str(exc))]) from None
    bundle = build_bundle(curated, resources, fhir_version=settings.fhir_version)
    counts = Counter(m.resource_type for m in resources)
    current = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
    export = Export(bundle, curated.release, FHIR_VERSIONS[settings.fhir_version],
                    settings.ndjson_base_url,
                    tuple(sorted(set(settings.previous) - current)))
    files = write_formats(export, tuple(dict.fromkeys(settings.formats)))
    problems += validate_export(curated, bundle, settings.out_dir / BUNDLE_FILE,
                                settings.fhir_version, files.get(BUNDLE_FILE))
    files[MANIFEST_FILE] = dumps(manifest(settings, export, counts, files, approvals))
    return BuildResult(curated, files, counts, problems)


def previous_keys(path: Path) -> tuple[str, ...]:
    """"Type/id" of every resource of a previous export (its transaction Bundle, or the
    folder holding it)."""
    bundle_path = path / BUNDLE_FILE if path.is_dir() else path
    try:
        bundle = json.loads(bundle_path.read_bytes())
        return tuple(f"{e['resource']['resourceType']}/{e['resource']['id']}"
                     for e in bundle["entry"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"--previous {path}: not an export's transaction Bundle ({exc})",
                       [Problem(str(bundle_path), None, None, "", "cannot read the previous "
                                "release's transaction Bundle")]) from None


def recorded_settings(settings: BuildSettings) -> BuildSettings:
    """The settings an existing export was built with, as its manifest records them; for
    `build --check`. Options the manifest does not record keep their value in `settings`."""
    try:
        recorded = json.loads((settings.out_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return settings
    options = recorded.get("options") if isinstance(recorded, dict) else None
    if not isinstance(options, dict):
        return settings
    formats, events, base, version, withdrawn = (options.get(k) for k in (
        "formats", "adverse_events", "ndjson_base_url", "fhir_version", "withdrawn"))
    return replace(
        settings,
        # what was withdrawn is recorded, so --check needs no copy of the previous release
        previous=tuple(map(str, withdrawn)) if isinstance(withdrawn, list) else settings.previous,
        fhir_version=version if isinstance(version, str) else settings.fhir_version,
        formats=tuple(map(str, formats)) if isinstance(formats, list) else settings.formats,
        adverse_events=events if isinstance(events, bool) else settings.adverse_events,
        ndjson_base_url=base if isinstance(base, str) else settings.ndjson_base_url)


def validate_export(curated: Curated, bundle: dict[str, Any], path: Path,
                    fhir_version: str = "R5", written: bytes | None = None) -> list[Problem]:
    """Every layer of `ivig-fhir validate`, with the concept table as the terminology record;
    an export with errors is refused before anything is written.

    The transaction Bundle is validated as the data its file is serialised from (`dumps`), not
    parsed back: the findings are those of `validate_bytes(dumps(bundle))` (tests/test_build.py
    holds them equal), and parsing would only add what `dumps` cannot write (duplicate keys,
    malformed text; NaN it refuses). Its bytes (`written`, when the build wrote them anyway)
    give each finding the line and column of its field."""
    if not has_extract(fhir_version):
        raise BadInput(f"the FHIR {fhir_version} export was converted but cannot be validated: "
                       f"ivig_fhir.definitions has no {fhir_version} extract yet; nothing was "
                       "written")
    found = [_carried(p) for p in validate_resource(
        bundle, file=str(path), fhir_version=fhir_version,
        extra_layers=[TerminologyLayer(fhir_version, curated)])]
    if found:
        found = locate(found, (written or dumps(bundle)).decode())
    problems = sorted(found, key=_order)
    if errors(problems):
        raise FindingsError("the export does not validate; nothing was written", problems)
    return problems


def _carried(p: Problem) -> Problem:
    """Our export carries every resource it references: a transaction of someone else's may
    point at what their server holds (a warning in `validate`), ours is uploaded to servers
    that hold none of it, in chunks planned from the references inside it (upload.plan)."""
    if p.code == "unresolved-reference" and not p.is_error:
        return replace(p, severity="error", message=p.message.split("; a ")[0]
                       + "; the export must carry every resource it references")
    return p


def _order(p: Problem) -> tuple[str, int, int, str, str, str]:
    # the order validate sorts its findings in
    return (p.file, p.line or 0, p.column or 0, p.field, p.layer, p.message)


def input_hash(source_dir: Path) -> str:
    """The hash of the curated inputs: every `*.yaml` but the approvals of them, which name
    the content by this hash."""
    digest = hashlib.sha256()
    for path in sorted(p for p in source_dir.glob("*.yaml") if p.name != APPROVAL_FILE):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def manifest(settings: BuildSettings, export: Export, counts: Counter[str],
             files: dict[str, bytes], approvals: Sequence[Approval] = ()) -> dict[str, object]:
    """How this export was made: recorded beside it, without wall-clock time."""
    release = export.release
    recorded: dict[str, object] = {
        "tool": {"name": "ivig-fhir", "version": __version__},
        "fhir.resources": metadata.version("fhir.resources"),
        "fhirVersion": export.fhir_version,
        "release": {"contentVersion": release.content_version, "date": release.date,
                    "canonicalBase": release.canonical_base},
        "inputs": {"source_data_sha256": input_hash(settings.source_dir)},
        "options": {"fhir_version": settings.fhir_version,
                    "adverse_events": settings.adverse_events,
                    "formats": list(dict.fromkeys(settings.formats)),
                    "ndjson_base_url": settings.ndjson_base_url,
                    **({"withdrawn": list(export.withdrawn)} if export.withdrawn else {})},
        "files": [{"path": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                  for name, data in sorted(files.items())],
        "resources": dict(sorted(counts.items())),
    }
    if approvals:
        recorded["approvals"] = [{"reviewer": a.reviewer, "role": a.role, "date": a.date}
                                 for a in approvals]
    return recorded
