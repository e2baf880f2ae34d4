"""`ivig-fhir build`: curated data -> the export, written atomically (or compared, --check)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ivig_fhir.cli._common import SeedsOpt, SourceOpt, err, fail, fhir_version_option, report
from ivig_fhir.problems import ExitCode, IvigFhirError


def build(
    source: SourceOpt = Path("source_data"),
    out: Annotated[Path, typer.Option("--out", metavar="DIR",
        help="Folder to write the export to.")] = Path(
        "output"),
    adverse_events: Annotated[bool | None, typer.Option(
        "--adverse-events/--no-adverse-events",
        help="Include the AdverseEvent (actuality=potential) view of each reaction "
             "[default: include].", show_default=False)] = None,
    seeds: SeedsOpt = None,
    formats: Annotated[list[str] | None, typer.Option(
        "--format", metavar="FORMAT",
            help="Output format, repeatable: transaction (default), batch, "
        "collection, ndjson, package.", show_default=False)] = None,
    ndjson_base_url: Annotated[str | None, typer.Option(
        "--ndjson-base-url", metavar="URL",
            help="Prefix of the file URLs in bulk-import-manifest.json, "
        "e.g. https://host/export/ [default: none, URLs relative to the manifest].",
        show_default=False)] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Write nothing: rebuild in memory (with the options recorded in "
        "--out/manifest.json unless given) and exit 1 naming every file under --out that "
        "differs, is missing or is extra; 0 when --out is current.")] = False,
    fhir_version: Annotated[str | None, typer.Option(
        "--fhir-version", metavar="VERSION",
            help="R5 (default), R4B or R4: the R5 mapping converted, see "
        "docs/r4b-mapping.md and docs/r4-mapping.md.", show_default=False)] = None,
    previous: Annotated[Path | None, typer.Option(
        "--previous", metavar="OLD_EXPORT",
        help="The previous release's export (its transaction Bundle or output "
        "folder): resources it has and this release drops are listed as withdrawn (ndjson "
        "`deleted`, package other/deleted-Bundle.json, manifest).", show_default=False)] = None,
) -> None:
    """Build the export and write it to --out.

    Builds the FHIR export from the curated data, validates it, and writes it into --out: a
    folder that is missing, empty, or holds a previous export (recognised by its
    manifest.json); only the files that export listed are replaced. Anything else (the source
    folder, the current folder or a parent, a file, a folder with other files) is refused.

    Exit 0 written; 1 findings (the export does not validate, --check found --out stale, or
    the disk refused: nothing written); 2 bad input or usage (nothing written)."""
    from dataclasses import replace

    from ivig_fhir.pipeline import BuildSettings, previous_keys, recorded_settings
    from ivig_fhir.pipeline import build as run_build
    from ivig_fhir.write import check_out, compare_tree, write_tree

    protected = {"--source": source, "--seeds": seeds}
    try:
        version = fhir_version_option(fhir_version)
        settings = BuildSettings(source, out, seeds_dir=seeds)
        if check:
            settings = recorded_settings(settings)
        settings = replace(
            settings,
            adverse_events=settings.adverse_events if adverse_events is None else adverse_events,
            formats=tuple(formats) if formats else settings.formats,
            ndjson_base_url=(settings.ndjson_base_url if ndjson_base_url is None
                             else ndjson_base_url),
            fhir_version=version or settings.fhir_version)
        if previous is not None:
            settings = replace(settings, previous=previous_keys(previous))
        if not check:
            check_out(out, protected)  # refuse before the work, not after
        result = run_build(settings)
        if not check:
            write_tree(out, result.files, protected)
    except IvigFhirError as exc:
        raise fail(exc) from None
    # The ICD-10-CM tabular notes shown against each concept are for the curator at
    # `terminology check`; hundreds of them would bury a build's warnings.
    notes = [p for p in result.problems if p.severity == "information"]
    report(p for p in result.problems if p.severity != "information")
    if notes:
        err(f"{len(notes)} information notes (ICD-10-CM tabular notes and the like): "
            "see `ivig-fhir terminology check`")
    if check:
        stale = compare_tree(out, result.files)
        for name, how in stale:
            err(f"{out / name}: {how}")
        if stale:
            err(f"ivig-fhir: {out}/ is not the export of {source}/ ({len(stale)} file(s)); "
                 f"run `ivig-fhir build` and review the diff")
            raise typer.Exit(int(ExitCode.FINDINGS))
        typer.echo(f"{out}/ is current ({len(result.files)} files)")
        return
    total = sum(result.counts.values())
    for kind, count in sorted(result.counts.items()):
        typer.echo(f"{count:5d}  {kind}")
    typer.echo(f"{total:5d}  resources written to {out}/ ({', '.join(sorted(result.files))})")
