"""`ivig-fhir terminology check`: every code of the concept table and the export, offline."""

from __future__ import annotations

from pathlib import Path

import typer

from ivig_fhir.cli._common import SeedsOpt, SourceOpt, fail, report
from ivig_fhir.problems import IvigFhirError


def terminology_check(source: SourceOpt = Path("source_data"), seeds: SeedsOpt = None) -> None:
    """Check every code and unit offline.

    ICD-10-CM release, SNOMED CT id structure and verification
    records, ATC/RxNorm/EDQM format, UCUM units; then every code in the export they map to,
    FHIR-defined and local code systems included. Unverified codes are warnings.
    Exit 0 no errors, 1 codes in the export wrong, 2 bad input or usage."""
    from ivig_fhir.pipeline import BuildSettings, check_terminology

    try:
        curated, problems = check_terminology(BuildSettings(source_dir=source, seeds_dir=seeds))
    except IvigFhirError as exc:
        raise fail(exc) from None
    report(problems)
    codings = [c for concept in curated.concepts for c in concept.codings]
    by_status = {s: sum(1 for c in codings if c.verified.status == s)
                 for s in ("release", "checked", "unverified")}
    uncoded = sum(len(c.uncoded) for c in curated.concepts)
    scopes = {s: sum(1 for c in codings if c.scope == s)
              for s in ("equivalent", "narrower", "broader")}
    typer.echo(f"{len(curated.concepts)} concepts, {len(codings)} codes: "
               f"{by_status['release']} checked against a shipped release, "
               f"{by_status['checked']} checked in a named source, "
               f"{by_status['unverified']} unverified (warnings above); "
               f"{uncoded} deliberately uncoded; scope: {scopes['equivalent']} equivalent, "
               f"{scopes['narrower']} narrower, {scopes['broader']} broader (left out); "
               "0 errors")
