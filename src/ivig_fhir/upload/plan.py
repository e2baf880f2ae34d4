"""Upload stage 1: an export Bundle -> an upload plan (chunks of entries in dependency order).

Every chunk is one transaction (its requests are built by `state.Addressing`), within an entry
and a byte limit. Chunks follow the references inside the Bundle: a referenced resource goes in
an earlier chunk or the same one, and resources that reference each other in a cycle stay
together, so every reference a server checks on write resolves when the chunk lands.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from ivig_fhir.limits import MAX_JSON_DEPTH, MAX_JSON_FILE_BYTES
from ivig_fhir.problems import BadInput

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Entry:
    """One resource of the export with the request that writes it (`PUT Type/id`)."""

    key: str  # "Type/id"
    resource: JsonObject
    full_url: str | None

    @property
    def resource_type(self) -> str:
        return str(self.resource["resourceType"])


@dataclass(frozen=True)
class Chunk:
    index: int  # 1-based, as shown to people
    entries: tuple[Entry, ...]

    def counts(self) -> Counter[str]:
        return Counter(e.resource_type for e in self.entries)


@dataclass(frozen=True)
class Export:
    """The export as the uploader sees it: its entries in file order and its FHIR version."""

    path: Path
    fhir_version: str  # e.g. "5.0.0"
    entries: tuple[Entry, ...]
    counts: Counter[str] = field(default_factory=Counter)
    identifier_system: str | None = None  # Bundle.identifier.system: names the export's namespace


def read_export(path: Path, fhir_version: str | None = None) -> Export:
    """Read a transaction Bundle written by `ivig-fhir build`. The FHIR version comes from the
    manifest beside it (or `fhir_version`), since a Bundle does not carry one."""

    def bad(message: str) -> BadInput:
        return BadInput(f"{path}: {message}")  # one line, naming the file

    try:
        if path.stat().st_size > MAX_JSON_FILE_BYTES:
            raise bad(f"larger than {MAX_JSON_FILE_BYTES:,} bytes (limit MAX_JSON_FILE_BYTES)")
        bundle = json.loads(path.read_bytes())
    except OSError as exc:
        raise bad(f"cannot read the export: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise bad(f"not JSON: {exc}") from None
    except RecursionError:
        raise bad(f"nested too deeply (limit MAX_JSON_DEPTH = {MAX_JSON_DEPTH})") from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise bad("not a FHIR Bundle")
    if bundle.get("type") not in ("transaction", "batch"):
        raise bad(f"Bundle.type is {bundle.get('type')!r}; upload needs a transaction Bundle")
    entries: list[Entry] = []
    for n, raw in enumerate(bundle.get("entry", [])):
        resource = raw.get("resource") if isinstance(raw, dict) else None
        if not (isinstance(resource, dict) and resource.get("id")
                and isinstance(resource.get("resourceType"), str)):
            raise bad(f"entry[{n}] has no resource with a resourceType and an id")
        key = f"{resource['resourceType']}/{resource['id']}"
        request = raw.get("request", {})
        if request.get("method") != "PUT" or request.get("url") != key:
            # The deterministic id is what makes a re-upload idempotent; anything else
            # (POST, conditional create) could create duplicates.
            raise bad(f"entry[{n}] ({key}): request must be PUT {key}, "
                      f"is {request.get('method')} {request.get('url')}")
        entries.append(Entry(key, resource, raw.get("fullUrl")))
    version = fhir_version or _manifest_version(path.parent / "manifest.json")
    if not version:
        raise bad("FHIR version unknown: no manifest.json beside the export; "
                  "pass --fhir-version")
    ident = bundle.get("identifier")
    system = ident.get("system") if isinstance(ident, dict) else None
    return Export(path, version, tuple(entries), Counter(e.resource_type for e in entries),
                  str(system) if system else None)


def _manifest_version(manifest: Path) -> str | None:
    try:
        version = json.loads(manifest.read_bytes()).get("fhirVersion")
    except (OSError, ValueError, AttributeError):
        return None
    return str(version) if version else None


def references(data: Any) -> Iterator[str]:
    """Every `reference` string inside a resource."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(data, list):
        for item in data:
            yield from references(item)


def _local_key(ref: str, by_full_url: dict[str, str]) -> str:
    return by_full_url.get(ref, ref.split("/_history/")[0])


ENVELOPE_BYTES = 64  # {"resourceType":"Bundle","type":"transaction","entry":[]}
ENTRY_OVERHEAD = 512  # fullUrl, request method and URL (a conditional URL is the longest)


def entry_bytes(entry: Entry) -> int:
    """An upper bound of what the entry adds to a transaction body (UTF-8, as sent)."""
    return len(json.dumps(entry.resource, ensure_ascii=False).encode()) + ENTRY_OVERHEAD


def plan_chunks(entries: tuple[Entry, ...], max_entries: int | None,
                max_bytes: int | None = None) -> list[Chunk]:
    """Split into transactions of at most `max_entries` entries and `max_bytes` bytes (None:
    no limit), referenced resources first; file order is kept wherever the references allow
    it. Both limits hold together: a chunk closes at whichever is reached first."""
    if max_entries is not None and max_entries < 1:
        raise BadInput("--max-entries must be at least 1")
    if not entries:
        return []
    order = {e.key: n for n, e in enumerate(entries)}
    by_full_url = {e.full_url: e.key for e in entries if e.full_url}
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(order)
    for e in entries:
        for ref in references(e.resource):
            target = _local_key(ref, by_full_url)
            if target in order and target != e.key:
                graph.add_edge(target, e.key)  # the referenced resource comes first
    # Resources in a reference cycle form one node of the condensation and so one unit.
    condensed = nx.condensation(graph)
    members: dict[int, list[str]] = {
        node: sorted(condensed.nodes[node]["members"], key=order.__getitem__)
        for node in condensed.nodes}
    units = [members[node] for node in nx.lexicographical_topological_sort(
        condensed, key=lambda node: order[members[node][0]])]
    by_key = {e.key: e for e in entries}
    cap = max_entries or len(entries)
    byte_cap = max_bytes or float("inf")
    size = {e.key: entry_bytes(e) for e in entries}
    chunks: list[list[str]] = []
    chunk_bytes = 0
    for unit in units:
        unit_bytes = sum(size[k] for k in unit)
        if len(unit) > cap or ENVELOPE_BYTES + unit_bytes > byte_cap:
            what = (f"{len(unit)} resources reference each other in a cycle "
                    f"({', '.join(unit[:3])}, ...); they must land in one transaction"
                    if len(unit) > 1 else f"{unit[0]} alone")
            raise BadInput(f"{what}: {len(unit)} entries, {ENVELOPE_BYTES + unit_bytes} bytes, "
                           f"more than a transaction may hold here ({cap} entries, "
                           f"{max_bytes or 'any'} bytes)")
        if (not chunks or len(chunks[-1]) + len(unit) > cap
                or chunk_bytes + unit_bytes > byte_cap):
            chunks.append([])
            chunk_bytes = ENVELOPE_BYTES
        chunks[-1].extend(unit)
        chunk_bytes += unit_bytes
    return [Chunk(n, tuple(by_key[k] for k in keys)) for n, keys in enumerate(chunks, 1)]
