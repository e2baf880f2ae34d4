"""Upload stage 3: does this server take this export? Read from its CapabilityStatement."""

from __future__ import annotations

from typing import Any

from ivig_fhir.upload.plan import Export
from ivig_fhir.upload.profiles import ServerProfile


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def capability_gaps(capability: dict[str, Any], export: Export, *,
                    transactions: bool) -> list[str]:
    """Why the server cannot take the export (empty: it can). `transactions`: the upload
    sends transaction Bundles (not one PUT per resource)."""
    if capability.get("resourceType") != "CapabilityStatement":
        return ["GET [base]/metadata did not return a CapabilityStatement (is --server the "
                "FHIR base URL, e.g. http://host:8080/fhir?)"]
    gaps = []
    server_version = str(capability.get("fhirVersion", "?"))
    if _major_minor(server_version) != _major_minor(export.fhir_version):
        gaps.append(f"the server speaks FHIR {server_version}, the export is FHIR "
                    f"{export.fhir_version}")
    rests = [r for r in capability.get("rest", []) if r.get("mode", "server") == "server"]
    interactions = {i.get("code") for r in rests for i in r.get("interaction", [])}
    if transactions and "transaction" not in interactions:
        gaps.append("the server does not support transactions (try --per-resource)")
    resources = {r.get("type"): r for rest in rests for r in rest.get("resource", [])}
    missing = sorted(t for t in export.counts if t not in resources)
    if missing:
        gaps.append(f"the server does not support the resource type(s) {', '.join(missing)}")
    no_update = sorted(
        t for t in export.counts if t in resources and resources[t].get("interaction")
        and "update" not in {i.get("code") for i in resources[t]["interaction"]})
    if no_update:
        gaps.append(f"the server does not allow update (PUT) of {', '.join(no_update)}")
    return gaps


def profile_warnings(capability: dict[str, Any], profile: ServerProfile,
                     client_ids: bool) -> list[str]:
    """Where the CapabilityStatement contradicts the chosen --server-profile: the upload goes
    on (the server's own word wins where it refuses), but the user learns that the profile's
    limits may be wrong for this server."""
    warnings = []
    version = _major_minor(str(capability.get("fhirVersion", "?")))
    if version not in profile.fhir_versions:
        listed = ", ".join(profile.fhir_versions)
        warnings.append(f"the server speaks FHIR {capability.get('fhirVersion')}, which the "
                        f"{profile.name} profile does not list ({listed})")
    rests = [r for r in capability.get("rest", []) if r.get("mode", "server") == "server"]
    interactions = {i.get("code") for r in rests for i in r.get("interaction", [])}
    if profile.transactions and "transaction" not in interactions:
        warnings.append(f"the {profile.name} profile expects transactions; the server does not "
                        "list them")
    if not client_ids:
        resources = {r.get("type"): r for rest in rests for r in rest.get("resource", [])}
        no_conditional = sorted(t for t, r in resources.items()
                                if "conditionalUpdate" in r and r["conditionalUpdate"] is False)
        if no_conditional:
            warnings.append("conditional update (needed without client ids) is off for "
                            + ", ".join(no_conditional))
    software = str(capability.get("software", {}).get("name", "")).lower()
    known = {"hapi": "hapi", "smile": "smile", "firely": "firely", "medplum": "medplum"}
    for word, name in known.items():
        if word in software and profile.name not in (name, "generic") and not (
                name == "hapi" and profile.name == "smile"):
            warnings.append(f"the server calls itself {capability['software']['name']!r}; the "
                            f"{profile.name} profile may not fit (try --server-profile {name})")
    return warnings
