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

    def describe(self) -> str:
        def n(value: float | None, unit: str) -> str:
            return "no limit" if value is None else f"{value:g} {unit}"
        return (f"{self.title}: FHIR {'/'.join(self.fhir_versions)}; "
                f"{n(self.max_entries, 'entries')} and "
                f"{n(self.max_bytes and self.max_bytes / MB, 'MB')} per transaction; "
                f"{n(self.requests_per_second, 'requests/s')}; "
                f"{'client ids' if self.client_ids else 'conditional update on identifiers'}")


PROFILES: dict[str, ServerProfile] = {p.name: p for p in (
    ServerProfile(
        "hapi", "HAPI FHIR JPA server", ("4.0", "4.3", "5.0"), None, None, None,
        "Retry-After", client_ids=True, versions_identical_updates=False, transactions=True,
        notes=("maximumTransactionBundleSize is unset by default; a server configured with it "
               "answers 413 above it (pass --max-entries)",
               "all-digit client ids are refused (the export's ids all carry letters)")),
    ServerProfile(
        "azure", "Azure Health Data Services FHIR service", ("4.0",), 500, None, None,
        "x-ms-retry-after-ms", client_ids=True, versions_identical_updates=False,
        transactions=True,
        notes=("request body size not documented on the pages read: no byte limit applied",
               "request rate not documented as a number (autoscaling; 429 when exceeded)")),
    ServerProfile(
        "healthlake", "AWS HealthLake", ("4.0",), 160, None, 10.0,
        "Retry-After", client_ids=True, versions_identical_updates=True, transactions=True,
        notes=("10 bundle requests per second per data store (20 per account)",
               "whether an identical PUT makes a new version is not documented: assumed yes")),
    ServerProfile(
        "google", "Google Cloud Healthcare API", ("4.0", "5.0"), None, 50 * MB, None,
        "Retry-After", client_ids=True, versions_identical_updates=True, transactions=True,
        notes=("PUT with a client id creates only when the store has enableUpdateCreate",
               "no entry limit documented; the 50 MB executeBundle limit applies",
               "whether an identical PUT makes a new version is not documented: assumed yes")),
    ServerProfile(
        "medplum", "Medplum", ("4.0",), 50, None, None,
        "Retry-After", client_ids=False, versions_identical_updates=False, transactions=True,
        notes=("transactions need the 'transaction-bundles' project feature flag (beta); "
               "without it use --batch-like single PUTs (--per-resource)",
               "entry limit per transaction not found in the documentation read: 50 assumed",
               "client-assigned ids are refused: conditional update on identifiers")),
    ServerProfile(
        "firely", "Firely Server", ("4.0", "5.0"), 100, None, None,
        "Retry-After", client_ids=True, versions_identical_updates=True, transactions=True,
        notes=("the FHIR version is picked by the fhirVersion MIME parameter (default R4)",
               "an identical update makes a new version unless a no-op plugin is enabled",
               "entry limit is configurable; its default was not found: 100 assumed")),
    ServerProfile(
        "smile", "Smile CDR", ("4.0", "4.3", "5.0"), None, None, None,
        "Retry-After", client_ids=True, versions_identical_updates=False, transactions=True,
        notes=("built on HAPI FHIR; the maximum transaction size is a module setting with no "
               "documented default: pass --max-entries if it is set",)),
    ServerProfile(
        "generic", "any FHIR server (conservative)", ("4.0", "4.3", "5.0"), 100, 10 * MB, 5.0,
        "Retry-After", client_ids=True, versions_identical_updates=True, transactions=True,
        notes=("no vendor document: small transactions, a gentle rate, and compare-before-"
               "write assumed necessary",)),
)}


def profile(name: str) -> ServerProfile:
    try:
        return PROFILES[name]
    except KeyError:
        from ivig_fhir.problems import BadInput
        raise BadInput(f"unknown --server-profile {name!r}; one of "
                       f"{', '.join(PROFILES)}") from None
