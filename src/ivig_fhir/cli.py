"""The command line: turns options into settings, runs a stage, renders problems, exits.

This is the only module that prints or picks an exit code (see problems.ExitCode).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from ivig_fhir.problems import ExitCode, IvigFhirError, Problem

app = typer.Typer(
    name="ivig-fhir",
    help="Curated IVIG knowledge -> validated HL7 FHIR R5 resources.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # tokens and secrets never reach a traceback
    add_completion=False,
)
terminology_app = typer.Typer(help="Check the codes of the concept table.", no_args_is_help=True)
app.add_typer(terminology_app, name="terminology")

SourceOpt = Annotated[Path, typer.Option("--source", help="Folder of curated YAML files.")]
SeedsOpt = Annotated[Path | None, typer.Option(
    "--seeds", help="Folder of the original source documents, to check their hashes.")]


def _err(line: str) -> None:
    typer.echo(line, err=True)


def report(problems: Iterable[Problem]) -> None:
    for problem in sorted(problems, key=lambda p: (p.file, p.line or 0, p.column or 0)):
        _err(problem.render())


def fail(exc: IvigFhirError) -> typer.Exit:
    report(exc.problems)
    count = sum(1 for p in exc.problems if p.is_error)
    _err(f"ivig-fhir: {exc.message}" + (f" ({count} error{'s' * (count != 1)})" if count else ""))
    return typer.Exit(int(exc.exit_code))


@app.command()
def build(
    source: SourceOpt = Path("source_data"),
    out: Annotated[Path, typer.Option("--out", help="Folder to write the export to.")] = Path(
        "output"),
    adverse_events: Annotated[bool, typer.Option(
        "--adverse-events/--no-adverse-events",
        help="Include the AdverseEvent (actuality=potential) view of each reaction.")] = True,
    seeds: SeedsOpt = None,
    fhir_version: Annotated[str, typer.Option(
        "--fhir-version", help="R5, or R4B (the R5 mapping converted; see docs/r4b-mapping.md).")
    ] = "R5",
) -> None:
    """Build the FHIR export from the curated data and write it to --out."""
    from ivig_fhir.pipeline import BuildSettings
    from ivig_fhir.pipeline import build as run_build
    from ivig_fhir.write import write_tree

    settings = BuildSettings(source, out, adverse_events, seeds, fhir_version.upper())
    try:
        result = run_build(settings)
        write_tree(out, result.files)
    except IvigFhirError as exc:
        raise fail(exc) from None
    report(result.problems)
    total = sum(result.counts.values())
    for kind, count in sorted(result.counts.items()):
        typer.echo(f"{count:5d}  {kind}")
    typer.echo(f"{total:5d}  resources written to {out}/ ({', '.join(sorted(result.files))})")


@terminology_app.command("check")
def terminology_check(source: SourceOpt = Path("source_data"), seeds: SeedsOpt = None) -> None:
    """Check every code offline: ICD-10-CM release, SNOMED CT id structure and verification
    records, ATC/RxNorm/EDQM format, UCUM units. Unverified codes are warnings."""
    from ivig_fhir.pipeline import BuildSettings, load_checked

    try:
        curated, problems = load_checked(BuildSettings(source_dir=source, seeds_dir=seeds))
    except IvigFhirError as exc:
        raise fail(exc) from None
    report(problems)
    codings = [c for concept in curated.concepts for c in concept.codings]
    by_status = {s: sum(1 for c in codings if c.verified.status == s)
                 for s in ("release", "checked", "unverified")}
    uncoded = sum(len(c.uncoded) for c in curated.concepts)
    typer.echo(f"{len(curated.concepts)} concepts, {len(codings)} codes: "
               f"{by_status['release']} checked against a shipped release, "
               f"{by_status['checked']} checked in a named source, "
               f"{by_status['unverified']} unverified (warnings above); "
               f"{uncoded} deliberately uncoded; 0 errors")


@app.command("coverage")
def coverage_cmd(source: SourceOpt = Path("source_data"), seeds: SeedsOpt = None) -> None:
    """Show which resources carry each item of the source documents; exit 1 if an item is
    neither carried nor excluded with a reason."""
    from ivig_fhir.coverage import coverage
    from ivig_fhir.mapping import map_curated
    from ivig_fhir.pipeline import BuildSettings, load_checked

    try:
        curated, _ = load_checked(BuildSettings(source_dir=source, seeds_dir=seeds))
    except IvigFhirError as exc:
        raise fail(exc) from None
    rows, problems = coverage(curated, map_curated(curated))
    for row in rows:
        carried = ", ".join(row.resources) if row.resources else (row.item.excluded or "")
        typer.echo(f"{row.status:8s}  {row.locator}  {carried}")
    report(problems)
    missing = sum(1 for r in rows if r.status == "MISSING")
    counts = {s: sum(1 for r in rows if r.status == s) for s in ("mapped", "excluded")}
    typer.echo(f"{len(rows)} items: {counts['mapped']} mapped, {counts['excluded']} excluded, "
               f"{missing} missing")
    if missing:
        raise typer.Exit(int(ExitCode.FINDINGS))


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Bundles, resources, NDJSON files or folders.")],
    fhir_version: Annotated[str | None, typer.Option("--fhir-version", help="R5 or R4B; "
                                                     "default: from the content.")] = None,
    format_: Annotated[str, typer.Option("--format", help="text or json (OperationOutcome)")] = (
        "text"),
    junit: Annotated[Path | None, typer.Option("--junit", help="Write a JUnit XML report.")] = None,
    sarif: Annotated[Path | None, typer.Option("--sarif", help="Write a SARIF 2.1.0 report.")] = (
        None),
    strict: Annotated[bool, typer.Option("--strict", help="Warnings fail too.")] = False,
) -> None:
    """Validate FHIR JSON: well-formedness, structure, invariants, required bindings, bundle
    rules and narrative. Exit 0 valid, 1 errors found, 2 unreadable input or usage."""
    import json

    from ivig_fhir.validate import validate_paths
    from ivig_fhir.validate.report import to_junit, to_operation_outcome, to_sarif

    if format_ not in ("text", "json"):
        _err("ivig-fhir: --format must be text or json")
        raise typer.Exit(int(ExitCode.BAD_INPUT))
    missing = [p for p in paths if not p.exists()]
    if missing:
        _err(f"ivig-fhir: not found: {', '.join(map(str, missing))}")
        raise typer.Exit(int(ExitCode.BAD_INPUT))
    problems = validate_paths(paths, fhir_version=fhir_version)
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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        _err("ivig-fhir: interrupted")
        sys.exit(130)
