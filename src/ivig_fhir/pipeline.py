"""The build, stage by stage: load -> check terminology -> map -> bundle -> validate -> files.

Takes a settings object, returns a result; raises only `IvigFhirError`s. Nothing here prints.
For R4B the mapped (R5) resources are converted (convert.r4b) before they are bundled.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ivig_fhir import __version__
from ivig_fhir.bundle import BUNDLE_FILE, build_bundle, dumps
from ivig_fhir.convert import R4B_FHIR_VERSION, to_r4b
from ivig_fhir.load import Curated, load_source_data
from ivig_fhir.mapping import map_curated
from ivig_fhir.problems import BadInput, Problem, errors
from ivig_fhir.terminology import check_concepts, check_units

MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class BuildSettings:
    source_dir: Path = Path("source_data")
    out_dir: Path = Path("output")
    adverse_events: bool = True
    seeds_dir: Path | None = None
    fhir_version: str = "R5"  # or "R4B": the R5 mapping, converted by convert.r4b


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


FHIR_VERSIONS = ("R5", "R4B")


def build(settings: BuildSettings) -> BuildResult:
    if settings.fhir_version not in FHIR_VERSIONS:
        raise BadInput(f"unsupported FHIR version {settings.fhir_version!r}: use R5 or R4B")
    curated, problems = load_checked(settings)
    resources = map_curated(curated, adverse_events=settings.adverse_events)
    if settings.fhir_version == "R4B":
        resources = to_r4b(resources)
    bundle = build_bundle(curated, resources, fhir_version=settings.fhir_version)
    counts = Counter(m.resource.get_resource_type() for m in resources)
    files = {BUNDLE_FILE: dumps(bundle)}
    files[MANIFEST_FILE] = dumps(manifest(settings, counts))
    return BuildResult(curated, files, counts, problems)


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
        "fhirVersion": R4B_FHIR_VERSION if settings.fhir_version == "R4B" else "5.0.0",
        "inputs": {"source_data_sha256": input_hash(settings.source_dir)},
        "options": {"adverse_events": settings.adverse_events},
        "files": [BUNDLE_FILE],
        "resources": dict(sorted(counts.items())),
    }
