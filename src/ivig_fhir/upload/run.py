"""Upload stage 4: preflight, read what the server holds, send what differs in chunks, report
what landed; read back.

Compare before write: unless --force, the server's copy of every resource is read first (a few
searches) and only resources that differ (ignoring meta; narrative as canonical XML) are sent,
so an identical re-upload sends no resource and no server makes a new version of unchanged
content, whether or not it suppresses identical updates itself.

A chunk is one transaction, so it lands whole or not at all. The first chunk that fails
stops the upload; the report names the chunks that landed, the one that failed and those not
sent. Re-running the same upload completes it: every write is a PUT to the export's id (or a
conditional update on its identifier), so a write repeated lands as "no change".
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from xml.etree.ElementTree import ParseError, canonicalize

import certifi
import httpx

from ivig_fhir import __version__
from ivig_fhir.problems import BadInput, FindingsError, Problem
from ivig_fhir.upload.events import (
    ChunkLanded,
    ChunkStarted,
    Compared,
    Event,
    Preflighted,
    Read,
)
from ivig_fhir.upload.plan import Chunk, Entry, Export, JsonObject, plan_chunks
from ivig_fhir.upload.preflight import capability_gaps, profile_warnings
from ivig_fhir.upload.profiles import ServerProfile
from ivig_fhir.upload.state import Addressing, SearchRefused, ServerState, read_state
from ivig_fhir.upload.transport import FHIR_JSON, GaveUp, RetryPolicy, Sender, status_line

NO_CHANGE = "SUCCESSFUL_UPDATE_NO_CHANGE"  # HAPI's storage response code for an identical PUT


@dataclass(frozen=True)
class UploadSettings:
    server: str
    timeout: float = 120.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    per_resource: bool = False  # one plain PUT per resource instead of transactions
    ca_bundle: Path | None = None
    credentials_given: bool = False  # only to word a 401 message
    max_entries: int | None = None  # per transaction (None: one transaction)
    max_bytes: int | None = None  # per transaction body
    requests_per_second: float | None = None
    client_ids: bool = True  # False: conditional update on identifiers (server-assigned ids)
    force: bool = False  # send every resource, without reading what the server holds
    profile: ServerProfile | None = None
    # e.g. "5.0": name the FHIR version in the MIME type (Firely picks the version by it)
    mime_fhir_version: str | None = None

    @property
    def media_type(self) -> str:
        return (f"{FHIR_JSON}; fhirVersion={self.mime_fhir_version}" if self.mime_fhir_version
                else FHIR_JSON)


def sender_for(client: httpx.Client, settings: UploadSettings,
               on_event: Callable[[Event], None] = lambda _: None) -> Sender:
    return Sender(client, settings.retry, on_event,
                  requests_per_second=settings.requests_per_second,
                  content_type=settings.media_type)


@dataclass
class ChunkResult:
    chunk: Chunk
    status: Literal["landed", "failed", "not sent"] = "not sent"
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class UploadReport:
    server: str
    results: list[ChunkResult]
    skipped: int = 0  # already on the server, equal: not sent
    requests: int = 0  # HTTP requests made (reads, writes and retries)
    state: ServerState | None = None
    addressing: Addressing | None = None

    def count(self, what: Literal["created", "updated", "unchanged"]) -> int:
        return sum(int(getattr(r, what)) for r in self.results)

    def summary(self) -> str:
        """E.g. 'landed: chunks 1-3 (75 resources); failed: chunk 4 (25); not sent: ...'."""
        parts = []
        for status in ("landed", "failed", "not sent"):
            picked = [r for r in self.results if r.status == status]
            if picked:
                n = sum(len(r.chunk.entries) for r in picked)
                label = "chunk" if len(picked) == 1 else "chunks"
                parts.append(f"{status}: {label} {_ranges([r.chunk.index for r in picked])} "
                             f"({n} resource{'s' * (n != 1)})")
        return "; ".join(parts)


class UploadFailed(FindingsError):
    """A chunk failed; `report` says which landed. Problems carry the server's issues."""

    def __init__(self, message: str, report: UploadReport,
                 problems: Sequence[Problem] = ()) -> None:
        super().__init__(message, problems)
        self.report = report


class ServerUnfit(BadInput):
    """Preflight: the server cannot take this export; nothing was sent."""


