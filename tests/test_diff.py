"""`ivig-fhir diff`: a clinical diff of two real builds, one from an edited copy of the data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ivig_fhir.cli import app

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source_data"
runner = CliRunner()
KAWASAKI = """  - key: kawasaki-disease
    concept: kawasaki-disease
"""


def _build(source: Path, out: Path) -> None:
    result = runner.invoke(app, ["build", "--source", str(source), "--out", str(out),
                                 "--format", "transaction", "--format", "package"])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("diff")
    edited = tmp / "source"
    shutil.copytree(SOURCE, edited)
    dosing = (edited / "dosing.yaml").read_text()
    assert "    low: 0.4\n" in dosing
    (edited / "dosing.yaml").write_text(dosing.replace("    low: 0.4\n", "    low: 0.5\n", 1))
    indications = (edited / "indications.yaml").read_text()
    start = indications.index(KAWASAKI)
    end = indications.index("\n  - key:", start + 1) + 1
    (edited / "indications.yaml").write_text(indications[:start] + indications[end:])
    _build(SOURCE, tmp / "old")
    _build(edited, tmp / "new")
    return tmp / "old", tmp / "new"


def test_text_diff_shows_the_changed_dose_and_the_removed_indication(
        exports: tuple[Path, Path]) -> None:
    old, new = exports
    result = runner.invoke(app, ["diff", str(old), str(new)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    removed = lines.index("Indications:") + 1
    assert lines[removed].split() == ["-", "removed", "ClinicalUseDefinition/ind-kawasaki-disease",
                                      "Kawasaki", "disease"]
    dosing = lines.index("Dosing:")
    assert "#dosing/ClinicalUseDefinition/ind-infantile-spasms/course-regimen" in lines[dosing + 1]
    assert "      dosage[1].doseAndRate[1].dose: 0.4–2 g/kg → 0.5–2 g/kg" in lines
    assert "      clinicalUseIssue: − ClinicalUseDefinition/ind-kawasaki-disease" in lines
    # the use's ValueSet stays: the Gammagard S/D Kawasaki approval (review R3) names it too
    assert not any("ValueSet/kawasaki-disease" in x for x in lines), lines
    assert lines[-1] == "0 added, 1 removed, 2 changed"


def test_json_diff_for_tools_and_any_export_form(exports: tuple[Path, Path]) -> None:
    old, new = exports
    # The package of the old build against the bundle file of the new one.
    result = runner.invoke(app, ["diff", str(old / "ivig-fhir-package.tgz"),
                                 str(new / "ivig-fhir-bundle.json"), "--format", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    # the use; its ValueSet stays for the Gammagard S/D Kawasaki approval
    assert report["counts"] == {"added": 0, "removed": 1, "changed": 2}
    by_key = {c["key"]: c for c in report["changes"]}
    assert by_key["ClinicalUseDefinition/ind-kawasaki-disease"]["change"] == "removed"
    assert by_key["ClinicalUseDefinition/ind-kawasaki-disease"]["kind"] == "indication"
    assert "ValueSet/kawasaki-disease" not in by_key
    dose = by_key["MedicationKnowledge/ivig-knowledge#dosing/"
                  "ClinicalUseDefinition/ind-infantile-spasms/course-regimen"]
    assert {"field": "dosage[1].doseAndRate[1].dose", "old": "0.4–2 g/kg",
            "new": "0.5–2 g/kg"} in dose["fields"]


def test_same_content_exits_0_and_unreadable_input_exits_2(
        exports: tuple[Path, Path], tmp_path: Path) -> None:
    old, _ = exports
    same = runner.invoke(app, ["diff", str(old), str(old / "ivig-fhir-package.tgz")])
    assert (same.exit_code, same.output.strip()) == (0, "No clinical differences.")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    bad = runner.invoke(app, ["diff", str(broken), str(old)])
    assert bad.exit_code == 2
    assert "broken.json" in bad.output and "not JSON" in bad.output
