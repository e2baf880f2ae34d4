"""What every command shares: option types, rendering problems, an error turned into an exit.

Only the `cli` package prints or picks an exit code (see problems.ExitCode).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from ivig_fhir.problems import BadInput, IvigFhirError, Problem

SourceOpt = Annotated[Path, typer.Option("--source", metavar="DIR",
    help="Folder of curated YAML files.")]
SeedsOpt = Annotated[Path | None, typer.Option(
    "--seeds", metavar="DIR",
        help="Folder of the original source documents, to check their hashes.")]


def err(line: str) -> None:
    typer.echo(line, err=True)


def report(problems: Iterable[Problem]) -> None:
    for problem in sorted(problems, key=lambda p: (p.file, p.line or 0, p.column or 0)):
        err(problem.render())


def fail(exc: IvigFhirError) -> typer.Exit:
    report(exc.problems)
    count = sum(1 for p in exc.problems if p.is_error)
    err(f"ivig-fhir: {exc.message}" + (f" ({count} error{'s' * (count != 1)})" if count else ""))
    return typer.Exit(int(exc.exit_code))


def fhir_version_option(value: str | None, option: str = "--fhir-version") -> str | None:
    """'r4b', '4.3.0' -> 'R4B' and so on; every version check goes through
    definitions.normalize_version, so a version added there is accepted everywhere."""
    from ivig_fhir.definitions import normalize_version

    if value is None:
        return None
    try:
        return normalize_version(value).upper()
    except ValueError as exc:
        raise BadInput(f"{option} {value}: {exc}") from None
