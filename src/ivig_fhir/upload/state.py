"""What the server already holds of this export, how each entry is addressed there, and what
differs (compare before write).

Two ways to address a resource:

- client ids (most servers): `PUT Type/id` with the export's id. What the server holds is read
  with one search per type, `POST Type/_search` with `_id=a,b,c,...`, paged.
- server-assigned ids (e.g. Medplum, or HAPI with client ids NOT_ALLOWED): a conditional update
  on the export's business identifier, `PUT Type?identifier=system|value` (CodeSystem and
  StructureDefinition: `PUT Type?url=canonical`). R5 Provenance has no identifier: a Provenance
  the server already holds for the same target (found by `Provenance?target=`, and carrying the
  export's content-release entity) is updated by its server id; otherwise it is created with
  POST. References inside the export are rewritten to the server ids found, or to `urn:uuid:`
  fullUrls for resources created in the same transaction.

"Ours" on a shared server: a resource carrying an identifier whose system lies in the export's
identifier namespace (the folder of Bundle.identifier.system, e.g.
`https://ivig-fhir.org/fhir/identifier/`), or a CodeSystem / StructureDefinition whose canonical
URL lies under the export's canonical base (the folder above it, `https://ivig-fhir.org/fhir/`,
then `CodeSystem/...`). Ids alone are not enough: another publisher may use the same id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ivig_fhir.problems import FindingsError
from ivig_fhir.upload.plan import Entry, Export, JsonObject, references
from ivig_fhir.upload.transport import GaveUp, Sender, status_line

PAGE = 1000  # asked for; a server caps it at its own maximum and pages the rest
CANONICAL_TYPES = ("CodeSystem", "StructureDefinition")


# The identifier system (after the namespace) of each type this project writes, so that a release
# that no longer has a type at all still finds it on the server (--retire, --delete-withdrawn).
# In step with mapping/: tests/test_upload_profiles.py checks every type and system of the export
# is here. R4 carries the R5 types R4 lacks as Basic, with their identifiers.
OUR_SYSTEMS: dict[str, tuple[str, ...]] = {
    "AdverseEvent": ("adverse-event",),
    "ClinicalUseDefinition": ("clinical-use",),
    "DocumentReference": ("source-document",),
    "Group": ("population",),
    "Medication": ("medication",),
    "MedicationKnowledge": ("medication-knowledge",),
    "MedicinalProductDefinition": ("product",),
    "RegulatedAuthorization": ("regulated-authorization",),
    "ValueSet": ("concept",),
    "Basic": ("clinical-use", "product", "regulated-authorization"),
}
R4_LACKS = frozenset({"ClinicalUseDefinition", "MedicinalProductDefinition",
                      "RegulatedAuthorization"})


def types_to_search(export: Export) -> set[str]:
    """Every type that may hold withdrawn resources of ours on a server of this FHIR version."""
    r4 = export.fhir_version.startswith("4.0")
    known = {t for t in OUR_SYSTEMS if (t not in R4_LACKS if r4 else t != "Basic")}
    return known | set(CANONICAL_TYPES) | set(export.counts)


def canonical_base(ns: str) -> str | None:
    """`https://ivig-fhir.org/fhir/` for the namespace `https://ivig-fhir.org/fhir/identifier/`."""
    return ns.removesuffix("identifier/") if ns.endswith("/identifier/") else None


def ours_key(resource: JsonObject, ns: str) -> tuple[str, str] | None:
    """What names a resource of ours across releases: its identifier in our namespace, or the
    canonical URL of a CodeSystem / StructureDefinition."""
    ident = our_identifier(resource, ns)
    if ident:
        return ident
    if resource.get("resourceType") in CANONICAL_TYPES and resource.get("url"):
        return "url", str(resource["url"])
    return None


def namespace(export: Export) -> str:
    system = export.identifier_system or ""
    return system.rsplit("/", 1)[0] + "/" if "/" in system else "\0"


def our_identifier(resource: JsonObject, ns: str) -> tuple[str, str] | None:
    identifiers = resource.get("identifier") or []
    if isinstance(identifiers, dict):
        identifiers = [identifiers]
    for ident in identifiers:
        system = ident.get("system", "")
        if system.startswith(ns) and ident.get("value"):
            return str(system), str(ident["value"])
    return None


def is_ours_provenance(resource: JsonObject, ns: str) -> bool:
    return any(str(e.get("what", {}).get("identifier", {}).get("system", "")).startswith(ns)
               for e in resource.get("entity", []))


@dataclass(frozen=True)
class Held:
    server_key: str  # Type/id on the server
    resource: JsonObject  # as stored


@dataclass
class ServerState:
    """What the server holds of the export (by export key) and, of the types that carry the
    export's identifiers, every resource of ours it holds (to find withdrawn ones)."""

    held: dict[str, Held] = field(default_factory=dict)
    ours: dict[str, list[Held]] = field(default_factory=dict)  # Type -> held with our system
    requests: int = 0


