"""The R4B export into a real HAPI R4B server (scripts/hapi-server --fhir-version R4B): it
loads, reads back, re-uploads without new versions, and the versions are never mixed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ivig_fhir.cli import app

from .conftest import EXPORT, run_upload
from .hapi import HapiServer

pytestmark = pytest.mark.java


@pytest.fixture(scope="module")
def hapi_r4b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HapiServer]:
    server = HapiServer(tmp_path_factory.mktemp("hapi-r4b"), fhir_version="R4B")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def r4b_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("r4b")
    result = CliRunner().invoke(app, ["build", "--fhir-version", "R4B", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out / "ivig-fhir-bundle.json"


def test_r4b_export_loads_reads_back_and_reuploads_unchanged(hapi_r4b: HapiServer,
                                                             r4b_export: Path) -> None:
    bundle = json.loads(r4b_export.read_text())
    counts: dict[str, int] = {}
    for e in bundle["entry"]:
        counts[e["resource"]["resourceType"]] = counts.get(e["resource"]["resourceType"], 0) + 1
    keys = [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]]

    run = run_upload(str(r4b_export), "--server", hapi_r4b.url, "--max-entries", "100",
                     "--verify")
    assert run.code == 0, run.output
    assert hapi_r4b.counts(counts) == counts
    versions = hapi_r4b.versions(keys)
    assert set(versions.values()) == {"1"}

    again = run_upload(str(r4b_export), "--server", hapi_r4b.url)
    assert again.code == 0, again.output
    assert f"0 created, 0 updated, {len(keys)} unchanged" in again.stdout
    assert hapi_r4b.versions(keys) == versions


def test_versions_are_never_mixed(hapi_r4b: HapiServer, hapi: HapiServer,
                                  r4b_export: Path) -> None:
    """The R5 export is refused by the R4B server and the R4B export by the R5 server, before
    anything is sent."""
    for export, server, theirs in ((EXPORT, hapi_r4b, "4.3"), (r4b_export, hapi, "5.0")):
        run = run_upload(str(export), "--server", server.url, env=server.env())
        assert run.code == 2, run.output
        assert theirs in run.output and "FHIR" in run.output, run.output
