"""Compare before write, withdrawn content and server profiles, against the real HAPI server.

Other servers' habits are HAPI's own settings, set at runtime on the session's server
(`habits_of`), not a fake server: as Medplum, it refuses client-assigned ids and makes a
version of every identical update. Each profile's limits: test_upload_each_profile.py.
"""

from __future__ import annotations

import json
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
    system = "https://ivig-fhir.org/fhir/m/identifier/clinical-use"
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
                      "https://ivig-fhir.org/fhir/m/identifier/medication-knowledge")
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
    system = "https://ivig-fhir.org/fhir/mw/identifier/clinical-use"
    args = ("--server", strict_hapi.url, "--server-profile", "medplum")
    assert run_upload(str(old.path), *args).code == 0
    deleted = run_upload(str(new.path), *args, "--delete-withdrawn", "--verify")
    assert deleted.code == 0, deleted.output
    assert "withdrawn: 3 deleted" in deleted.stdout  # the use, its Provenance and ValueSet
    values = {i["value"] for u in _ours(strict_hapi, "ClinicalUseDefinition", system)
              for i in u["identifier"]}
    n_uses = up.read_export(new.path).counts["ClinicalUseDefinition"]
    assert len(values) == n_uses and f"indication/{WITHDRAWN_USE}" not in values


def _names(data: Any, urls: set[str]) -> bool:
    return any(u in json.dumps(data) for u in urls)


def _later_release(old: ExportCopy, folder: Path, drop: set[str]) -> ExportCopy:
    """A release made from `old` without the resources `drop` (Type/id), the Provenance of
    each, and every element that names a dropped CodeSystem or StructureDefinition."""
    entries = old.bundle["entry"]
    urls = {e["resource"]["url"] for e in entries if "url" in e["resource"]
            and f"{e['resource']['resourceType']}/{e['resource']['id']}" in drop}

    def clean(data: Any) -> Any:  # an element (list item) naming one goes; then empty ones
        if isinstance(data, dict):
            return {k: c for k, v in data.items() if (c := clean(v)) not in ([], {})}
        if isinstance(data, list):
            return [c for v in data if not _names(v, urls) and (c := clean(v)) not in ([], {})]
        return data

    kept = []
    for e in entries:
        r = e["resource"]
        targets = {t.get("reference") for t in r.get("target", [])}
        if f"{r['resourceType']}/{r['id']}" in drop or (targets and targets <= drop):
            continue
        kept.append({**e, "resource": clean(r)})
    folder.mkdir(parents=True)
    bundle = {**old.bundle, "entry": kept}
    (folder / "bundle.json").write_text(json.dumps(bundle))
    (folder / "manifest.json").write_text((old.path.parent / "manifest.json").read_text())
    return ExportCopy(folder / "bundle.json", bundle)


def test_withdrawn_whole_type_code_system_and_structure_definition(hapi: HapiServer,
                                                                   tmp_path: Path) -> None:
    """The release stops publishing adverse events (the whole type, with its Provenance), one
    CodeSystem and one StructureDefinition: --dry-run lists them and changes nothing, --retire
    retires what has a status, --delete-withdrawn deletes them all; nothing else moves, here or
    in the other copies on the server."""
    old = export_copy(tmp_path / "old", "wt")
    code_system = "CodeSystem/undesirable-effect-frequency-wt"
    structure = "StructureDefinition/conflicts-with-wt"
    events = {k for k in old.keys if k.startswith("AdverseEvent/")}
    new = _later_release(old, tmp_path / "new", events | {code_system, structure})
    gone = sorted(set(old.keys) - set(new.keys))
    provenances = [k for k in gone if k.startswith("Provenance/")]
    assert len(events) == len(provenances) == 8 and len(gone) == 18
    assert run_upload(str(old.path), "--server", hapi.url, env=hapi.env()).code == 0
    before = hapi.versions(old.keys)
    counts = hapi.counts({"AdverseEvent", "Provenance", "CodeSystem", "StructureDefinition"})

    for flag, listed in (("--retire", "retire"), ("--delete-withdrawn", "delete")):
        dry = run_upload(str(new.path), "--server", hapi.url, flag, "--dry-run", env=hapi.env())
        assert dry.code == 0, dry.output
        assert "withdrawn: 18 resource(s)" in dry.stdout
        would = 18 if listed == "delete" else 2  # retire: the CodeSystem and the SD
        assert f"--dry-run: nothing changed (would {listed} {would})" in dry.stdout
        for key in (code_system, structure):
            assert f"{listed:7s} {key}" in dry.stdout, dry.stdout
        for key in events:
            assert f"{'delete' if listed == 'delete' else 'keep':7s} {key}" in dry.stdout
        assert hapi.versions(old.keys) == before

    retired = run_upload(str(new.path), "--server", hapi.url, "--retire", env=hapi.env())
    assert retired.code == 0, retired.output
    assert "withdrawn: 2 retired" in retired.stdout
    stored, after = hapi.read_all(old.keys), hapi.versions(old.keys)
    changed = {k for k in new.keys if not same(_by_key(new)[k], _by_key(old)[k])}
    for key in old.keys:  # resource by resource
        resource = stored[key]
        assert resource is not None, key
        if key in (code_system, structure):
            assert resource["status"] == "retired" and after[key] == "2"
            assert same({**_by_key(old)[key], "status": "retired"}, resource)
        elif key in gone:  # an AdverseEvent or a Provenance: no status for "withdrawn"
            assert after[key] == before[key] and same(_by_key(old)[key], resource)
        else:
            assert same(_by_key(new)[key], resource), key
            assert after[key] == ("2" if key in changed else before[key]), key

    deleted = run_upload(str(new.path), "--server", hapi.url, "--delete-withdrawn",
                         env=hapi.env())
    assert deleted.code == 0, deleted.output
    assert "withdrawn: 18 deleted" in deleted.stdout
    stored = hapi.read_all(old.keys)
    assert all(stored[k] is None for k in gone)
    assert {k: v for k, v in hapi.versions(new.keys).items()} == {k: after[k] for k in new.keys}
    # Only ours went: every other copy's resources of those types are still there.
    assert hapi.counts({"AdverseEvent", "Provenance", "CodeSystem", "StructureDefinition"}) == {
        "AdverseEvent": counts["AdverseEvent"] - 8, "Provenance": counts["Provenance"] - 8,
        "CodeSystem": counts["CodeSystem"] - 1,
        "StructureDefinition": counts["StructureDefinition"] - 1}
