"""A copy of an export under other ids, so several copies can sit side by side on one server
(integration tests and benchmarks load each scenario into fresh ids instead of restarting it).

Every resource id gets `-TAG`; references, fullUrls and request URLs follow, and canonical
URLs of CodeSystems and StructureDefinitions get `-TAG` too (HAPI refuses two CodeSystems with
one URL), and so do the export's own identifier systems (those in the folder of
Bundle.identifier.system), so each copy is a separate namespace of "ours": retiring withdrawn
content of one copy never touches another. Only whole string values equal to a rewritten key
change.
"""

from __future__ import annotations

import copy
from typing import Any

from ivig_fhir.upload.plan import JsonObject


def relabel(bundle: JsonObject, tag: str) -> JsonObject:
    out = copy.deepcopy(bundle)
    renames: dict[str, str] = {}
    for entry in out.get("entry", []):
        resource = entry["resource"]
        old = f"{resource['resourceType']}/{resource['id']}"
        new = f"{old}-{tag}"
        renames[old] = new
        if entry.get("fullUrl"):
            renames[entry["fullUrl"]] = entry["fullUrl"].removesuffix(old) + new
        if resource["resourceType"] in ("CodeSystem", "StructureDefinition") and "url" in resource:
            renames[resource["url"]] = f"{resource['url']}-{tag}"
    bundle_system = (out.get("identifier") or {}).get("system", "")
    if "/" in bundle_system:
        folder = bundle_system.rsplit("/", 1)[0] + "/"
        for system in _strings(out):
            if system.startswith(folder) and system != folder:
                renames.setdefault(system, f"{system}-{tag}")
    for entry in out.get("entry", []):
        entry["resource"]["id"] = f"{entry['resource']['id']}-{tag}"
    result: JsonObject = _rename(out, renames)
    return result


def _strings(data: Any) -> set[str]:
    """The `system` of every identifier in the data."""
    found: set[str] = set()
    if isinstance(data, dict):
        for k, v in data.items():
            if k == "identifier":
                for ident in v if isinstance(v, list) else [v]:
                    if isinstance(ident, dict) and isinstance(ident.get("system"), str):
                        found.add(ident["system"])
            found |= _strings(v)
    elif isinstance(data, list):
        for v in data:
            found |= _strings(v)
    return found


def _rename(data: Any, renames: dict[str, str]) -> Any:
    if isinstance(data, dict):
        return {k: _rename(v, renames) for k, v in data.items()}
    if isinstance(data, list):
        return [_rename(v, renames) for v in data]
    if isinstance(data, str):
        return renames.get(data, data)
    return data
