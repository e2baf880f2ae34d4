"""Server profiles, byte-and-entry chunking, retry headers, addressing by identifier and the
retire table: the parts that need no server (against real HAPI: tests/integration)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

import ivig_fhir.upload as up
from ivig_fhir.problems import BadInput
from ivig_fhir.upload.plan import ENVELOPE_BYTES, entry_bytes, references
from ivig_fhir.upload.preflight import profile_warnings
from ivig_fhir.upload.withdraw import CANNOT_RETIRE, RETIRE

ROOT = Path(__file__).resolve().parents[1]
EXPORT = ROOT / "output" / "ivig-fhir-bundle.json"
SERVERS_DOC = ROOT / "docs" / "servers.md"


@pytest.mark.parametrize(("entries", "max_bytes"), [(None, 300_000), (50, 200_000),
                                                    (160, 250_000), (500, None)])
def test_chunks_honour_entry_and_byte_limits_together(entries: int | None,
                                                      max_bytes: int | None) -> None:
    export = up.read_export(EXPORT)
    chunks = up.plan_chunks(export.entries, entries, max_bytes)
    assert sorted(e.key for c in chunks for e in c.entries) == sorted(
        e.key for e in export.entries)
    chunk_of = {e.key: c.index for c in chunks for e in c.entries}
    for chunk in chunks:
        assert len(chunk.entries) <= (entries or len(export.entries))
        if max_bytes:
            assert ENVELOPE_BYTES + sum(entry_bytes(e) for e in chunk.entries) <= max_bytes
        for entry in chunk.entries:
            for ref in references(entry.resource):
                if ref in chunk_of:
                    assert chunk_of[ref] <= chunk.index
    if max_bytes:  # the byte limit, not the entry limit, is what cut these
        assert len(chunks) > -(-len(export.entries) // (entries or len(export.entries)))


def test_a_resource_larger_than_the_byte_limit_is_refused_before_sending() -> None:
    export = up.read_export(EXPORT)
    with pytest.raises(BadInput, match="more than a transaction may hold"):
        up.plan_chunks(export.entries, None, 2_000)


def test_real_transaction_bodies_stay_under_the_byte_limit() -> None:
    # entry_bytes must be an upper bound of what is really sent, also with conditional URLs.
    export = up.read_export(EXPORT)
    for client_ids in (True, False):
        addressing = up.Addressing(export, client_ids)
        # A limit above the largest single resource (the diabetes ValueSet expansion, ~200 kB)
        # and well below the export, so chunks close on bytes.
        for chunk in up.plan_chunks(export.entries, None, 300_000):
            body = up.run.transaction_body(addressing, chunk)
            assert len(json.dumps(body, ensure_ascii=False).encode()) <= 300_000


def test_azure_retry_after_in_milliseconds() -> None:
    assert up.retry_after(httpx.Response(429, headers={"x-ms-retry-after-ms": "1500"})) == 1.5
    assert up.retry_after(httpx.Response(429, headers={"x-ms-retry-after-ms": "250",
                                                       "Retry-After": "9"})) == 0.25


def test_rate_limit_spaces_requests() -> None:
    waits: list[float] = []
    client = httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200)),
                          base_url="http://x/")
    now = [100.0]
    sender = up.Sender(client, up.RetryPolicy(), sleep=waits.append, requests_per_second=10,
                       clock=lambda: now[0])
    for _ in range(3):
        sender.send("GET", "metadata", what="t")
    assert sender.requests == 3
    # The clock stands still: each request waits for its slot, 0.1 s after the previous one.
    assert waits == pytest.approx([0.1, 0.2])
    now[0] += 1.0  # a request after a pause goes at once
    sender.send("GET", "metadata", what="t")
    assert len(waits) == 2


def test_without_client_ids_writes_are_conditional_updates_with_server_references() -> None:
    export = up.read_export(EXPORT)
    addressing = up.Addressing(export, client_ids=False)
    by_type = {e.resource_type: e for e in export.entries}
    method, url, body, full_url = addressing.request(by_type["ClinicalUseDefinition"])
    assert method == "PUT"
    assert re.fullmatch(r"ClinicalUseDefinition\?identifier=https://ivig-fhir\.org/fhir/"
                        r"identifier/clinical-use\|[\w/%.-]+", url), url
    assert "id" not in body and full_url and full_url.startswith("urn:uuid:")
    assert body["subject"][0]["reference"] == addressing.urn("Medication/ivig")
    addressing.learn(by_type["Medication"], "Medication/17/_history/1")
    _, _, body, _ = addressing.request(by_type["ClinicalUseDefinition"])
    assert body["subject"][0]["reference"] == "Medication/17"
    assert addressing.request(by_type["CodeSystem"])[1].startswith("CodeSystem?url=https://")
    # R5 Provenance has no identifier: created, or updated by the server id found for it
    assert addressing.request(by_type["Provenance"])[:2] == ("POST", "Provenance")


def test_every_type_of_the_export_has_a_retire_rule_or_a_stated_reason() -> None:
    export = up.read_export(EXPORT)
    ns = up.state.namespace(export)
    with_identifier = {e.resource_type for e in export.entries
                       if up.state.our_identifier(e.resource, ns)}
    assert with_identifier == {"AdverseEvent", "ClinicalUseDefinition", "DocumentReference",
                               "Group", "Medication", "MedicationKnowledge",
                               "MedicinalProductDefinition", "RegulatedAuthorization",
                               "ValueSet"}
    assert with_identifier <= set(RETIRE) | set(CANNOT_RETIRE)
    cud = next(e.resource for e in export.entries
               if e.resource_type == "ClinicalUseDefinition")
    retired = RETIRE["ClinicalUseDefinition"](cud)
    assert retired is not None and retired["status"]["coding"][0]["code"] == "retired"
    assert RETIRE["ClinicalUseDefinition"](retired) is None  # already retired: no new version
    authorization = next(e.resource for e in export.entries
                         if e.resource_type == "RegulatedAuthorization")
    retired = RETIRE["RegulatedAuthorization"](authorization)  # no status in the export
    assert retired is not None and retired["status"]["coding"][0]["code"] == "retired"


def test_every_identifier_system_of_the_export_is_known_to_withdrawal() -> None:
    """A release that drops a whole type is still searched for by its system: the table must
    name every system the export uses."""
    export = up.read_export(EXPORT)
    ns = up.state.namespace(export)
    used = {(e.resource_type, ident[0].removeprefix(ns)) for e in export.entries
            if (ident := up.state.our_identifier(e.resource, ns))}
    known = {(t, kind) for t, kinds in up.state.OUR_SYSTEMS.items() for kind in kinds}
    assert used and used <= known
    assert up.state.types_to_search(export) >= {"AdverseEvent", "CodeSystem",
                                                "StructureDefinition", "ClinicalUseDefinition"}
    assert up.state.canonical_base(ns) == "https://ivig-fhir.org/fhir/"


def test_relabel_gives_each_copy_its_own_identifier_namespace() -> None:
    copy = up.relabel(json.loads(EXPORT.read_text()), "q")
    systems = {i.get("system") for e in copy["entry"]
               for i in e["resource"].get("identifier", [])}
    assert "https://ivig-fhir.org/fhir/q/identifier/clinical-use" in systems
    assert "https://ivig-fhir.org/fhir/identifier/clinical-use" not in systems
    urls = {e["resource"].get("url") for e in copy["entry"]
            if e["resource"]["resourceType"] in ("CodeSystem", "StructureDefinition")}
    assert all(u.startswith("https://ivig-fhir.org/fhir/q/") for u in urls)  # canonical base
    assert "urn:ietf:rfc:3986" in systems  # not ours: left alone


def test_profile_warnings_name_the_contradiction() -> None:
    capability = {"resourceType": "CapabilityStatement", "fhirVersion": "5.0.0",
                  "software": {"name": "HAPI FHIR Server"},
                  "rest": [{"mode": "server", "interaction": [{"code": "transaction"}]}]}
    warnings = profile_warnings(capability, up.profile("azure"), client_ids=True)
    assert any("FHIR 5.0.0" in w and "azure" in w for w in warnings)
    assert any("--server-profile hapi" in w for w in warnings)
    assert profile_warnings(capability, up.profile("hapi"), client_ids=True) == []


def test_every_profile_value_is_cited_in_docs_servers() -> None:
    text = SERVERS_DOC.read_text()
    for name, p in up.PROFILES.items():
        assert f"`{name}`" in text, name
        section = text.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
        assert "http" in section or name in ("generic",), name  # a cited source
        for value in (p.max_entries, p.requests_per_second):
            if value is not None:
                assert f"{value:g}" in section, (name, value)
    with pytest.raises(BadInput, match="unknown --server-profile"):
        up.profile("nope")


def test_paged_id_reads_ask_for_the_rest_instead_of_following_next() -> None:
    from urllib.parse import parse_qs

    asked: list[list[str]] = []

    def server(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            raise AssertionError("followed a next link")
        ids = parse_qs(request.content.decode())["_id"][0].split(",")
        asked.append(ids)
        page = ids[:2]  # a server whose pages hold two resources
        body = {"resourceType": "Bundle", "type": "searchset",
                "entry": [{"resource": {"resourceType": "Group", "id": i},
                           "search": {"mode": "match"}} for i in page],
                "link": [{"relation": "next", "url": "http://x/next"}] if ids[2:] else []}
        return httpx.Response(200, json=body)

    client = httpx.Client(transport=httpx.MockTransport(server), base_url="http://x/")
    sender = up.Sender(client, up.RetryPolicy())
    found = up.state._search_ids(sender, "Group", ["a", "b", "c", "d", "e"])
    assert sorted(r["id"] for r in found) == ["a", "b", "c", "d", "e"]
    assert asked[0] == ["a", "b", "c", "d", "e"]
    assert sorted(asked[1:]) == [["c", "d"], ["e"]]