class SearchRefused(FindingsError):
    """The server answered a search with an error (e.g. 401): nothing was written."""

    def __init__(self, what: str, response: Any) -> None:
        super().__init__(f"{what}: {status_line(response)}; nothing sent")
        self.what = what
        self.response = response


def search(sender: Sender, resource_type: str, params: dict[str, str],
           what: str) -> Iterator[JsonObject]:
    """Every match of one search, following `next` pages."""
    response = sender.send("POST", f"{resource_type}/_search", what=what,
                           form={**params, "_count": str(PAGE)})
    while True:
        body = _json(response)
        if response.status_code != 200 or body.get("resourceType") != "Bundle":
            raise SearchRefused(what, response)
        for entry in body.get("entry", []):
            resource = entry.get("resource")
            if isinstance(resource, dict) and entry.get("search", {}).get("mode",
                                                                           "match") == "match":
                yield resource
        following = [link["url"] for link in body.get("link", []) if link.get("relation") == "next"]
        if not following:
            return
        response = sender.send("GET", following[0], what=what)


def _search_ids(sender: Sender, resource_type: str, ids: list[str]) -> list[JsonObject]:
    """Resources of one type by `_id`. When the server pages the answer, the ids not on the
    first page are asked for again, a page's worth per search and side by side, instead of
    following `next`: HAPI, for one, serves a later page several times slower than a search."""
    what = f"read {resource_type}"
    response = sender.send("POST", f"{resource_type}/_search", what=what,
                           form={"_id": ",".join(ids), "_count": str(PAGE)})
    body = _json(response)
    if response.status_code != 200 or body.get("resourceType") != "Bundle":
        raise SearchRefused(what, response)
    found = [e["resource"] for e in body.get("entry", [])
             if isinstance(e.get("resource"), dict)
             and e.get("search", {}).get("mode", "match") == "match"]
    paged = any(link.get("relation") == "next" for link in body.get("link", []))
    if not paged or not found:
        return found
    seen = {str(r.get("id")) for r in found}
    rest = [i for i in ids if i not in seen]
    size = len(found)
    parts = [rest[n:n + size] for n in range(0, len(rest), size)]
    with ThreadPoolExecutor(READERS) as pool:
        for more in pool.map(lambda part: list(search(sender, resource_type,
                                                      {"_id": ",".join(part)}, what)), parts):
            found += more
    return found


class Addressing:
    """How each export entry is written on this server, and the server ids learnt so far."""

    def __init__(self, export: Export, client_ids: bool) -> None:
        self.export = export
        self.client_ids = client_ids
        self.ns = namespace(export)
        self.by_key = {e.key: e for e in export.entries}
        self.full_urls = {e.full_url: e.key for e in export.entries if e.full_url}
        self.server_keys: dict[str, str] = {}  # export key -> Type/id on the server

    def urn(self, key: str) -> str:
        return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, key)}"

    def expected(self, entry: Entry) -> JsonObject:
        """The resource as the server should hold it (references to server ids)."""
        if self.client_ids:
            return entry.resource
        resource: JsonObject = self._rewrite(
            {k: v for k, v in entry.resource.items() if k != "id"})
        return resource

    def _rewrite(self, data: Any) -> Any:
        if isinstance(data, dict):
            out = {}
            for k, v in data.items():
                if k == "reference" and isinstance(v, str):
                    key = self.full_urls.get(v, v)
                    if key in self.by_key:
                        v = self.server_keys.get(key, self.urn(key))
                out[k] = self._rewrite(v)
            return out
        if isinstance(data, list):
            return [self._rewrite(v) for v in data]
        return data

    def request(self, entry: Entry) -> tuple[str, str, JsonObject, str | None]:
        """(method, url, body, fullUrl) that write this entry."""
        if self.client_ids:
            return "PUT", entry.key, entry.resource, entry.full_url
        body = self.expected(entry)
        full_url = self.urn(entry.key)
        known = self.server_keys.get(entry.key)
        ident = our_identifier(entry.resource, self.ns)
        if ident:
            system, value = ident
            return ("PUT", f"{entry.resource_type}?identifier={_q(system)}|{_q(value)}", body,
                    full_url)
        if entry.resource_type in CANONICAL_TYPES and entry.resource.get("url"):
            return "PUT", f"{entry.resource_type}?url={_q(entry.resource['url'])}", body, full_url
        if known:
            return "PUT", known, {**body, "id": known.split("/")[1]}, full_url
        return "POST", entry.resource_type, body, full_url

    def learn(self, entry: Entry, location: str | None) -> None:
        """Note the server id a write reported (`Location`, e.g. `Type/7/_history/1`)."""
        if self.client_ids or not location:
            return
        parts = location.split("/_history/")[0].rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] == entry.resource_type:
            self.server_keys[entry.key] = f"{parts[-2]}/{parts[-1]}"


