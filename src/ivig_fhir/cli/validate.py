"""`ivig-fhir validate`: FHIR JSON checked layer by layer; text, OperationOutcome, JUnit, SARIF."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ivig_fhir.cli._common import err, report
from ivig_fhir.problems import ExitCode


def validate(
    paths: Annotated[list[Path], typer.Argument(
        help="Bundles, resources, NDJSON files or folders.")],
    fhir_version: Annotated[str | None, typer.Option("--fhir-version", help="R5, R4B or R4; "
                                                     "default: from the content.")] = None,
    format_: Annotated[str, typer.Option("--format", help="text or json (OperationOutcome)")] = (
        "text"),
    junit: Annotated[Path | None, typer.Option("--junit", help="Write a JUnit XML report.")] = None,
    sarif: Annotated[Path | None, typer.Option("--sarif", help="Write a SARIF 2.1.0 report.")] = (
        None),
    strict: Annotated[bool, typer.Option("--strict", help="Warnings fail too.")] = False,
) -> None:
    """Validate FHIR JSON: well-formedness, structure, invariants, required bindings, bundle
    rules, narrative, and terminology (ICD-10-CM release, SNOMED CT ids, UCUM, FHIR-defined
    and in-bundle code systems). Exit 0 valid, 1 errors found, 2 unreadable input or usage."""
    import json

    from ivig_fhir.terminology import TerminologyLayer
    from ivig_fhir.validate import validate_paths
    from ivig_fhir.validate.report import to_junit, to_operation_outcome, to_sarif

    if format_ not in ("text", "json"):
        err("ivig-fhir: --format must be text or json")
        raise typer.Exit(int(ExitCode.BAD_INPUT))
    missing = [p for p in paths if not p.exists()]
    if missing:
        err(f"ivig-fhir: not found: {', '.join(map(str, missing))}")
        raise typer.Exit(int(ExitCode.BAD_INPUT))
    problems = validate_paths(paths, fhir_version=fhir_version,
                              extra_layers=[TerminologyLayer(fhir_version)])
    if format_ == "json":
        typer.echo(json.dumps(to_operation_outcome(problems), indent=2))
    else:
        report(problems)
    if junit:
        junit.write_text(to_junit(problems, [str(p) for p in paths]), encoding="utf-8")
    if sarif:
        sarif.write_text(json.dumps(to_sarif(problems), indent=2), encoding="utf-8")
    failing = [p for p in problems if p.is_error or (strict and p.severity == "warning")]
    if format_ == "text":
        typer.echo(f"{len(paths)} path(s): {sum(p.is_error for p in problems)} errors, "
                   f"{sum(p.severity == 'warning' for p in problems)} warnings")
    if failing:
        raise typer.Exit(int(ExitCode.FINDINGS))
