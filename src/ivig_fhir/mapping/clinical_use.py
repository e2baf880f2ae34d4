"""Indications, undesirable effects, interactions, warnings and contraindications as
ClinicalUseDefinitions: one issue per resource (invariant cud-1), subject the IVIG Medication.

Regulatory status (FDA-approved / off-label) and the basis of evidence are coded in `category`
from the export's own code systems: FHIR has no element for them.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.clinicalusedefinition import ClinicalUseDefinition

from ivig_fhir.load.curated import Indication, Interaction, Setting, UndesirableEffect, Warning
from ivig_fhir.mapping.context import PREFIX, JsonDict, MapContext, reference
from ivig_fhir.mapping.definitions import (
    CORE_FREQUENCY,
    CORE_FREQUENCY_CODES,
    extension,
    local_concept,
)
from ivig_fhir.mapping.mapped import Mapped
from ivig_fhir.mapping.medication import MEDICATION_ID
from ivig_fhir.mapping.narrative import Row, narrative
from ivig_fhir.mapping.population import group_id

STATUS_LABEL = {"fda-approved": "FDA-approved use", "off-label": "Off-label use"}
PUBLICATION_STATUS = "http://hl7.org/fhir/publication-status"


def cud_id(kind: str, key: str) -> str:
    return f"{PREFIX[kind]}-{key}"


def _base(ctx: MapContext, kind: str, key: str, title: str, rows: list[Row],
          notes: list[str | None], population: str | None) -> JsonDict:
    data: JsonDict = {
        "resourceType": "ClinicalUseDefinition",
        "id": cud_id(kind, key),
        "text": narrative(title, rows, notes),
        "identifier": [ctx.identifier("clinical-use", f"{kind}/{key}")],
        "type": kind,
        "subject": [reference("Medication", MEDICATION_ID, ctx.curated.product.name)],
        "status": {"coding": [{"system": PUBLICATION_STATUS, "code": "active",
                               "display": "Active"}]},
    }
    if population:
        data["population"] = [reference("Group", group_id(population),
                                        ctx.curated.population(population).name)]
    return data


def _cud(data: JsonDict, cites: list[str], at: Any) -> Mapped:
    return Mapped(ClinicalUseDefinition.model_validate(data), tuple(cites), at)


def map_indication(ctx: MapContext, ind: Indication) -> Mapped:
    name = ctx.concepts[ind.concept].display
    comorbid = [ctx.concepts[k].display for k in ind.comorbidity]
    title = f"IVIG {ind.intent} of {name}" + (f" in {', '.join(comorbid)}" if comorbid else "")
    categories = [local_concept(ctx, "use-regulatory-status", ind.status),
                  {"text": ind.group}]
    evidence = local_concept(ctx, "evidence-basis", ind.evidence) if ind.evidence else None
    if evidence:
        categories.append(evidence)
    if ind.recommendation == "none-made":
        categories.append(local_concept(ctx, "evidence-basis", "no-recommendation"))
    status_text = "; ".join(s for s in (ind.qualifier, ind.disease_status) if s) or None
    indication: JsonDict = {"diseaseSymptomProcedure": ctx.concept_ref(ind.concept)}
    if status_text:
        indication["diseaseStatus"] = {"concept": {"text": status_text}}
    if ind.comorbidity:
        indication["comorbidity"] = [ctx.concept_ref(k) for k in ind.comorbidity]
    indication["intendedEffect"] = {"concept": local_concept(ctx, "ivig-knowledge", ind.intent)}
    rows: list[Row] = [
        ("Regulatory status", STATUS_LABEL[ind.status]),
        ("Listed under", ind.group),
        ("Condition", name),
        ("Context", comorbid),
        ("Disease status", status_text),
        ("Evidence", evidence["text"] if evidence else None),
        ("Recommendation", "None made by the source" if ind.recommendation else None),
        ("Population", ctx.curated.population(ind.population).name if ind.population else None),
        ("Summary", ind.description),
    ]
    data = _base(ctx, "indication", ind.key, title, rows, [ind.note], ind.population)
    data["category"] = categories
    data["indication"] = indication
    return _cud(data, ind.cite, ind.at)


def map_undesirable_effect(ctx: MapContext, ue: UndesirableEffect) -> Mapped:
    name = ctx.concepts[ue.concept].display
    effect: JsonDict = {"symptomConditionEffect": ctx.concept_ref(ue.concept)}
    if ue.manifestations:
        effect["extension"] = [extension(ctx, "undesirable-effect-manifestation", ctx.concept(k))
                               for k in ue.manifestations]
    if ue.severity_text:
        effect["classification"] = {"text": ue.severity_text}
    if ue.frequency in CORE_FREQUENCY_CODES:
        display = CORE_FREQUENCY_CODES[ue.frequency]
        effect["frequencyOfOccurrence"] = {
            "coding": [{"system": CORE_FREQUENCY, "code": display, "display": display}],
            "text": display}
    elif ue.frequency:
        effect["frequencyOfOccurrence"] = local_concept(ctx, "undesirable-effect-frequency",
                                                        ue.frequency)
    rows: list[Row] = [
        ("Reaction", name),
        ("Severity", ue.severity_text),
        ("Frequency", effect.get("frequencyOfOccurrence", {}).get("text")),
        ("Signs", [ctx.concepts[k].display for k in ue.manifestations]),
        ("Summary", ue.description),
    ]
    data = _base(ctx, "undesirable-effect", ue.key, f"Undesirable effect of IVIG: {name}", rows,
                 [ue.note], None)
    data["undesirableEffect"] = effect
    return _cud(data, ue.cite, ue.at)


def map_interaction(ctx: MapContext, it: Interaction) -> Mapped:
    interactant = ctx.concepts[it.interactant].display
    effect_name = it.effect_text or ctx.concepts[it.effect].display
    rows: list[Row] = [("Interacts with", interactant), ("Effect", effect_name),
                       ("Management", it.management)]
    data = _base(ctx, "interaction", it.key, f"Interaction of IVIG with {interactant}", rows,
                 [it.note], None)
    data["interaction"] = {
        "interactant": [{"itemCodeableConcept": ctx.concept(it.interactant)}],
        "type": {"coding": [{"system": "http://hl7.org/fhir/interaction-type", "code": it.type}]},
        "effect": ctx.concept_ref(it.effect, it.effect_text),
        "management": [{"text": it.management}],
    }
    return _cud(data, it.cite, it.at)


def map_warning(ctx: MapContext, w: Warning) -> Mapped:
    examples = [ctx.concepts[k].display for k in w.examples]
    name = ctx.concepts[w.concept].display if w.concept else w.key.replace("-", " ")
    rows: list[Row] = [("About", name), ("Description", w.description), ("Examples", examples),
                       ("Mitigation", w.mitigation)]
    title = f"{'Warning' if w.kind == 'warning' else 'Contraindication'} for IVIG: {name}"
    data = _base(ctx, w.kind, w.key, title, rows, [w.note], w.population)
    description = w.description
    if examples:
        description += f" Examples: {', '.join(examples)}."
    if w.mitigation:
        description += f" Mitigation: {w.mitigation}"
    if w.kind == "warning":
        warning: JsonDict = {"description": description}
        if w.concept:
            warning["code"] = ctx.concept(w.concept)
        data["warning"] = warning
    else:
        if not w.concept:
            raise ValueError(f"contraindication {w.key} needs a concept")  # schema-guarded
        data["contraindication"] = {"diseaseSymptomProcedure": ctx.concept_ref(w.concept)}
    return _cud(data, w.cite, w.at)


def map_setting(ctx: MapContext, s: Setting) -> Mapped:
    """Care settings are precautions in the source; each is a warning coded by its setting."""
    name = ctx.concepts[s.concept].display
    rows: list[Row] = [("When", s.when), ("Setting", name), ("Description", s.text)]
    data = _base(ctx, "warning", f"setting-{s.key}", f"Care setting for IVIG: {s.when}", rows,
                 [], None)
    data["warning"] = {"description": f"{s.when}: {s.text}", "code": ctx.concept(s.concept)}
    return _cud(data, s.cite, s.at)


def map_supervision(ctx: MapContext) -> Mapped:
    sup = ctx.curated.dosing.supervision
    data = _base(ctx, "warning", "physician-supervision", "IVIG needs physician supervision",
                 [("Description", sup.text)], [], None)
    data["warning"] = {"description": sup.text}
    return _cud(data, sup.cite, sup.at)


def map_clinical_uses(ctx: MapContext) -> list[Mapped]:
    c = ctx.curated
    return [
        *(map_indication(ctx, i) for i in c.indications),
        *(map_undesirable_effect(ctx, u) for u in c.undesirable_effects),
        *(map_interaction(ctx, i) for i in c.interactions),
        *(map_warning(ctx, w) for w in c.warnings),
        *(map_setting(ctx, s) for s in c.dosing.settings),
        map_supervision(ctx),
    ]
