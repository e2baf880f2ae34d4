"""A copy of an export under other ids, so several copies can sit side by side on one server
(integration tests and benchmarks load each scenario into fresh ids instead of restarting it).

Every resource id gets `-TAG`; references, fullUrls and request URLs follow. The export's own
base (`https://ivig-fhir.org/fhir/`, the folder above Bundle.identifier.system's
`identifier/`) gets TAG as a path segment in its identifier systems and in the canonical URLs
of CodeSystems and StructureDefinitions (`.../fhir/TAG/identifier/clinical-use`,
`.../fhir/TAG/CodeSystem/x`; HAPI refuses two CodeSystems with one URL), so each copy is a
separate namespace of "ours", by identifier system and by canonical base: retiring withdrawn
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
    bundle_system = str((out.get("identifier") or {}).get("system", ""))
    folder = bundle_system.rsplit("/", 1)[0] + "/" if "/" in bundle_system else ""
    base = folder.removesuffix("identifier/") if folder.endswith("/identifier/") else ""

    def moved(value: str) -> str:
        return (f"{base}{tag}/{value.removeprefix(base)}" if base and value.startswith(base)
                else f"{value}-{tag}")

    for entry in out.get("entry", []):
        resource = entry["resource"]
        if resource["resourceType"] in ("CodeSystem", "StructureDefinition") and "url" in resource:
            renames[resource["url"]] = moved(resource["url"])
    if folder:
        for system in _strings(out):
            if system.startswith(folder) and system != folder:
                renames.setdefault(system, moved(system))
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
