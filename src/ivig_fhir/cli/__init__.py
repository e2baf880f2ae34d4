"""The command line: wiring only. Each command lives in its own module of this package, turns
options into settings, runs a stage, renders problems and exits; nothing else prints.
"""

from __future__ import annotations

import sys

import typer

from ivig_fhir.cli import (
    approve,
    build,
    coverage,
    diff,
    match,
    review,
    terminology,
    upload,
    validate,
)
from ivig_fhir.cli._common import err

app = typer.Typer(
    name="ivig-fhir",
    help="Curated IVIG knowledge -> validated HL7 FHIR resources.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # tokens and secrets never reach a traceback
    add_completion=False,
    # Plain click help: typer's rich mode prints types as <list[str]> and <bool> and reads
    # "[default: ...]" in a help text as markup, swallowing it.
    rich_markup_mode=None,
)
terminology_app = typer.Typer(help="Check the codes of the concept table.", no_args_is_help=True)
app.add_typer(terminology_app, name="terminology")

app.command()(build.build)
terminology_app.command("check")(terminology.terminology_check)
app.command("coverage")(coverage.coverage_cmd)
app.command()(validate.validate)
app.command("diff")(diff.diff_cmd)
app.command("match")(match.match_cmd)
app.command()(upload.upload)
app.command()(review.review)
app.command()(approve.approve)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err("ivig-fhir: interrupted")
        sys.exit(130)
