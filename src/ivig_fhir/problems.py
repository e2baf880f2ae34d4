"""Problems as data, and the one error tree.

Every stage reports what is wrong as `Problem` records that point back to the place a person
must edit: a curator's YAML line, or a FHIRPath location in a resource. Only the CLI renders
them and picks the exit code.

    IvigFhirError            any expected failure; never shown with a traceback
     ├── BadInput            exit 2: unreadable or invalid input, or bad usage
     └── FindingsError       exit 1: the input was read, but findings block the job
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Severity = Literal["fatal", "error", "warning", "information"]


class ExitCode(enum.IntEnum):
    """Fixed exit codes. A retired code is never reused."""

    OK = 0
    FINDINGS = 1
    BAD_INPUT = 2


@dataclass(frozen=True, order=True)
class Problem:
    """One finding. `file`/`line`/`column` locate it in a source file; `field` is the field path
    in curated data or the FHIRPath expression in a resource; `layer` says which check made it."""

    file: str
    line: int | None
    column: int | None
    field: str
    message: str
    severity: Severity = "error"
    layer: str = "input"
    code: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity in ("fatal", "error")

    def render(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = f" {self.field}:" if self.field else ""
        code = f" [{self.code}]" if self.code else ""
        return f"{where}: {self.severity}:{field} {self.message}{code}"


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.is_error]


class IvigFhirError(Exception):
    exit_code = ExitCode.FINDINGS

    def __init__(self, message: str, problems: Iterable[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = sorted(problems, key=_sort_key)


class BadInput(IvigFhirError):
    exit_code = ExitCode.BAD_INPUT


class FindingsError(IvigFhirError):
    exit_code = ExitCode.FINDINGS


def _sort_key(p: Problem) -> tuple[str, int, int, str, str]:
    return (p.file, p.line or 0, p.column or 0, p.field, p.message)
