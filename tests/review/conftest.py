"""Shared exports for the review and sign-off tests, built once per session from a copy of
source_data/: approved (build, approve, build) and then edited (one curated fact changed, which
voids the approval)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ivig_fhir.cli import app

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "source_data"
REVIEWER = ["--reviewer", "Dr Ada Byron, PharmD", "--role",
            "Clinical pharmacist, P&T committee", "--date", "2026-12-05",
            "--note", "All uses, warnings and codes read against the sources"]
runner = CliRunner()


def cli(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@dataclass(frozen=True)
class Exports:
    source: Path  # approved curated data
    approved: Path  # its export folder (carries the approval)
    edited_source: Path  # the same with one fact changed after approval
    edited: Path  # its export folder (approval void)
    edited_build_stderr: str


@pytest.fixture(scope="session")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Exports:
    base = tmp_path_factory.mktemp("exports")
    source, out = base / "source", base / "approved"
    shutil.copytree(SOURCE, source)
    assert cli("build", "--source", source, "--out", out)[0] == 0
    code, _, stderr = cli("approve", "--source", source, "--export", out, *REVIEWER)
    assert code == 0, stderr
    assert cli("build", "--source", source, "--out", out)[0] == 0
    edited_source, edited = base / "edited-source", base / "edited"
    shutil.copytree(source, edited_source)
    reactions = edited_source / "adverse_reactions.yaml"
    text = reactions.read_text(encoding="utf-8")
    assert text.count("    frequency: very-rare\n") == 2
    # thrombosis: "very rare" -> the core band "Rare", a change a reviewer must see
    reactions.write_text(text.replace("    frequency: very-rare\n", "    frequency: rare\n", 1),
                         encoding="utf-8")
    code, _, stderr = cli("build", "--source", edited_source, "--out", edited)
    assert code == 0, stderr
    return Exports(source, out, edited_source, edited, stderr)