READERS = 4  # searches of different types run side by side: latency, not work, dominates


def read_state(sender: Sender, addressing: Addressing, *, withdrawn: bool) -> ServerState:
    """What the server holds of the export: by `_id` (client ids) or by the export's identifiers
    (server ids). `withdrawn`: also every resource of ours of the export's types. One search per
    type (several at once), paged."""
    state = ServerState()
    before = sender.requests
    by_type: dict[str, list[Entry]] = {}
    for e in addressing.export.entries:
        by_type.setdefault(e.resource_type, []).append(e)
    if withdrawn:  # also the types this release no longer has at all
        for t in sorted(types_to_search(addressing.export)):
            by_type.setdefault(t, [])
    try:
        with ThreadPoolExecutor(READERS) as pool:
            parts = list(pool.map(lambda item: _read_type(sender, addressing, item[0], item[1],
                                                          withdrawn), by_type.items()))
        for held, ours in parts:
            state.held.update(held)
            for h in ours:
                state.ours.setdefault(h.server_key.split("/")[0], []).append(h)
        for key, h in state.held.items():
            addressing.server_keys[key] = h.server_key
        if not addressing.client_ids and "Provenance" in by_type:
            _read_provenance(sender, addressing, by_type["Provenance"], state)
    except GaveUp as exc:
        raise FindingsError(f"reading what the server holds: {exc.reason}; nothing sent") from None
    state.requests = sender.requests - before
    return state


def _read_type(sender: Sender, addressing: Addressing, resource_type: str,
               entries: list[Entry], withdrawn: bool) -> tuple[dict[str, Held], list[Held]]:
    ns = addressing.ns
    held: dict[str, Held] = {}
    ours: list[Held] = []
    systems = sorted({i[0] for e in entries if (i := our_identifier(e.resource, ns))}
                     | ({ns + kind for kind in OUR_SYSTEMS.get(resource_type, ())}
                        if withdrawn else set()))
    base = canonical_base(ns)
    if withdrawn and resource_type in CANONICAL_TYPES and base:
        below = f"{base}{resource_type}/"
        for found in search(sender, resource_type, {"url:below": below},
                            f"read {resource_type} ({below})"):
            if str(found.get("url", "")).startswith(below):
                ours.append(Held(f"{resource_type}/{found.get('id')}", found))
    if withdrawn or not addressing.client_ids:
        wanted = {our_identifier(e.resource, ns): e.key for e in entries}
        for system in systems:
            for found in search(sender, resource_type, {"identifier": f"{system}|"},
                                f"read {resource_type} ({system})"):
                h = Held(f"{resource_type}/{found.get('id')}", found)
                ours.append(h)
                ident = _identifier_in(found, system)
                key = wanted.get((system, ident)) if ident else None
                if key and not addressing.client_ids:
                    held[key] = h
    if not entries:
        return held, ours
    if addressing.client_ids:
        for found in _search_ids(sender, resource_type, [e.resource["id"] for e in entries]):
            key = f"{resource_type}/{found.get('id')}"
            if key in addressing.by_key:
                held[key] = Held(key, found)
    elif resource_type in CANONICAL_TYPES:
        urls = {e.resource["url"]: e.key for e in entries if e.resource.get("url")}
        for found in search(sender, resource_type, {"url": ",".join(urls)},
                            f"read {resource_type}"):
            key = urls.get(str(found.get("url")))
            if key:
                held[key] = Held(f"{resource_type}/{found.get('id')}", found)
    return held, ours


def _read_provenance(sender: Sender, addressing: Addressing, entries: list[Entry],
                     state: ServerState) -> None:
    # A Provenance is found by its target (one per target in the export) among ours.
    by_target: dict[str, str] = {}
    for e in entries:
        for ref in references({"t": e.resource.get("target", [])}):
            target = addressing.server_keys.get(addressing.full_urls.get(ref, ref))
            if target:
                by_target[target] = e.key
    if not by_target:
        return
    for found in search(sender, "Provenance", {"target": ",".join(sorted(by_target))},
                        "read Provenance"):
        if not is_ours_provenance(found, addressing.ns):
            continue
        for ref in references({"t": found.get("target", [])}):
            key = by_target.get(ref)
            if key and key not in state.held:
                held = Held(f"Provenance/{found.get('id')}", found)
                state.held[key] = held
                addressing.server_keys[key] = held.server_key


def _identifier_in(resource: JsonObject, system: str) -> str | None:
    identifiers = resource.get("identifier") or []
    if isinstance(identifiers, dict):
        identifiers = [identifiers]
    for ident in identifiers:
        if ident.get("system") == system:
            return str(ident.get("value"))
    return None


def _q(text: str) -> str:
    return quote(text, safe="/:")


def _json(response: Any) -> JsonObject:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
