"""The R4 export into a real HAPI R4 server (scripts/hapi-server --fhir-version R4): it loads
with --verify, a second identical upload changes nothing (same versionIds), the uses are found
from the product as Basic resources, and R4 and R5 are never mixed."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivig_fhir.bundle import BUNDLE_FILE, build_bundle, dumps
from ivig_fhir.convert import to_r4
from ivig_fhir.formats import Export, write_formats
from ivig_fhir.load import load_source_data
from ivig_fhir.mapping import map_curated
from ivig_fhir.pipeline import MANIFEST_FILE, BuildSettings, manifest
from ivig_fhir.write import write_tree

from .conftest import EXPORT, run_upload
from .hapi import ROOT, HapiServer

pytestmark = pytest.mark.java


@pytest.fixture(scope="module")
def hapi_r4(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HapiServer]:
    server = HapiServer(tmp_path_factory.mktemp("hapi-r4"), fhir_version="R4")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def r4_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The R4 export and its manifest as `build --fhir-version R4` writes them, without the
    build's validation step (tests/test_r4.py holds the build and the referee to that)."""
    out = tmp_path_factory.mktemp("r4") / "out"
    settings = BuildSettings(ROOT / "source_data", out, fhir_version="R4")
    curated = load_source_data(settings.source_dir)
    resources = to_r4(map_curated(curated, adverse_events=True))
    export = Export(build_bundle(curated, resources, fhir_version="R4"), curated.release,
                    "4.0.1")
    files = write_formats(export, settings.formats)
    counts = Counter(m.resource_type for m in resources)
    files[MANIFEST_FILE] = dumps(manifest(settings, export, counts, files))
    write_tree(out, files)
    return out / BUNDLE_FILE


def test_r4_export_loads_reads_back_and_reuploads_unchanged(hapi_r4: HapiServer,
                                                           r4_export: Path) -> None:
    bundle = json.loads(r4_export.read_text())
    counts = dict(Counter(e["resource"]["resourceType"] for e in bundle["entry"]))
    keys = [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]]
    # The uses, products and US authorizations: R5 types R4 lacks, counted in the R5 export.
    as_basic = {"ClinicalUseDefinition", "RegulatedAuthorization", "MedicinalProductDefinition"}
    r5 = json.loads(EXPORT.read_text())
    want = sum(e["resource"]["resourceType"] in as_basic for e in r5["entry"])
    assert counts["Basic"] == want > 0 and not as_basic & set(counts)

    run = run_upload(str(r4_export), "--server", hapi_r4.url, "--verify")
    assert run.code == 0, run.output
    assert "FHIR 4.0.1" in run.output
    assert f"verified: all {len(keys)} resources" in run.output
    assert hapi_r4.counts(counts) == counts
    versions = hapi_r4.versions(keys)
    assert set(versions.values()) == {"1"}

    again = run_upload(str(r4_export), "--server", hapi_r4.url)
    assert again.code == 0, again.output
    assert f"0 created, 0 updated, {len(keys)} unchanged" in again.stdout
    assert hapi_r4.versions(keys) == versions

    # R5's ClinicalUseDefinition?subject= becomes a search on Basic.subject.
    with hapi_r4.client() as client:
        found = client.get("Basic", params={"subject": "Medication/ivig", "_summary": "count"})
        # A label's authorization is found from its product (Basic as well).
        authorized = client.get("Basic", params={"subject": "Basic/mpd-privigen"}).json()
    # The uses whose (first) subject is the generic, counted in the export itself.
    generic = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Basic"
               and e["resource"].get("subject", {}).get("reference") == "Medication/ivig"]
    assert len(generic) > 100 and found.json()["total"] == len(generic)
    assert "ra-privigen" in {e["resource"]["id"] for e in authorized.get("entry", [])}


def test_r4_and_r5_are_never_mixed(hapi_r4: HapiServer, hapi: HapiServer,
                                   r4_export: Path) -> None:
    """The R5 export is refused by the R4 server and the R4 export by the R5 server, before
    anything is sent."""
    for export, server, theirs in ((EXPORT, hapi_r4, "4.0"), (r4_export, hapi, "5.0")):
        run = run_upload(str(export), "--server", server.url, env=server.env())
        assert run.code == 2, run.output
        assert theirs in run.output and "FHIR" in run.output, run.output
