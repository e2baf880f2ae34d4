"""`ivig-fhir review`: render the export as a static review pack (HTML, optionally PDF)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ivig_fhir.cli._common import fail
from ivig_fhir.problems import IvigFhirError


def review(
    export: Annotated[Path, typer.Argument(metavar="EXPORT",
        help="The export: a Bundle, NDJSON file, package "
                                           ".tgz or an output folder.")] = Path(
        "output/ivig-fhir-bundle.json"),
    out: Annotated[Path, typer.Option("--out", metavar="DIR",
        help="Folder for the pack: new, empty, or a "
                                      "previous pack.")] = Path("review"),
    since: Annotated[Path | None, typer.Option(
        "--since", metavar="OLD_EXPORT",
        help="An earlier export: add changes.html, what changed since it, field "
        "by field.", show_default=False)] = None,
    pdf: Annotated[bool, typer.Option(
        "--pdf", help="Also print the pack to review.pdf with headless Chromium.")] = False,
) -> None:
    """Render the export as a review pack (HTML, optionally PDF).

    The pack shows what a server will import, not the YAML, as self-contained HTML in label
    order: product, dosing, uses by regulatory status and evidence,
    contraindications and warnings, interactions, undesirable effects, populations; with
    every statement's source, curation note, codes and their official meanings, and the
    approval. Works from file:// with no network. Exit 2 on an unreadable export, an --out
    folder that is not a previous pack, or --pdf without Chromium."""
    from ivig_fhir import review as rv

    try:
        files = rv.build_pack(export, since)
        rv.write_pack(out, files)
        written = sorted(files)
        if pdf:
            rv.write_pack(out, {**files, rv.PDF: rv.print_pdf(out / rv.INDEX)})
            written.append(rv.PDF)
    except IvigFhirError as exc:
        raise fail(exc) from None
    typer.echo(f"review pack written to {out}/ ({', '.join(written)}); open "
               f"{(out / rv.INDEX).resolve().as_uri()}")
