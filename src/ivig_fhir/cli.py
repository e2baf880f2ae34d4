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
    adverse_events: Annotated[bool | None, typer.Option(
        "--adverse-events/--no-adverse-events",
        help="Include the AdverseEvent (actuality=potential) view of each reaction "
             "[default: include].", show_default=False)] = None,
    seeds: SeedsOpt = None,
    formats: Annotated[list[str] | None, typer.Option(
        "--format", help="Output format, repeatable: transaction (default), batch, "
        "collection, ndjson, package.", show_default=False)] = None,
    ndjson_base_url: Annotated[str | None, typer.Option(
        "--ndjson-base-url", help="Prefix of the file URLs in bulk-import-manifest.json, "
        "e.g. https://host/export/ [default: none, URLs relative to the manifest].",
        show_default=False)] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Write nothing: rebuild in memory (with the options recorded in "
        "--out/manifest.json unless given) and exit 1 naming every file under --out that "
        "differs, is missing or is extra; 0 when --out is current.")] = False,
    fhir_version: Annotated[str | None, typer.Option(
        "--fhir-version", help="R5 (default), or R4B: the R5 mapping converted, see "
        "docs/r4b-mapping.md.", show_default=False)] = None,
) -> None:
    """Build the FHIR export from the curated data and write it to --out."""
    from dataclasses import replace

    from ivig_fhir.pipeline import BuildSettings, recorded_settings
    from ivig_fhir.pipeline import build as run_build
    from ivig_fhir.write import compare_tree, write_tree

    settings = BuildSettings(source, out, seeds_dir=seeds)
    if check:
        settings = recorded_settings(settings)
    settings = replace(
        settings,
        adverse_events=settings.adverse_events if adverse_events is None else adverse_events,
        formats=tuple(formats) if formats else settings.formats,
        ndjson_base_url=settings.ndjson_base_url if ndjson_base_url is None else ndjson_base_url,
        fhir_version=settings.fhir_version if fhir_version is None else fhir_version.upper())
    try:
        result = run_build(settings)
        if not check:
            write_tree(out, result.files)
    except IvigFhirError as exc:
        raise fail(exc) from None
    report(result.problems)
    if check:
        stale = compare_tree(out, result.files)
        for name, how in stale:
            _err(f"{out / name}: {how}")
        if stale:
            _err(f"ivig-fhir: {out}/ is not the export of {source}/ ({len(stale)} file(s)); "
                 f"run `ivig-fhir build` and review the diff")
            raise typer.Exit(int(ExitCode.FINDINGS))
        typer.echo(f"{out}/ is current ({len(result.files)} files)")
        return
    total = sum(result.counts.values())
    for kind, count in sorted(result.counts.items()):
        typer.echo(f"{count:5d}  {kind}")
    typer.echo(f"{total:5d}  resources written to {out}/ ({', '.join(sorted(result.files))})")


@terminology_app.command("check")
def terminology_check(source: SourceOpt = Path("source_data"), seeds: SeedsOpt = None) -> None:
    """Check every code offline: ICD-10-CM release, SNOMED CT id structure and verification
    records, ATC/RxNorm/EDQM format, UCUM units; then every code in the export they map to,
    FHIR-defined and local code systems included. Unverified codes are warnings."""
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
    paths: Annotated[list[Path], typer.Argument(
        help="Bundles, resources, NDJSON files or folders.")],
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
    rules, narrative, and terminology (ICD-10-CM release, SNOMED CT ids, UCUM, FHIR-defined
    and in-bundle code systems). Exit 0 valid, 1 errors found, 2 unreadable input or usage."""
    import json

    from ivig_fhir.terminology import TerminologyLayer
    from ivig_fhir.validate import validate_paths
    from ivig_fhir.validate.report import to_junit, to_operation_outcome, to_sarif

    if format_ not in ("text", "json"):
        _err("ivig-fhir: --format must be text or json")
        raise typer.Exit(int(ExitCode.BAD_INPUT))
    missing = [p for p in paths if not p.exists()]
    if missing:
        _err(f"ivig-fhir: not found: {', '.join(map(str, missing))}")
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


@app.command("diff")
def diff_cmd(
    old: Annotated[Path, typer.Argument(help="The earlier export: a Bundle, NDJSON file, "
                                        "package .tgz, or an output folder.")],
    new: Annotated[Path, typer.Argument(help="The later export, in any of those forms.")],
    format_: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """Show what changed clinically between two exports: indications, contraindications,
    undesirable effects, interactions, warnings, dosing and populations added, removed or
    changed (old -> new), keyed by resource id. Exit 0 no differences, 1 differences (as
    diff(1)), 2 unreadable input or usage."""
    import json

    from ivig_fhir.diff import diff_exports, read_export

    if format_ not in ("text", "json"):
        _err("ivig-fhir: --format must be text or json")
        raise typer.Exit(int(ExitCode.BAD_INPUT))
    try:
        result = diff_exports(read_export(old), read_export(new))
    except IvigFhirError as exc:
        raise fail(exc) from None
    if format_ == "json":
        typer.echo(json.dumps(result.as_json(), indent=2, ensure_ascii=False))
    else:
        typer.echo(result.as_text())
    if not result.same:
        raise typer.Exit(int(ExitCode.FINDINGS))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        _err("ivig-fhir: interrupted")
        sys.exit(130)
