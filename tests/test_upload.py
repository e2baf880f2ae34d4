"""The upload stages that need no server: plan, retries, preflight, read-back comparison, the
dry run. (Against the real HAPI server: tests/integration.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import ivig_fhir.upload as up
from ivig_fhir.cli import app
from ivig_fhir.problems import BadInput
from ivig_fhir.upload.plan import references
from ivig_fhir.upload.preflight import capability_gaps
from ivig_fhir.upload.run import differences

ROOT = Path(__file__).resolve().parents[1]
EXPORT = ROOT / "output" / "ivig-fhir-bundle.json"


def test_public_api_is_complete() -> None:
    import types

    public = {n for n in dir(up)
              if not n.startswith("_") and not isinstance(getattr(up, n), types.ModuleType)}
    assert public == set(up.__all__)


@pytest.mark.parametrize("cap", [1, 7, 25, 100, None])
def test_chunks_put_referenced_resources_first(cap: int | None) -> None:
    export = up.read_export(EXPORT)
    chunks = up.plan_chunks(export.entries, cap)
    keys = [e.key for c in chunks for e in c.entries]
    assert sorted(keys) == sorted(e.key for e in export.entries)  # each once
    chunk_of = {e.key: c.index for c in chunks for e in c.entries}
    for chunk in chunks:
        assert len(chunk.entries) <= (cap or len(keys))
        for entry in chunk.entries:
            for ref in references(entry.resource):
                if ref in chunk_of:
                    assert chunk_of[ref] <= chunk.index, (entry.key, ref)
    if cap == 25:  # no reference cycle in the export: every chunk but the last is full
        full, rest = divmod(len(keys), 25)
        assert [len(c.entries) for c in chunks] == [25] * full + ([rest] if rest else [])


def _entry(key: str, *refs: str) -> up.Entry:
    kind, id_ = key.split("/")
    return up.Entry(key, {"resourceType": kind, "id": id_,
                          "link": [{"reference": r} for r in refs]}, None)


def test_a_reference_cycle_stays_in_one_chunk() -> None:
    entries = (_entry("Group/a"), _entry("Group/b", "Group/c"), _entry("Group/c", "Group/b"),
               _entry("Group/d", "Group/a"))
    chunks = up.plan_chunks(entries, 2)
    assert [[e.key for e in c.entries] for c in chunks] == [
        ["Group/a"], ["Group/b", "Group/c"], ["Group/d"]]
    with pytest.raises(BadInput, match="reference each other in a cycle"):
        up.plan_chunks(entries, 1)


def test_referenced_resources_move_ahead_of_file_order() -> None:
    entries = (_entry("Group/x", "Group/y"), _entry("Group/y"))
    assert [e.key for e in up.plan_chunks(entries, 1)[0].entries] == ["Group/y"]


def test_relabel_keeps_references_inside_the_copy() -> None:
    bundle = json.loads(EXPORT.read_text())
    copy = up.relabel(bundle, "z")
    keys = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in copy["entry"]}
    assert all(k.endswith("-z") for k in keys)
    for entry in copy["entry"]:
        assert entry["request"]["url"] in keys
        assert all(ref in keys for ref in references(entry["resource"]))


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert up.retry_after(httpx.Response(429, headers={"Retry-After": "7"})) == 7
    assert up.retry_after(httpx.Response(503, headers={"Retry-After": later}), now) == 30
    assert up.retry_after(httpx.Response(503, headers={"Retry-After": "soon"})) is None
    assert up.retry_after(httpx.Response(503)) is None


def _sender(answers: list[int | Exception], policy: up.RetryPolicy,
            waits: list[float], headers: dict[str, str] | None = None) -> up.Sender:
    def handler(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer, headers=headers or {}, json={})

    # httpx's transport hook: these tests are about the retry loop, not about a server
    client = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://fhir/")
    return up.Sender(client, policy, sleep=waits.append, rng=lambda: 1.0)


def test_retries_back_off_exponentially_and_stop_at_the_count() -> None:
    waits: list[float] = []
    sender = _sender([502, httpx.ConnectError("refused"), 504, 200], up.RetryPolicy(3), waits)
    assert sender.send("POST", "", what="chunk 1/1").status_code == 200
    assert waits == [1.0, 2.0, 4.0]
    gave_up = _sender([503, 503, 503], up.RetryPolicy(2), [])
    with pytest.raises(up.GaveUp, match="HTTP 503 Service Unavailable; gave up after 3"):
        gave_up.send("POST", "", what="chunk 1/1")


def test_retry_after_is_honoured_and_bounded_by_the_time_limit() -> None:
    waits: list[float] = []
    sender = _sender([429, 200], up.RetryPolicy(), waits, {"Retry-After": "12"})
    assert sender.send("GET", "metadata", what="metadata").status_code == 200
    assert waits == [12.0]
    late = _sender([429], up.RetryPolicy(max_time=10), [], {"Retry-After": "60"})
    with pytest.raises(up.GaveUp, match="would pass the retry time limit of 10s"):
        late.send("GET", "metadata", what="metadata")


def test_client_errors_are_not_retried() -> None:
    waits: list[float] = []
    assert _sender([400], up.RetryPolicy(), waits).send("POST", "", what="x").status_code == 400
    assert waits == []


def test_preflight_names_every_gap() -> None:
    export = up.read_export(EXPORT)
    capability = {"resourceType": "CapabilityStatement", "fhirVersion": "4.3.0",
                  "rest": [{"mode": "server", "interaction": [{"code": "batch"}],
                            "resource": [{"type": "Group", "interaction": [{"code": "read"}]}]}]}
    gaps = capability_gaps(capability, export, transactions=True)
    assert gaps[0] == "the server speaks FHIR 4.3.0, the export is FHIR 5.0.0"
    assert gaps[1].startswith("the server does not support transactions")
    assert "AdverseEvent, ClinicalUseDefinition, CodeSystem" in gaps[2]
    assert gaps[3] == "the server does not allow update (PUT) of Group"
    assert capability_gaps(capability, export, transactions=False)[1].startswith(
        "the server does not support the resource type")


def test_differences_ignore_meta_and_xhtml_serialisation() -> None:
    exported = {"resourceType": "Group", "id": "g", "active": True,
                "text": {"status": "generated",
                         "div": '<div xmlns="http://www.w3.org/1999/xhtml">it&#x27;s</div>'}}
    stored = {**exported, "meta": {"versionId": "3"},
              "text": {"status": "generated",
                       "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">it's</div>"}}
    assert differences(exported, stored) == []
    assert differences(exported, {**stored, "active": 1}) == [
        ("Group.active", "export has True, server has 1")]
    assert differences({**exported, "name": "x"}, stored) == [
        ("Group.name", "missing on the server")]


def test_dry_run_sends_nothing_and_shows_the_plan() -> None:
    result = CliRunner().invoke(app, ["upload", str(EXPORT), "--server", "http://127.0.0.1:9/fhir",
                                      "--max-entries", "100", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "server: http://127.0.0.1:9/fhir (not contacted: --dry-run)" in result.output
    entries = up.read_export(EXPORT).entries
    provenances = sum(e.key.startswith("Provenance/") for e in entries)
    assert f"{-(-len(entries) // 100)} transactions, referenced resources first:" in result.output
    assert f"  {provenances}  Provenance" in result.output


def test_unreachable_server_fails_without_showing_the_token(tmp_path: Path) -> None:
    token = "very-secret-token-value"  # noqa: S105 - a test value that must not show
    result = CliRunner().invoke(
        app, ["upload", str(EXPORT), "--server", "http://127.0.0.1:9/fhir", "--max-retries",
              "1"], env={"IVIG_FHIR_TOKEN": token})
    assert result.exit_code == 1
    assert "http://127.0.0.1:9/fhir/metadata: connection failed (ConnectError); gave up" in (
        result.output)
    assert token not in result.output


@pytest.mark.parametrize("args", [
    ["--oauth-token-url", "http://127.0.0.1:9/token"],
    ["--client-id", "x"],
    ["--oauth-token-url", "http://127.0.0.1:9/token", "--client-id", "x"],
])
def test_incomplete_oauth_options_are_bad_usage(args: list[str]) -> None:
    result = CliRunner().invoke(app, ["upload", str(EXPORT), "--server", "http://h/fhir", *args])
    assert result.exit_code == 2
    assert "ivig-fhir: " in result.output


def test_no_server_is_bad_usage() -> None:
    result = CliRunner().invoke(app, ["upload", str(EXPORT)], env={"IVIG_FHIR_SERVER": ""})
    assert result.exit_code == 2
    assert "no server: pass --server URL or set IVIG_FHIR_SERVER" in result.output
