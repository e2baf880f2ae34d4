"""Compare before write, withdrawn content and server profiles, against the real HAPI server.

Other servers' habits are HAPI's own settings, set at runtime on the session's server
(`habits_of`), not a fake server: as Medplum, it refuses client-assigned ids and makes a
version of every identical update. Each profile's limits: test_upload_each_profile.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ivig_fhir import upload as up
from ivig_fhir.upload.run import same

from .conftest import ExportCopy, export_copy, habits_of, run_upload
from .hapi import HapiServer

pytestmark = pytest.mark.java

WITHDRAWN_USE = "pure-red-cell-aplasia"  # the use the `withdrawn_release` fixture removes


def _by_key(copy: ExportCopy) -> dict[str, dict[str, Any]]:
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"]
            for e in copy.bundle["entry"]}


def test_retire_then_delete_withdrawn_use(hapi: HapiServer, tmp_path: Path,
                                          withdrawn_release: Path) -> None:
    old = export_copy(tmp_path / "old", "wd")
    new = export_copy(tmp_path / "new", "wd", withdrawn_release / "ivig-fhir-bundle.json")
    gone = sorted(set(old.keys) - set(new.keys))
    cud = f"ClinicalUseDefinition/ind-{WITHDRAWN_USE}-wd"
    provenance = f"Provenance/prov-ind-{WITHDRAWN_USE}-wd"
    value_set = f"ValueSet/{WITHDRAWN_USE}-wd"  # no other fact names the concept
    assert gone == [cud, provenance, value_set]
    assert run_upload(str(old.path), "--server", hapi.url, env=hapi.env()).code == 0
    before = hapi.versions(old.keys)
    old_resources, new_resources = _by_key(old), _by_key(new)
    changed = {k for k in new.keys if not same(new_resources[k], old_resources[k])}
    assert changed == {"MedicationKnowledge/ivig-knowledge-wd"}  # it listed the use

    dry = run_upload(str(new.path), "--server", hapi.url, "--retire", "--dry-run",
                     env=hapi.env())
    assert dry.code == 0, dry.output
    assert f"retire  {cud}" in dry.stdout and f"keep    {provenance}" in dry.stdout
    assert "--dry-run: nothing changed (would retire 2)" in dry.stdout
    assert hapi.versions(old.keys) == before  # nothing written, not even the new release

    retired = run_upload(str(new.path), "--server", hapi.url, "--retire", "--verify",
                         env=hapi.env())
    assert retired.code == 0, retired.output
    assert "withdrawn: 2 retired" in retired.stdout
    stored = hapi.read_all(old.keys)
    after = hapi.versions(old.keys)
    for key in old.keys:  # resource by resource
        resource = stored[key]
        assert resource is not None, key
        if key in (cud, value_set):
            status = resource["status"]
            assert (status if key == value_set else status["coding"][0]["code"]) == "retired"
            assert same({**old_resources[key], "status": status}, resource)
            assert after[key] == "2"
        elif key == provenance:
            assert same(old_resources[key], resource) and after[key] == before[key]
        else:
            assert same(new_resources[key], resource), key
            assert after[key] == ("2" if key in changed else before[key]), key

    cuds, provenances = hapi.count("ClinicalUseDefinition"), hapi.count("Provenance")
    deleted = run_upload(str(new.path), "--server", hapi.url, "--delete-withdrawn",
                         env=hapi.env())
    assert deleted.code == 0, deleted.output
    assert f"delete  {cud}" in deleted.stdout and f"delete  {provenance}" in deleted.stdout
    assert "withdrawn: 3 deleted" in deleted.stdout
    stored = hapi.read_all(old.keys)
    assert stored[cud] is None and stored[provenance] is None and stored[value_set] is None
    assert {k: v for k, v in hapi.versions(old.keys).items() if k not in gone} == {
        k: v for k, v in after.items() if k not in gone}
    # Only ours went: every other copy on the shared server is still there.
    assert hapi.count("ClinicalUseDefinition") == cuds - 1
    assert hapi.count("Provenance") == provenances - 1


def _ours(server: HapiServer, resource_type: str, system: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    with server.client() as c:
        body = c.get(resource_type, params={"identifier": f"{system}|", "_count": "500"}).json()
        while True:
            found += [e["resource"] for e in body.get("entry", [])]
            following = [link["url"] for link in body.get("link", [])
                         if link["relation"] == "next"]
            if not following:
                return found
            body = c.get(following[0]).json()


def test_server_assigned_ids_and_versioned_identical_updates(hapi: HapiServer,
                                                             tmp_path: Path) -> None:
    with habits_of(hapi, up.profile("medplum")):
        _server_assigned_ids_and_versioned_identical_updates(hapi, tmp_path)


def _server_assigned_ids_and_versioned_identical_updates(strict_hapi: HapiServer,
                                                         tmp_path: Path) -> None:
    copy = export_copy(tmp_path, "m")
    system = "https://ivig-fhir.org/fhir/identifier/clinical-use-m"
    first = run_upload(str(copy.path), "--server", strict_hapi.url, "--server-profile",
                       "medplum", "--verify")
    assert first.code == 0, first.output
    # The profile's contradictions are named: Medplum speaks R4, this server R5.
    assert "warning: the server speaks FHIR 5.0.0, which the medplum profile" in first.output
    export = up.read_export(copy.path)
    n, n_uses = len(export.entries), export.counts["ClinicalUseDefinition"]
    medplum = up.profile("medplum")
    chunks = up.plan_chunks(export.entries, medplum.max_entries, medplum.max_bytes)
    assert f"{n} resources in {len(chunks)} transactions" in first.stdout
    assert f"verified: all {n}" in first.stdout
    uses = _ours(strict_hapi, "ClinicalUseDefinition", system)
    assert len(uses) == n_uses
    assert all(u["id"].isdigit() for u in uses)  # the server's ids, not the export's
    knowledge = _ours(strict_hapi, "MedicationKnowledge",
                      "https://ivig-fhir.org/fhir/identifier/medication-knowledge-m")
    assert len(knowledge) == 1
    assert ({r["reference"] for r in knowledge[0]["clinicalUseIssue"]}
            == {f"ClinicalUseDefinition/{u['id']}" for u in uses})
    versions = {u["id"]: u["meta"]["versionId"] for u in uses}
    assert set(versions.values()) == {"1"}

    again = run_upload(str(copy.path), "--server", strict_hapi.url, "--server-profile",
                       "medplum")
    assert again.code == 0, again.output
    assert f"{n} resources in 0 transactions" in again.stdout
    # This server makes a version of every identical update: compare-before-write is what
    # kept them at 1, as --force shows.
    assert {u["id"]: u["meta"]["versionId"]
            for u in _ours(strict_hapi, "ClinicalUseDefinition", system)} == versions
    forced = run_upload(str(copy.path), "--server", strict_hapi.url, "--server-profile",
                        "medplum", "--force")
    assert forced.code == 0, forced.output
    assert {u["meta"]["versionId"]
            for u in _ours(strict_hapi, "ClinicalUseDefinition", system)} == {"2"}
    assert len(_ours(strict_hapi, "ClinicalUseDefinition", system)) == n_uses  # no duplicates


def test_withdrawn_use_under_server_assigned_ids(hapi: HapiServer, tmp_path: Path,
                                                 withdrawn_release: Path) -> None:
    with habits_of(hapi, up.profile("medplum")):
        _withdrawn_use_under_server_assigned_ids(hapi, tmp_path, withdrawn_release)


def _withdrawn_use_under_server_assigned_ids(strict_hapi: HapiServer, tmp_path: Path,
                                             withdrawn_release: Path) -> None:
    old = export_copy(tmp_path / "old", "mw")
    new = export_copy(tmp_path / "new", "mw", withdrawn_release / "ivig-fhir-bundle.json")
    system = "https://ivig-fhir.org/fhir/identifier/clinical-use-mw"
    args = ("--server", strict_hapi.url, "--server-profile", "medplum")
    assert run_upload(str(old.path), *args).code == 0
    deleted = run_upload(str(new.path), *args, "--delete-withdrawn", "--verify")
    assert deleted.code == 0, deleted.output
    assert "withdrawn: 3 deleted" in deleted.stdout  # the use, its Provenance and ValueSet
    values = {i["value"] for u in _ours(strict_hapi, "ClinicalUseDefinition", system)
              for i in u["identifier"]}
    n_uses = up.read_export(new.path).counts["ClinicalUseDefinition"]
    assert len(values) == n_uses and f"indication/{WITHDRAWN_USE}" not in values
