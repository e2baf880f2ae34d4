"""`ivig-fhir upload` against the real HAPI server: load, idempotence, chunking, verify."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import canonicalize

import pytest
from typer.testing import CliRunner

from ivig_fhir.cli import app

from .conftest import EXPORT, export_copy, run_upload
from .hapi import ROOT, HapiServer

pytestmark = pytest.mark.java


def _without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in resource.items() if k != "meta"}
    if "text" in out:  # HAPI re-serialises the XHTML (e.g. &#x27; -> '): compare as XML
        out["text"] = {**out["text"], "div": canonicalize(out["text"]["div"])}
    return out


def test_default_export_uploads_and_reads_back(hapi: HapiServer, tmp_path: Path) -> None:
    copy = export_copy(tmp_path, None)
    before = hapi.counts(copy.counts)
    run = run_upload(str(EXPORT), "--server", hapi.url, env=hapi.env())
    assert run.code == 0, run.output
    assert f"{len(copy.keys)} resources in 1 transaction to" in run.stdout
    after = hapi.counts(copy.counts)
    assert {t: after[t] - before[t] for t in after} == copy.counts
    stored = hapi.read_all(copy.keys)
    assert all(stored.values())
    knowledge = next(e["resource"] for e in copy.bundle["entry"]
                     if e["resource"]["resourceType"] == "MedicationKnowledge")
    on_server = stored[f"MedicationKnowledge/{knowledge['id']}"]
    assert on_server is not None
    assert _without_meta(on_server) == _without_meta(knowledge)
    with hapi.client() as c:
        found = c.get("ClinicalUseDefinition", params={
            "subject": "Medication/ivig", "_summary": "count"}).json()["total"]
    expected = sum(1 for e in copy.bundle["entry"]
                   if e["resource"]["resourceType"] == "ClinicalUseDefinition"
                   and any(s["reference"] == "Medication/ivig"
                           for s in e["resource"].get("subject", [])))
    assert found == expected > 100


def test_reupload_creates_no_duplicates_and_no_versions(hapi: HapiServer, tmp_path: Path) -> None:
    copy = export_copy(tmp_path, "r")
    assert run_upload(str(copy.path), "--server", hapi.url, env=hapi.env()).code == 0
    counts = hapi.counts(copy.counts)
    versions = hapi.versions(copy.keys)
    assert set(versions.values()) == {"1"}
    run = run_upload(str(copy.path), "--server", hapi.url, env=hapi.env())
    assert run.code == 0, run.output
    assert f"0 created, 0 updated, {len(copy.keys)} unchanged" in run.stdout
    assert hapi.counts(copy.counts) == counts
    assert hapi.versions(copy.keys) == versions


def test_a_changed_fact_moves_only_its_resource(hapi: HapiServer, tmp_path: Path) -> None:
    source = tmp_path / "source_data"
    shutil.copytree(ROOT / "source_data", source)
    dosing = source / "dosing.yaml"
    text = dosing.read_text()
    assert text.count("high: 5000") == 1
    dosing.write_text(text.replace("high: 5000", "high: 6000"))  # the cost per infusion
    built = CliRunner().invoke(app, ["build", "--source", str(source),
                                     "--out", str(tmp_path / "changed")])
    assert built.exit_code == 0, built.output
    original = export_copy(tmp_path / "a", "v")
    changed = export_copy(tmp_path / "b", "v", tmp_path / "changed" / "ivig-fhir-bundle.json")
    assert run_upload(str(original.path), "--server", hapi.url, env=hapi.env()).code == 0
    before = hapi.versions(original.keys)
    run = run_upload(str(changed.path), "--server", hapi.url, env=hapi.env())
    assert run.code == 0, run.output
    assert f"0 created, 1 updated, {len(original.keys) - 1} unchanged" in run.stdout
    after = hapi.versions(original.keys)
    # Only the MedicationKnowledge carries the cost; its Provenance names the source
    # items, not the values, so it does not move.
    assert {k for k in after if after[k] != before[k]} == {"MedicationKnowledge/ivig-knowledge-v"}
    assert after["MedicationKnowledge/ivig-knowledge-v"] == "2"
    stored = hapi.read_all(["MedicationKnowledge/ivig-knowledge-v"])
    assert stored["MedicationKnowledge/ivig-knowledge-v"] is not None
    knowledge = stored["MedicationKnowledge/ivig-knowledge-v"]
    costs = [c["costMoney"]["value"] for c in knowledge["cost"]]
    assert sorted(costs) == [3000, 6000]


def test_chunked_upload_gives_the_same_state(hapi: HapiServer, tmp_path: Path) -> None:
    copy = export_copy(tmp_path, "c")
    before = hapi.counts(copy.counts)
    run = run_upload(str(copy.path), "--server", hapi.url, "--max-entries", "25", "--verify",
                     env=hapi.env())
    assert run.code == 0, run.output
    n = len(copy.keys)
    chunks = -(-n // 25)
    assert f"{n} resources in {chunks} transactions" in run.stdout
    assert f"chunk {chunks}/{chunks} landed" in run.stderr
    assert f"verified: all {n} resources" in run.stdout
    after = hapi.counts(copy.counts)
    assert {t: after[t] - before[t] for t in after} == copy.counts
    assert set(hapi.versions(copy.keys).values()) == {"1"}
    # The same export as one transaction changes nothing: the chunked load stored exactly
    # what a single transaction stores.
    again = run_upload(str(copy.path), "--server", hapi.url, env=hapi.env())
    assert f"0 created, 0 updated, {n} unchanged" in again.stdout, again.output
    assert set(hapi.versions(copy.keys).values()) == {"1"}


def test_per_resource_upload(hapi: HapiServer, tmp_path: Path) -> None:
    copy = export_copy(tmp_path, "p")
    run = run_upload(str(copy.path), "--server", hapi.url, "--per-resource", "--verify",
                     env=hapi.env())
    assert run.code == 0, run.output
    n = len(copy.keys)
    assert f"{n} resources in {n} PUT requests" in run.stdout
    assert f"{n} created" in run.stdout
    again = run_upload(str(copy.path), "--server", hapi.url, "--per-resource", env=hapi.env())
    assert f"0 created, 0 updated, {n} unchanged" in again.stdout, again.output


def test_verify_reports_what_the_server_did_not_keep(hapi: HapiServer, tmp_path: Path) -> None:
    # HAPI's lenient parser drops an element it does not know, and still answers 201.
    copy = export_copy(tmp_path, "d")
    group = next(e["resource"] for e in copy.bundle["entry"]
                 if e["resource"]["resourceType"] == "Group")
    group["unknownElement"] = "dropped by the server"
    copy.path.write_text(json.dumps(copy.bundle))
    run = run_upload(str(copy.path), "--server", hapi.url, "--verify", env=hapi.env())
    assert run.code == 1, run.output
    assert f"Group/{group['id']}: error: Group.unknownElement: missing on the server" in run.stderr
    assert "1 resource(s) on the server differ from the export" in run.stderr


def test_a_server_that_cannot_take_the_export_gets_nothing(hapi: HapiServer,
                                                           tmp_path: Path) -> None:
    copy = export_copy(tmp_path, "x")
    run = run_upload(str(copy.path), "--server", hapi.url, "--fhir-version", "4.3.0",
                     env=hapi.env())
    assert run.code == 2
    assert "the server speaks FHIR 5.0.0, the export is FHIR 4.3.0" in run.stderr
    assert hapi.read_all(copy.keys[:5]) == dict.fromkeys(copy.keys[:5])
