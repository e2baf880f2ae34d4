"""Every server profile against the real HAPI server set to that profile's limits.

One server stands for all of them: the session's HAPI server takes each profile's habits in
turn at runtime (`habits_of`: HAPI's own maximum transaction size, client id strategy and
no-op update suppression, and a byte limit), so a transaction above a limit gets a real 413
from the server and a landed upload proves the chunking kept to it. For each profile: probe
the 413, upload the export with `--server-profile X --verify`, then upload it again, which
must send no write. Azure's `x-ms-retry-after-ms` (HAPI cannot send it) comes from the fault
proxy; HealthLake's request rate is counted from the proxy's arrival times.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from ivig_fhir import upload as up
from ivig_fhir.upload.profiles import PROFILES, ServerProfile

from .conftest import ExportCopy, export_copy, habits_of, run_upload
from .hapi import HapiServer
from .proxy import FaultProxy

pytestmark = pytest.mark.java


Arrival = tuple[float, str, str, bytes]


def _writes(proxy: FaultProxy) -> list[Arrival]:
    """Requests that can change the server: transactions and PUT/DELETE. Searches (POST
    Type/_search) and batches of reads (--verify reads back) are not writes."""
    base = httpx.URL(proxy.upstream).path.rstrip("/")
    return [a for a in proxy.arrivals
            if a[1] in ("PUT", "DELETE") or (a[1] == "POST" and a[2].rstrip("/") == base
                                             and not _reads_only(a[3]))]


def _reads_only(body: bytes) -> bool:
    bundle = json.loads(body)
    return bundle.get("type") == "batch" and all(
        e["request"]["method"] == "GET" for e in bundle.get("entry", []))


def _probe_limits(server: HapiServer, profile: ServerProfile) -> None:
    """The server refuses one entry / one byte above the profile's limits: chunking that
    ignored them could not land."""
    with server.client() as c:
        if profile.max_entries:
            entries = [{"request": {"method": "GET", "url": "Group?_count=0"}}
                       for _ in range(profile.max_entries + 1)]
            answer = c.post("", json={"resourceType": "Bundle", "type": "transaction",
                                      "entry": entries})
            assert answer.status_code == 413, answer.text[:300]
        if profile.max_bytes:
            answer = c.post("", content=b" " * (profile.max_bytes + 1),
                            headers={"Content-Type": "application/fhir+json"})
            assert answer.status_code == 413, answer.text[:300]


def _copy_above_limits(folder: Path, profile: ServerProfile) -> ExportCopy:
    """The export relabelled for this profile; where one copy would fit in a single
    transaction under the profile's entry limit (Azure's 500), two copies in one Bundle."""
    first = export_copy(folder, profile.name)
    if not profile.max_entries or len(first.keys) > profile.max_entries:
        return first
    second = export_copy(folder / "second", f"{profile.name}2")
    bundle = {**first.bundle, "entry": first.bundle["entry"] + second.bundle["entry"]}
    first.path.write_text(json.dumps(bundle))
    return ExportCopy(first.path, bundle)


def _per_second(arrivals: list[Arrival], jitter: float = 0.05) -> int:
    """The most requests that arrived within any one second (less `jitter` for loopback
    scheduling: requests paced 1/rate apart may arrive a few milliseconds closer)."""
    times = sorted(a[0] for a in arrivals)
    return max((sum(1 for t in times[i:] if t < start + 1.0 - jitter)
                for i, start in enumerate(times)), default=0)


def _assert_paced(arrivals: list[Arrival], rate: float) -> None:
    """The requests kept to `rate`, as a server counting arrivals sees them.

    The client spaces its sends 1/rate apart; the proxy records when each request reached it.
    On a loaded machine one request can be held up between the two (CI once saw six arrivals
    in one second: the first of them had been delayed, the other five were on time), so each
    check allows one request's delay: the n requests took at least (n-2)/rate seconds, and no
    second saw more than rate+1 of them. A client sending 20% too fast fails the first from
    n = 8 on ((n-1)/1.2 < n-2); one sending bursts fails the second."""
    times = sorted(a[0] for a in arrivals)
    assert len(times) > max(rate + 2, 8), arrivals  # enough requests for the limit to bind
    assert times[-1] - times[0] >= (len(times) - 2) / rate, arrivals
    assert _per_second(arrivals) <= rate + 1, arrivals


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profile_against_hapi_at_its_limits(name: str, hapi: HapiServer,
                                            tmp_path: Path) -> None:
    profile = PROFILES[name]
    copy = _copy_above_limits(tmp_path, profile)
    export = up.read_export(copy.path)
    chunks = up.plan_chunks(export.entries, profile.max_entries, profile.max_bytes)
    if profile.max_entries:
        assert len(chunks) > 1  # the limit binds: one transaction would get 413
    faults: list[Any] = []
    if profile.retry_header == "x-ms-retry-after-ms":
        faults = [("status", 429, {"x-ms-retry-after-ms": "2500"})]
    with habits_of(hapi, profile):
        _probe_limits(hapi, profile)
        with FaultProxy(hapi.url, faults) as proxy:
            first = run_upload(str(copy.path), "--server", proxy.url, "--server-profile",
                               name, "--verify", env=hapi.env())
            first_arrivals = list(proxy.arrivals)
            first_writes = _writes(proxy)
            versions = hapi.versions(copy.keys) if profile.client_ids else {}
            proxy.arrivals.clear()
            again = run_upload(str(copy.path), "--server", proxy.url, "--server-profile",
                               name, env=hapi.env())
            again_writes = _writes(proxy)
    assert first.code == 0, first.output
    assert again.code == 0, again.output
    n = len(copy.keys)
    assert f"verified: all {n}" in first.stdout
    # Every chunk landed once, plus the one resent after the injected 429.
    assert len(first_writes) == len(chunks) + len(faults)
    assert all(len(body) <= (profile.max_bytes or len(body)) for *_, body in first_writes)
    assert again_writes == [], again.output
    assert f"{n} resources in 0 transactions" in again.stdout
    if profile.client_ids:
        assert hapi.versions(copy.keys) == versions
        assert set(versions.values()) == {"1"}
    if faults:  # waited as the header said, in milliseconds, before resending
        assert "HTTP 429" in first.output and "retry 1 in 2.5s" in first.output, first.output
        assert first_writes[1][0] - first_writes[0][0] >= 2.5
    if profile.requests_per_second:
        _assert_paced(first_arrivals, profile.requests_per_second)


def test_byte_limited_chunking(hapi: HapiServer, tmp_path: Path) -> None:
    """Google's limit is in bytes (50 MB); the export is 2 MB, so a 600 kB limit on the server
    (as a proxy in front of it might set) and --max-bytes make the chunking bind."""
    google = PROFILES["google"]
    limit = 600_000
    fits = export_copy(tmp_path / "fits", "bytes")
    too_big = export_copy(tmp_path / "big", "bytes2")
    with habits_of(hapi, google):
        hapi.set_habits(max_request_bytes=limit)
        with FaultProxy(hapi.url) as proxy:
            refused = run_upload(str(too_big.path), "--server", proxy.url, "--server-profile",
                                 "google", env=hapi.env())
            proxy.arrivals.clear()
            landed = run_upload(str(fits.path), "--server", proxy.url, "--server-profile",
                                "google", "--max-bytes", str(limit), "--verify",
                                env=hapi.env())
            writes = _writes(proxy)
    assert refused.code == 1 and "HTTP 413" in refused.output, refused.output
    assert landed.code == 0, landed.output
    chunks = up.plan_chunks(up.read_export(fits.path).entries, None, limit)
    assert len(writes) == len(chunks) >= 3
    assert all(len(body) <= limit for *_, body in writes)
