"""`ivig-fhir validate`: FHIR JSON checked layer by layer; text, OperationOutcome, JUnit, SARIF."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from ivig_fhir.cli._common import err, fail, fhir_version_option, report
from ivig_fhir.problems import BadInput, ExitCode, IvigFhirError


def validate(
    paths: Annotated[list[Path], typer.Argument(
        metavar="PATH", help="Bundles, resources, NDJSON files or folders.")],
    fhir_version: Annotated[str | None, typer.Option("--fhir-version", metavar="VERSION",
        help="R5, R4B or R4; default: from the content.")] = None,
    format_: Annotated[str, typer.Option("--format", metavar="text|json",
        help="text or json (OperationOutcome)")] = (
        "text"),
    junit: Annotated[Path | None, typer.Option("--junit", metavar="FILE",
        help="Write a JUnit XML report.")] = None,
    sarif: Annotated[Path | None, typer.Option("--sarif", metavar="FILE",
        help="Write a SARIF 2.1.0 report.")] = (
        None),
    strict: Annotated[bool, typer.Option(
        "--strict", help="Warnings fail too, among them everything not fully checked.")] = False,
) -> None:
    """Validate FHIR JSON and NDJSON offline.

    Checks well-formedness, structure, invariants, required bindings, bundle
    rules, narrative, and terminology (ICD-10-CM release, SNOMED CT ids, UCUM, FHIR-defined
    and in-bundle code systems).

    What it cannot fully check (a resource type or profile outside its definitions, a FHIR
    version the content does not make clear) is a warning, an error under --strict.
    Exit 0 valid, 1 errors found, 2 no input files, unreadable input or usage."""
    import json

    from ivig_fhir.definitions import has_extract
    from ivig_fhir.terminology import TerminologyLayer
    from ivig_fhir.validate import validate_files
    from ivig_fhir.validate.report import to_junit, to_operation_outcome, to_sarif

    if format_ not in ("text", "json"):
        err("ivig-fhir: --format must be text or json")
        raise typer.Exit(int(ExitCode.BAD_INPUT))
    try:
        version = fhir_version_option(fhir_version)
        if version and not has_extract(version):
            raise BadInput(f"--fhir-version {version}: no {version} definitions in this "
                           "installation yet; nothing was validated")
        missing = [p for p in paths if not p.exists() and not p.is_symlink()]
        if missing:
            raise BadInput(f"not found: {', '.join(map(str, missing))}")
        result = validate_files(paths, fhir_version=version,
                                extra_layers=[TerminologyLayer(version)])
        if result.skipped and len(result.files) == len(result.skipped):
            raise BadInput(f"only an ivig-fhir export manifest (not FHIR) in "
                           f"{', '.join(map(str, paths))}: nothing was validated")
        if not result.files:
            raise BadInput(f"no *.json or *.ndjson files in {', '.join(map(str, paths))}: "
                           "nothing was validated")
    except IvigFhirError as exc:
        raise fail(exc) from None
    problems = result.problems
    checked = len(result.files) - len(result.skipped)
    against = "FHIR " + " and ".join(sorted(result.versions, reverse=True)) if (
        result.versions) else "no FHIR version (nothing could be parsed)"
    if format_ == "json":
        outcome = to_operation_outcome(problems)
        outcome["issue"].append({"severity": "information", "code": "informational",
                                 "diagnostics": f"validated {checked} file(s) "
                                 f"against {against}"})
        typer.echo(json.dumps(outcome, indent=2))
    else:
        report(problems)
    reports: list[tuple[str, Path | None, Callable[[], str]]] = [
        ("--junit", junit, lambda: to_junit(problems, [str(p) for p in paths])),
        ("--sarif", sarif, lambda: json.dumps(to_sarif(problems), indent=2))]
    for option, target, text in reports:
        if target is None:
            continue
        try:
            target.write_text(text(), encoding="utf-8")
        except OSError as exc:
            err(f"ivig-fhir: {option} {target}: cannot write ({exc.strerror or exc})")
            raise typer.Exit(int(ExitCode.BAD_INPUT)) from None
    failing = [p for p in problems if p.is_error or (strict and p.severity == "warning")]
    if format_ == "text":
        typer.echo(f"{checked} file(s) validated against {against}: "
                   f"{sum(p.is_error for p in problems)} errors, "
                   f"{sum(p.severity == 'warning' for p in problems)} warnings"
                   + (" (--strict: warnings fail)" if strict else ""))
    if any(p.code in ("limit", "unreadable") for p in problems):
        raise typer.Exit(int(ExitCode.BAD_INPUT))  # some input was never checked
    if failing:
        raise typer.Exit(int(ExitCode.FINDINGS))
