"""`ivig-fhir diff`: what changed clinically between two exports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ivig_fhir.cli._common import err, fail
from ivig_fhir.problems import ExitCode, IvigFhirError


def diff_cmd(
    old: Annotated[Path, typer.Argument(metavar="OLD",
        help="The earlier export: a Bundle, NDJSON file, "
                                        "package .tgz, or an output folder.")],
    new: Annotated[Path, typer.Argument(metavar="NEW",
        help="The later export, in any of those forms.")],
    format_: Annotated[str, typer.Option("--format", metavar="text|json",
        help="text or json")] = "text",
) -> None:
    """Show what changed clinically between exports.

    Indications, contraindications,
    undesirable effects, interactions, warnings, dosing and populations added, removed or
    changed (old -> new), keyed by resource id. Exit 0 no differences, 1 differences (as
    diff(1)), 2 unreadable input or usage."""
    import json

    from ivig_fhir.diff import diff_exports, read_export

    if format_ not in ("text", "json"):
        err("ivig-fhir: --format must be text or json")
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
