"""One ValueSet per concept a rule matches on: exactly which codes count as the concept.

`compose.include` lists the codes (ICD-10-CM computed from the shipped release: a category
marked `descendants` in the concept table brings every code below it), and `expansion` holds
the same codes flat, so a rule engine needs no terminology server to match a patient's code.
The expansion is deterministic: codes sorted by system and code, and its timestamp is the
content release date, never the wall clock.
"""

from __future__ import annotations

from itertools import groupby

from ivig_fhir.load.curated import Concept
from ivig_fhir.mapping.context import JsonDict, MapContext
from ivig_fhir.mapping.mapped import Mapped
from ivig_fhir.mapping.narrative import narrative
from ivig_fhir.terminology import icd10cm
from ivig_fhir.terminology.members import MATCHED_SCOPES, Member
from ivig_fhir.terminology.systems import ICD10CM, NAMES


def value_set_id(key: str) -> str:
    return key  # the canonical URL ends in the same key


def map_value_sets(ctx: MapContext) -> list[Mapped]:
    return [map_value_set(ctx, ctx.concepts[key], found)
            for key, found in ctx.value_sets.items()]


def map_value_set(ctx: MapContext, concept: Concept, found: list[Member]) -> Mapped:
    includes = []
    for (system, version), group in groupby(found, key=lambda m: (m.system, m.version)):
        include: JsonDict = {"system": system}
        if version:
            include["version"] = version
        include["concept"] = [{"code": m.code, "display": m.display} for m in group]
        includes.append(include)
    used = sorted({f"{m.system}|{m.version}" if m.version else m.system for m in found})
    description = (f"Every code that counts as '{concept.display}' for a decision-support rule: "
                   "codes equivalent to the concept and codes of narrower concepts it covers; "
                   "never a broader code. SNOMED CT codes are listed as recorded (their "
                   "descendants are not computed offline).")
    resource = {
        "resourceType": "ValueSet",
        "id": value_set_id(concept.key),
        "text": narrative(f"Codes for {concept.display}", [
            ("Description", description), *_rules(concept), ("Codes", f"{len(found)}")]),
        "url": ctx.canonical("ValueSet", value_set_id(concept.key)),
        "identifier": [ctx.identifier("concept", concept.key)],
        "version": ctx.version,
        "name": "".join(p.capitalize() for p in concept.key.split("-")),
        "title": f"Codes for {concept.display}",
        "status": "active",
        "experimental": False,
        "date": ctx.curated.release.date,
        "publisher": ctx.curated.release.publisher,
        "description": description,
        "compose": {"include": includes},
        "expansion": {
            "timestamp": ctx.recorded,
            "total": len(found),
            "parameter": [{"name": "used-codesystem", "valueUri": u} for u in used],
            "contains": [{k: v for k, v in (("system", m.system), ("version", m.version),
                                            ("code", m.code), ("display", m.display)) if v}
                         for m in found],
        },
    }
    return Mapped(resource, (), concept.at, provenance=False)


def _rules(concept: Concept) -> list[tuple[str, str]]:
    """How each recorded code enters the set, for the narrative."""
    rows = []
    for c in concept.codings:
        if c.scope not in MATCHED_SCOPES or c.verified.status == "unverified":
            continue
        name = NAMES.get(c.system, c.system)
        below = ""
        if c.system == ICD10CM and c.descendants:
            below = f" and the {len(icd10cm.release().descendants(c.code))} codes below it"
        rows.append((f"{name} {c.code}{below}", f"{c.scope}: {c.display}. {c.why or ''}"))
    rows += [(f"not ICD-10-CM {ex.code}", ex.why) for ex in concept.exclude]
    return rows
