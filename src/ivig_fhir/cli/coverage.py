"""`ivig-fhir coverage`: which resources carry each item of the source documents."""

from __future__ import annotations

from pathlib import Path

import typer

from ivig_fhir.cli._common import SeedsOpt, SourceOpt, fail, report
from ivig_fhir.problems import ExitCode, IvigFhirError


def coverage_cmd(source: SourceOpt = Path("source_data"), seeds: SeedsOpt = None) -> None:
    """Show which resources carry each source item.

    Exit 0 every item of the source documents is carried or excluded with a reason, 1 an item
    is neither, 2 bad input or usage."""
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
