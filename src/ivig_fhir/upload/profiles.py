"""What each FHIR server documents about taking uploads, as data: one frozen profile each.

Every value comes from the vendor's documentation, cited in docs/servers.md; where the
documentation gives no number the profile says so in `notes` and holds a conservative default.
`upload --server-profile NAME` applies one; --max-entries and --rate override its numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

MB = 1024 * 1024


@dataclass(frozen=True)
class ServerProfile:
    name: str
    title: str
    fhir_versions: tuple[str, ...]  # major.minor the server stores, e.g. ("4.0",)
    max_entries: int | None  # entries per transaction; None: no documented limit
    max_bytes: int | None  # bytes per request body
    requests_per_second: float | None  # bundle/write requests per second
    retry_header: str  # where the server says how long to wait after 429/503
    client_ids: bool  # PUT Type/id with a client-chosen id creates the resource
    versions_identical_updates: bool  # an identical PUT makes a new version
    transactions: bool  # atomic transaction Bundles available by default
    notes: tuple[str, ...] = ()
    mime_fhir_version: bool = False  # name the FHIR version in Content-Type and Accept

    def describe(self) -> str:
        limits = [f"{self.max_entries} entries" if self.max_entries else "",
                  f"{self.max_bytes / MB:g} MB" if self.max_bytes else ""]
        per = " and ".join(x for x in limits if x) or "no limit"
        rate = (f"{self.requests_per_second:g} requests/s" if self.requests_per_second
                else "no rate limit")
        ids = "client ids" if self.client_ids else "conditional update on identifiers"
        return (f"{self.name} ({self.title}): FHIR {'/'.join(self.fhir_versions)}; {per} per "
                f"transaction; {rate}; {ids}")


PROFILES: dict[str, ServerProfile] = {p.name: p for p in (
    ServerProfile(
        "hapi", "HAPI FHIR JPA server", ("4.0", "4.3", "5.0"), None, None, None,
        "Retry-After", client_ids=True, versions_identical_updates=False, transactions=True,
        notes=("no transaction size limit unless maximumTransactionBundleSize is set; then 413 "
               "above it: pass --max-entries",
               "client ids with a non-digit (ALPHANUMERIC strategy, the default)")),
    ServerProfile(
        "azure", "Azure Health Data Services FHIR service", ("4.0",), 500, None, None,
        "x-ms-retry-after-ms", client_ids=True, versions_identical_updates=False,
        transactions=True,
        notes=("request body size: not found in the pages read; no byte limit applied",
               "request rate: no number documented (autoscaling; 429 when exceeded)",
               "x-ms-retry-after-ms is read as well as Retry-After")),
    ServerProfile(
        "healthlake", "AWS HealthLake", ("4.0",), 160, None, 10.0,
        "Retry-After", client_ids=True, versions_identical_updates=True, transactions=True,
        notes=("10 bundle requests per second per data store (20 per account)",
               "identical updates: not documented; assumed to make versions")),
    ServerProfile(
        "google", "Google Cloud Healthcare API", ("3.0", "4.0", "5.0"), None, 50 * MB, None,
        "Retry-After", client_ids=True, versions_identical_updates=True, transactions=True,
        notes=("PUT with a client id creates only when the store has enableUpdateCreate",
               "entries per bundle: not documented; the 50 MB executeBundle limit applies",
               "identical updates: not documented; assumed to make versions")),
    ServerProfile(
        "medplum", "Medplum", ("4.0",), 50, None, None,
        "Retry-After", client_ids=False, versions_identical_updates=True, transactions=True,
        notes=("client-assigned ids refused: conditional update on identifiers",
               "transactions need the 'transaction-bundles' project feature flag (beta)",
               "entries per transaction: not found; 50 assumed",
               "identical updates: not found; assumed to make versions")),
    ServerProfile(
        "firely", "Firely Server", ("3.0", "4.0", "5.0"), 150, 5 * MB, None,
        "Retry-After", client_ids=True, versions_identical_updates=True, transactions=True,
        mime_fhir_version=True,
        notes=("SizeLimits defaults: MaxBatchEntries 150, MaxBatchSize 5MiB",
               "the FHIR version is picked by the fhirVersion MIME parameter (default R4): "
               "sent with every request",
               "an identical update makes a new version unless the No-Op plugins are on")),
    ServerProfile(
        "smile", "Smile CDR", ("3.0", "4.0", "5.0"), None, None, None,
        "Retry-After", client_ids=True, versions_identical_updates=True, transactions=True,
        notes=("built on HAPI FHIR; a transaction size limit: not found (pass --max-entries "
               "if your module sets one)",
               "client ids per the 'Client ID Mode' setting; identical updates: not found, "
               "assumed to make versions")),
    ServerProfile(
        "generic", "any FHIR server (conservative)", ("4.0", "4.3", "5.0"), 100, 5 * MB, 5.0,
        "Retry-After", client_ids=True, versions_identical_updates=True, transactions=True,
        notes=("no vendor document: small transactions, a gentle rate",)),
)}


def profile(name: str) -> ServerProfile:
    try:
        return PROFILES[name]
    except KeyError:
        from ivig_fhir.problems import BadInput
        raise BadInput(f"unknown --server-profile {name!r}; one of "
                       f"{', '.join(PROFILES)}") from None
