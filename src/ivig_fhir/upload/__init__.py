"""Upload an export to a FHIR server: idempotent, chunked, retried, verified.

    plan       export Bundle -> Export (entries, FHIR version) -> chunks in dependency order,
               within entry and byte limits
    profiles   each server's documented limits and habits, as data (docs/servers.md)
    transport  one request with retries (Retry-After, x-ms-retry-after-ms, backoff with
               jitter, bounded) and a request rate
    auth       bearer token; OAuth2 client credentials (secret or SMART JWT assertion)
    preflight  CapabilityStatement -> reasons the server cannot take the export; warnings
               where it contradicts the chosen profile
    state      what the server holds of the export (searches), addressing by client id or
               by identifier (conditional update), compare before write
    run        preflight, compare, chunks as transactions (or one PUT each), report; verify
    withdraw   resources of ours the release no longer has: retire or delete
    events     progress events for the caller to render

Error tree (all IvigFhirError, see ivig_fhir.problems):

    BadInput (exit 2)       unreadable export, bad options, ServerUnfit (nothing was sent)
    FindingsError (exit 1)  UploadFailed (carries the report of landed chunks), AuthFailed,
                            verification differences
"""

from ivig_fhir.upload.auth import (
    AuthFailed,
    BearerToken,
    ClientCredentials,
    OAuth2ClientCredentials,
    read_secret,
)
from ivig_fhir.upload.events import (
    ChunkLanded,
    ChunkStarted,
    Compared,
    Event,
    Preflighted,
    Read,
    Retrying,
    Withdrawn,
)
from ivig_fhir.upload.plan import Chunk, Entry, Export, plan_chunks, read_export
from ivig_fhir.upload.profiles import PROFILES, ServerProfile, profile
from ivig_fhir.upload.relabel import relabel
from ivig_fhir.upload.run import (
    ServerUnfit,
    UploadFailed,
    UploadReport,
    UploadSettings,
    open_client,
    sender_for,
    tls_context,
    upload,
    verify,
)
from ivig_fhir.upload.state import Addressing, ServerState, read_state
from ivig_fhir.upload.transport import GaveUp, RetryPolicy, Sender, retry_after
from ivig_fhir.upload.withdraw import Action, apply_withdrawn, find_withdrawn

__all__ = [
    "PROFILES",
    "Action",
    "Addressing",
    "AuthFailed",
    "BearerToken",
    "Chunk",
    "ChunkLanded",
    "ChunkStarted",
    "ClientCredentials",
    "Compared",
    "Entry",
    "Event",
    "Export",
    "GaveUp",
    "OAuth2ClientCredentials",
    "Preflighted",
    "Read",
    "RetryPolicy",
    "Retrying",
    "Sender",
    "ServerProfile",
    "ServerState",
    "ServerUnfit",
    "UploadFailed",
    "UploadReport",
    "UploadSettings",
    "Withdrawn",
    "apply_withdrawn",
    "find_withdrawn",
    "open_client",
    "plan_chunks",
    "profile",
    "read_export",
    "read_secret",
    "read_state",
    "relabel",
    "retry_after",
    "sender_for",
    "tls_context",
    "upload",
    "verify",
]