def open_client(settings: UploadSettings, auth: httpx.Auth | None) -> httpx.Client:
    return httpx.Client(
        base_url=settings.server.rstrip("/") + "/",
        auth=auth,
        verify=tls_context(settings.ca_bundle),
        timeout=httpx.Timeout(settings.timeout, connect=min(settings.timeout, 10.0)),
        headers={"Accept": settings.media_type, "User-Agent": f"ivig-fhir/{__version__}"},
    )


def tls_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """Verification always on; --ca-bundle adds CAs to the usual (certifi) ones."""
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_bundle is not None:
        try:
            context.load_verify_locations(cafile=str(ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise BadInput(f"cannot load --ca-bundle {ca_bundle}: {exc}") from None
    return context


def preflight(sender: Sender, export: Export, settings: UploadSettings) -> Preflighted:
    # Unreachable or failing: exit 1 like any failed upload; ServerUnfit (exit 2) is kept for
    # a server that answered and cannot take the export.
    try:
        response = sender.send("GET", "metadata", what="metadata")
    except GaveUp as exc:
        raise FindingsError(f"{settings.server}/metadata: {exc.reason}; nothing sent") from None
    body = _json(response)
    if response.status_code != 200:
        raise FindingsError(f"{settings.server}/metadata: {status_line(response)}",
                            outcome_problems(body, f"{settings.server}/metadata"))
    gaps = capability_gaps(body, export, transactions=not settings.per_resource)
    if gaps:
        raise ServerUnfit(f"{settings.server} cannot take this export: {'; '.join(gaps)}")
    software = body.get("software", {})
    warnings = (tuple(profile_warnings(body, settings.profile, settings.client_ids))
                if settings.profile else ())
    return Preflighted(settings.server, str(body.get("fhirVersion")),
                       f"{software.get('name', '?')} {software.get('version', '')}".strip(),
                       warnings)


def same(expected: JsonObject, stored: JsonObject) -> bool:
    """Equal as the server holds it: meta ignored, narrative as canonical XML, and the id
    ignored (under server-assigned ids the export's id is not the server's)."""
    return not differences({k: v for k, v in expected.items() if k != "id"},
                           {k: v for k, v in stored.items() if k != "id"})


def upload(export: Export, client: httpx.Client, settings: UploadSettings,
           on_event: Callable[[Event], None] = lambda _: None) -> UploadReport:
    sender = sender_for(client, settings, on_event)
    on_event(preflight(sender, export, settings))
    addressing = Addressing(export, settings.client_ids)
    state = None
    to_send = export.entries
    # Under server-assigned ids the server ids must be known even with --force.
    if not settings.force or not settings.client_ids:
        try:
            state = read_state(sender, addressing, withdrawn=False)
        except SearchRefused as exc:
            raise FindingsError(f"{exc.what}: {_Refused(exc.response).explain(settings)}; "
                                "nothing sent",
                                outcome_problems(_json(exc.response), exc.what)) from None
        if not settings.force:
            to_send = tuple(e for e in export.entries if e.key not in state.held
                            or not same(addressing.expected(e), state.held[e.key].resource))
        on_event(Compared(len(export.entries), len(state.held),
                          len(export.entries) - len(to_send), state.requests))
    chunks = plan_chunks(to_send, 1 if settings.per_resource else settings.max_entries,
                         settings.max_bytes)
    report = UploadReport(settings.server, [ChunkResult(c) for c in chunks],
                          skipped=len(export.entries) - len(to_send), state=state,
                          addressing=addressing)
    total = len(chunks)
    try:
        _send_chunks(sender, report, addressing, settings, on_event, total)
    finally:
        report.requests = sender.requests
    return report


def _send_chunks(sender: Sender, report: UploadReport, addressing: Addressing,
                 settings: UploadSettings, on_event: Callable[[Event], None],
                 total: int) -> None:
    for result in report.results:
        chunk = result.chunk
        what = f"chunk {chunk.index}/{total}"
        on_event(ChunkStarted(chunk.index, total, len(chunk.entries)))
        try:
            statuses = (_put_one(sender, addressing, chunk.entries[0], what)
                        if settings.per_resource
                        else _transaction(sender, addressing, chunk, what))
        except GaveUp as exc:
            result.status = "failed"
            raise UploadFailed(
                f"{what}: {exc.reason}. {report.summary()}. A chunk that got no answer "
                "landed whole or not at all; re-run to complete the upload", report) from None
        except _Refused as exc:
            result.status = "failed"
            raise UploadFailed(f"{what}: {exc.explain(settings)}. {report.summary()}",
                               report, exc.problems(f"{settings.server} {what}")) from None
        result.status = "landed"
        for status in statuses:
            setattr(result, status, getattr(result, status) + 1)
        on_event(ChunkLanded(chunk.index, total, len(chunk.entries), result.created,
                             result.updated, result.unchanged))


Outcome = Literal["created", "updated", "unchanged"]


class _Refused(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response

    def explain(self, settings: UploadSettings) -> str:
        r = self.response
        text = f"the server refused it: {status_line(r)}"
        if r.status_code == 401:
            text += (" (the server did not accept the credentials)" if settings.credentials_given
                     else " (it needs credentials: IVIG_FHIR_TOKEN, --token-file, or the "
                          "OAuth2 options)")
        elif r.status_code == 403:
            text += " (the credentials lack the rights to write these resources)"
        return text

    def problems(self, where: str) -> list[Problem]:
        return outcome_problems(_json(self.response), where)


def transaction_body(addressing: Addressing, chunk: Chunk) -> JsonObject:
    entries: list[JsonObject] = []
    for e in chunk.entries:
        method, url, resource, full_url = addressing.request(e)
        entry: JsonObject = {"resource": resource, "request": {"method": method, "url": url}}
        if full_url:
            entry = {"fullUrl": full_url, **entry}
        entries.append(entry)
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _transaction(sender: Sender, addressing: Addressing, chunk: Chunk,
                 what: str) -> list[Outcome]:
    # POST to the base URL itself: a transaction posted to [base]/Bundle would be stored
    # as a Bundle resource instead of being processed.
    response = sender.send("POST", "", what=what, body=transaction_body(addressing, chunk))
    body = _json(response)
    entries = body.get("entry", [])
    if response.status_code != 200 or body.get("type") != "transaction-response":
        raise _Refused(response)
    if len(entries) != len(chunk.entries):
        raise GaveUp(f"the transaction-response has {len(entries)} entries for "
                     f"{len(chunk.entries)} sent", 1)
    for sent, answer in zip(chunk.entries, entries, strict=True):
        addressing.learn(sent, answer.get("response", {}).get("location"))
    return [_outcome(str(e.get("response", {}).get("status", "")),
                     e.get("response", {}).get("outcome")) for e in entries]


def _put_one(sender: Sender, addressing: Addressing, entry: Entry, what: str) -> list[Outcome]:
    method, url, resource, _ = addressing.request(entry)
    response = sender.send(method, url, what=what, body=resource,
                           headers={"Prefer": "return=OperationOutcome"})
    if response.status_code not in (200, 201):
        raise _Refused(response)
    addressing.learn(entry, response.headers.get("Location")
                     or response.headers.get("Content-Location"))
    return [_outcome(str(response.status_code), _json(response))]


def _outcome(status: str, outcome: Any) -> Outcome:
    if status.startswith("201"):
        return "created"
    codes = {c.get("code") for issue in (outcome or {}).get("issue", [])
             for c in issue.get("details", {}).get("coding", [])}
    return "unchanged" if NO_CHANGE in codes else "updated"


def outcome_problems(body: JsonObject, where: str) -> list[Problem]:
    """The issues of an OperationOutcome as problems (severity, location, diagnostics)."""
    if body.get("resourceType") != "OperationOutcome":
        return []
    problems = []
    for issue in body.get("issue", []):
        field_ = ", ".join(issue.get("expression") or issue.get("location") or [])
        message = issue.get("diagnostics") or issue.get("details", {}).get("text") or "(none)"
        severity = issue.get("severity", "error")
        problems.append(Problem(where, None, None, field_, str(message),
                                severity if severity in ("fatal", "error", "warning",
                                                         "information") else "error",
                                layer="server", code=str(issue.get("code", ""))))
    return problems


def verify(export: Export, client: httpx.Client, settings: UploadSettings,
           on_event: Callable[[Event], None] = lambda _: None,
           batch_size: int = 50) -> list[Problem]:
    """Read every resource back (batch reads) and compare it with the export, ignoring the
    server-managed `meta`. Differences (and resources missing) come back as problems."""
    sender = sender_for(client, settings, on_event)
    problems: list[Problem] = []
    entries = export.entries
    if not settings.client_ids:  # the server's ids are not ours: find them by identifier
        addressing = Addressing(export, client_ids=False)
        state = read_state(sender, addressing, withdrawn=False)
        for e in entries:
            held = state.held.get(e.key)
            if held is None:
                problems.append(Problem(e.key, None, None, "", "not on the server (no "
                                        "resource with its identifier)", layer="verify"))
                continue
            expected = {k: v for k, v in addressing.expected(e).items() if k != "id"}
            stored = {k: v for k, v in held.resource.items() if k != "id"}
            problems += [Problem(e.key, None, None, path, message, layer="verify")
                         for path, message in differences(expected, stored)]
        on_event(Read(len(entries), len(entries)))
        return problems
    for start in range(0, len(entries), batch_size):
        batch = entries[start:start + batch_size]
        bundle = {"resourceType": "Bundle", "type": "batch",
                  "entry": [{"request": {"method": "GET", "url": e.key}} for e in batch]}
        what = f"read-back {start + 1}-{start + len(batch)}"
        try:
            response = sender.send("POST", "", what=what, body=bundle)
        except GaveUp as exc:
            raise FindingsError(f"{what}: {exc.reason}") from None
        body = _json(response)
        if response.status_code != 200 or len(body.get("entry", [])) != len(batch):
            raise FindingsError(f"{what}: {status_line(response)}",
                                outcome_problems(body, what))
        for entry, answer in zip(batch, body["entry"], strict=True):
            found = answer.get("resource")
            if not isinstance(found, dict) or found.get("resourceType") == "OperationOutcome":
                status = answer.get("response", {}).get("status", "?")
                problems.append(Problem(entry.key, None, None, "",
                                        f"not on the server (read: {status})", layer="verify"))
                continue
            problems += [Problem(entry.key, None, None, path, message, layer="verify")
                         for path, message in differences(entry.resource, found)]
        on_event(Read(min(start + batch_size, len(entries)), len(entries)))
    return problems


def differences(exported: JsonObject, stored: JsonObject) -> list[tuple[str, str]]:
    """Where the stored resource differs from the exported one, ignoring `meta`. Narrative
    XHTML is compared in canonical XML form: HAPI re-serialises it (e.g. `&#x27;` -> `'`)."""
    a = {k: v for k, v in exported.items() if k != "meta"}
    b = {k: v for k, v in stored.items() if k != "meta"}
    div_a, div_b = a.get("text", {}).get("div"), b.get("text", {}).get("div")
    if isinstance(div_a, str) and isinstance(div_b, str):
        # Canonical XML costs ~2 ms a narrative, most of a re-upload's comparing: only for
        # narratives that differ in more than the server's usual re-serialisation.
        same_text = _same_xhtml_text(div_a, div_b)
        a["text"] = {**a["text"], "div": div_a if same_text else _canonical_xhtml(div_a)}
        b["text"] = {**b["text"], "div": div_a if same_text else _canonical_xhtml(div_b)}
    return list(_diff(a, b, str(exported.get("resourceType", ""))))[:10]


def _same_xhtml_text(exported: str, stored: str) -> bool:
    """Equal as text, or once `&#x27;` is written as `'` (HAPI's re-serialisation): the same
    XML either way, in text and in double-quoted attributes alike."""
    return exported == stored or exported.replace("&#x27;", "'") == stored


def _canonical_xhtml(div: str) -> str:
    try:
        # expat resolves no external entities and limits entity expansion (Python >= 3.11)
        return canonicalize(div)
    except ParseError:
        return div


def _diff(a: Any, b: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in b:
                yield f"{path}.{key}", "missing on the server"
            elif key not in a:
                yield f"{path}.{key}", "on the server but not in the export"
            else:
                yield from _diff(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _diff(x, y, f"{path}[{n}]")
    elif a != b or isinstance(a, bool) != isinstance(b, bool):  # JSON: true is not 1
        yield path, f"export has {_short(a)}, server has {_short(b)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _json(response: httpx.Response) -> JsonObject:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _ranges(numbers: list[int]) -> str:
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
