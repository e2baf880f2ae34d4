"""`build --previous`: resources the previous release had and this one drops are listed as
withdrawn (Bulk Data `deleted` in the NDJSON manifest, the package, the build manifest)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ivig_fhir.cli import app

ROOT = Path(__file__).resolve().parents[1]
USE = "pure-red-cell-aplasia"  # the use the `withdrawn_release` fixture (conftest) removes
# The use's ValueSet goes with it: no other fact names pure red cell aplasia.
WITHDRAWN = [f"ClinicalUseDefinition/ind-{USE}", f"Provenance/prov-ind-{USE}", f"ValueSet/{USE}"]


@pytest.fixture(scope="module")
def built(withdrawn_release: Path) -> Path:
    check = CliRunner().invoke(app, ["build", "--check", "--source",
                                     str(withdrawn_release.parent / "source_data"),
                                     "--out", str(withdrawn_release)])
    assert check.exit_code == 0, check.output  # the manifest records what was withdrawn
    return withdrawn_release


def test_ndjson_lists_withdrawn_resources_as_deleted(built: Path) -> None:
    manifest = json.loads((built / "bulk-import-manifest.json").read_text())
    assert manifest["deleted"] == [{"type": "Bundle", "url": "deleted/Bundle.ndjson"}]
    lines = (built / "deleted" / "Bundle.ndjson").read_text().splitlines()
    assert len(lines) == 1
    bundle = json.loads(lines[0])
    assert bundle["type"] == "transaction"
    assert [e["request"] for e in bundle["entry"]] == [
        {"method": "DELETE", "url": key} for key in WITHDRAWN]
    assert not any(USE in p.read_text() for p in (built / "ndjson").glob("*.ndjson")
                   if p.name == "ClinicalUseDefinition.ndjson")


def test_package_and_manifest_list_them_too(built: Path) -> None:
    raw = gzip.decompress((built / "ivig-fhir-package.tgz").read_bytes())
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        member = tar.extractfile("package/other/deleted-Bundle.json")
        assert member is not None
        deleted = json.loads(member.read())
    assert [e["request"]["url"] for e in deleted["entry"]] == WITHDRAWN
    assert json.loads((built / "manifest.json").read_text())["options"]["withdrawn"] == WITHDRAWN


def test_without_previous_nothing_is_listed() -> None:
    manifest = json.loads((ROOT / "output" / "manifest.json").read_text())
    assert "withdrawn" not in manifest["options"]


def test_an_unreadable_previous_release_is_bad_input(tmp_path: Path) -> None:
    run = CliRunner().invoke(app, ["build", "--out", str(tmp_path / "o"),
                                   "--previous", str(tmp_path / "missing.json")])
    assert run.exit_code == 2
    assert "--previous" in run.output
