"""The build, stage by stage: load -> check terminology -> map -> bundle -> validate -> files.

Takes a settings object, returns a result; raises only `IvigFhirError`s. Nothing here prints.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ivig_fhir import __version__
from ivig_fhir.bundle import BUNDLE_FILE, build_bundle, dumps
from ivig_fhir.load import Curated, load_source_data
from ivig_fhir.mapping import map_curated
from ivig_fhir.problems import BadInput, FindingsError, Problem, errors
from ivig_fhir.terminology import TerminologyLayer, check_concepts, check_units
from ivig_fhir.validate import validate_bytes

MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class BuildSettings:
    source_dir: Path = Path("source_data")
    out_dir: Path = Path("output")
    adverse_events: bool = True
    seeds_dir: Path | None = None


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


def build(settings: BuildSettings) -> BuildResult:
    curated, problems = load_checked(settings)
    resources = map_curated(curated, adverse_events=settings.adverse_events)
    bundle = build_bundle(curated, resources)
    counts = Counter(m.resource.get_resource_type() for m in resources)
    files = {BUNDLE_FILE: dumps(bundle)}
    problems += validate_export(curated, files[BUNDLE_FILE], settings.out_dir / BUNDLE_FILE)
    files[MANIFEST_FILE] = dumps(manifest(settings, counts))
    return BuildResult(curated, files, counts, problems)


def validate_export(curated: Curated, bundle: bytes, path: Path) -> list[Problem]:
    """Every layer of `ivig-fhir validate`, with the concept table as the terminology record;
    an export with errors is refused before anything is written."""
    problems = validate_bytes(bundle, file=str(path), fhir_version="R5",
                              extra_layers=[TerminologyLayer("R5", curated)])
    if errors(problems):
        raise FindingsError("the export does not validate; nothing was written", problems)
    return problems


def input_hash(source_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(source_dir.glob("*.yaml")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def manifest(settings: BuildSettings, counts: Counter[str]) -> dict[str, object]:
    """How this export was made: recorded beside it, without wall-clock time."""
    return {
        "tool": {"name": "ivig-fhir", "version": __version__},
        "fhir.resources": metadata.version("fhir.resources"),
        "fhirVersion": "5.0.0",
        "inputs": {"source_data_sha256": input_hash(settings.source_dir)},
        "options": {"adverse_events": settings.adverse_events},
        "files": [BUNDLE_FILE],
        "resources": dict(sorted(counts.items())),
    }
