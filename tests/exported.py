"""The checked-in export as the clinical review tests read it: `ivig-fhir match` answers and
resources by id."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from ivig_fhir.cli import app

EXPORT = Path(__file__).resolve().parents[1] / "output" / "ivig-fhir-bundle.json"
_runner = CliRunner()


def match(codes: tuple[str, ...]) -> list[dict[str, Any]]:
    """`ivig-fhir match CODES --format json` on the export: one answer per code set."""
    result = _runner.invoke(app, ["match", *codes, "--export", str(EXPORT), "--format", "json"])
    assert result.exit_code == 0, result.output
    answers: list[dict[str, Any]] = json.loads(result.stdout)
    return answers


def hits(codes: tuple[str, ...]) -> list[dict[str, Any]]:
    return [hit for answer in match(codes) for hit in answer["hits"]]


def resources() -> dict[str, dict[str, Any]]:
    """The export's resources by id. Two ids name two resources each (a CodeSystem and the
    resource it codes for: ivig-knowledge, fact-qualifier); they are left out, so looking one up
    fails instead of returning whichever came last."""
    data = json.loads(EXPORT.read_text(encoding="utf-8"))
    ids = Counter(e["resource"]["id"] for e in data["entry"])
    return {e["resource"]["id"]: e["resource"] for e in data["entry"]
            if ids[e["resource"]["id"]] == 1}
