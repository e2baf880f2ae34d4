"""Faults between the uploader and the real server, injected by a proxy in between."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import export_copy, run_upload
from .hapi import HapiServer
from .proxy import FaultProxy

pytestmark = pytest.mark.java


def test_transient_faults_are_retried_to_the_same_final_state(hapi: HapiServer,
                                                               tmp_path: Path) -> None:
    copy = export_copy(tmp_path, "f")
    faults = [("status", 429, {"Retry-After": "1"}), None,   # chunk 1, then its retry
              ("status", 503, {}), None,                      # chunk 2
              ("reset",), None,                               # chunk 3
              ("slow", 8), None,                              # chunk 4: lands, answer too late
              ("status", 502, {}), None]                      # chunk 5
    with FaultProxy(hapi.url, faults) as proxy:
        run = run_upload(str(copy.path), "--server", proxy.url, "--max-entries", "50",
                         "--timeout", "4", "--verify", env=hapi.env())
    assert run.code == 0, run.output
    n = len(copy.keys)
    chunks = -(-n // 50)
    for shown in (f"chunk 1/{chunks}: HTTP 429 Too Many Requests; retry 1 in 1.0s",
                  f"chunk 2/{chunks}: HTTP 503 Service Unavailable; retry 1 in",
                  f"chunk 3/{chunks}: connection failed (",  # ReadError, as a rule
                  f"chunk 4/{chunks}: no answer within 4.0s; retry 1",
                  f"chunk 5/{chunks}: HTTP 502 Bad Gateway; retry 1"):
        assert shown in run.stderr, run.stderr
    assert not proxy.faults  # every fault fired
    # Chunk 4 landed before its answer was lost: its resend finds nothing to change.
    assert f"{n} resources in {chunks} transactions" in run.stdout
    assert f"{n - 50} created, 0 updated, 50 unchanged" in run.stdout
    assert f"verified: all {n} resources" in run.stdout
    assert set(hapi.versions(copy.keys).values()) == {"1"}


def test_retries_are_bounded_and_the_report_names_what_landed(hapi: HapiServer,
                                                              tmp_path: Path) -> None:
    copy = export_copy(tmp_path, "g")
    faults = [None, ("status", 503, {"Retry-After": "1"}), ("status", 503, {"Retry-After": "1"}),
              ("status", 503, {"Retry-After": "1"})]
    with FaultProxy(hapi.url, faults) as proxy:
        run = run_upload(str(copy.path), "--server", proxy.url, "--max-entries", "100",
                         "--max-retries", "2", env=hapi.env())
    assert run.code == 1
    n = len(copy.keys)
    chunks = -(-n // 100)
    rest = "chunk 3" if chunks == 3 else f"chunks 3-{chunks}"
    assert (f"chunk 2/{chunks}: HTTP 503 Service Unavailable; gave up after 3 attempts. landed: "
            f"chunk 1 (100 resources); failed: chunk 2 (100 resources); not sent: {rest} "
            f"({n - 200} resources)" in run.stderr), run.stderr
    versions = hapi.versions(copy.keys)
    assert sum(v == "1" for v in versions.values()) == 100
    rerun = run_upload(str(copy.path), "--server", hapi.url, "--max-entries", "100",
                       env=hapi.env())
    assert f"{n - 100} created, 0 updated, 100 unchanged" in rerun.stdout, rerun.output
    assert set(hapi.versions(copy.keys).values()) == {"1"}


def test_a_refused_chunk_shows_the_servers_operation_outcome(hapi: HapiServer,
                                                             tmp_path: Path) -> None:
    # HAPI refuses client-assigned ids that are all digits (a known trap of uploads).
    copy = export_copy(tmp_path, "h")
    groups = [e for e in copy.bundle["entry"] if e["resource"]["resourceType"] == "Group"][:3]
    bad = {"fullUrl": "https://ivig-fhir.org/fhir/Medication/12345",
           "resource": {"resourceType": "Medication", "id": "12345", "status": "active"},
           "request": {"method": "PUT", "url": "Medication/12345"}}
    copy.bundle["entry"] = [*groups, bad]  # chunks: [group 1, group 2], [group 3, bad]
    copy.path.write_text(json.dumps(copy.bundle))
    run = run_upload(str(copy.path), "--server", hapi.url, "--max-entries", "2", env=hapi.env())
    assert run.code == 1
    assert (f"{hapi.url} chunk 2/2: error: HAPI-0960: Can not create resource with ID[12345]"
            in run.stderr), run.stderr
    assert "[processing]" in run.stderr
    assert ("ivig-fhir: chunk 2/2: the server refused it: HTTP 400 Bad Request. landed: "
            "chunk 1 (2 resources); failed: chunk 2 (2 resources)") in run.stderr
    keys = [f"Group/{g['resource']['id']}" for g in groups]
    stored = hapi.read_all([*keys, "Medication/12345"])
    # chunk 1 landed; chunk 2 is a transaction, so its valid Group did not land either
    assert [stored[k] is not None for k in keys] == [True, True, False]
    assert stored["Medication/12345"] is None
