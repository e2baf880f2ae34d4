"""Upload an export to a FHIR server: idempotent, chunked, retried, verified.

    plan       export Bundle -> Export (entries, FHIR version) -> chunks in dependency order
    transport  one request with retries (Retry-After, backoff with jitter, bounded)
    auth       bearer token; OAuth2 client credentials (secret or SMART JWT assertion)
    preflight  CapabilityStatement -> reasons the server cannot take the export
    run        preflight, chunks as transactions (or one PUT each), report; read-back verify
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
    Event,
    Preflighted,
    Read,
    Retrying,
)
from ivig_fhir.upload.plan import Chunk, Entry, Export, plan_chunks, read_export
from ivig_fhir.upload.relabel import relabel
from ivig_fhir.upload.run import (
    ServerUnfit,
    UploadFailed,
    UploadReport,
    UploadSettings,
    open_client,
    tls_context,
    upload,
    verify,
)
from ivig_fhir.upload.transport import GaveUp, RetryPolicy, Sender, retry_after

__all__ = [
    "AuthFailed",
    "BearerToken",
    "Chunk",
    "ChunkLanded",
    "ChunkStarted",
    "ClientCredentials",
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
    "ServerUnfit",
    "UploadFailed",
    "UploadReport",
    "UploadSettings",
    "open_client",
    "plan_chunks",
    "read_export",
    "read_secret",
    "relabel",
    "retry_after",
    "tls_context",
    "upload",
    "verify",
]
