"""MedicationKnowledge: what IVIG is, how it is dosed and what it costs, linking every
ClinicalUseDefinition (`clinicalUseIssue`) and the source documents (`monograph`)."""

from __future__ import annotations

from collections.abc import Sequence

from ivig_fhir.load.curated import Indication, Regimen
from ivig_fhir.mapping.clinical_use import cud_id
from ivig_fhir.mapping.context import (
    JsonDict,
    MapContext,
    fmt_range,
    reference,
    ucum_quantity,
    ucum_range,
)
from ivig_fhir.mapping.definitions import extension, local_concept
from ivig_fhir.mapping.mapped import Mapped
from ivig_fhir.mapping.medication import MEDICATION_ID
from ivig_fhir.mapping.narrative import Row, narrative
from ivig_fhir.mapping.provenance import document_id

KNOWLEDGE_ID = "ivig-knowledge"
ATC_CLASSIFICATION = {"text": "Anatomical Therapeutic Chemical (ATC) classification"}


def map_knowledge(ctx: MapContext, clinical_uses: Sequence[Mapped]) -> Mapped:
    c = ctx.curated
    p, d = c.product, c.dosing
    pre = d.premedication
    before = f"{fmt_range(pre.before_infusion, 'minutes')} before infusions"
    premedication = []
    for index, agent in enumerate(pre.agents, start=1):
        name = agent.text or ctx.concepts[agent.concept].display
        dosage: JsonDict = {
            "sequence": index,
            "text": f"{name}, {before}",
            "additionalInstruction": [ctx.concept(agent.concept), {"text": pre.purpose}],
            "timing": {"code": {"text": before}},
        }
        if agent.route:
            dosage["route"] = ctx.concept(agent.route)
        premedication.append(dosage)
    indication_uses = [m for m in clinical_uses if m.resource_type == "ClinicalUseDefinition"
                       and m.resource["type"] == "indication"]
    characteristics: list[JsonDict] = []
    for ch in p.characteristics:
        entry: JsonDict = {"type": local_concept(ctx, "ivig-knowledge", ch.type)}
        # drugCharacteristic takes a SimpleQuantity, which forbids a comparator (sqty-1): "more
        # than 1,000 donors" stays in words rather than becoming "1,000 donors".
        if ch.quantity and not ch.quantity.comparator:
            entry["valueQuantity"] = ucum_quantity(ch.quantity.value, ch.quantity.unit)
        else:
            entry["valueString"] = ch.text
        characteristics.append(entry)
    characteristics.append(_response(ctx))
    cost = d.cost
    per = f"per {cost.per}" + (f", {c.population(cost.population).name}"
                                if cost.population else "")
    costs = [{"type": local_concept(ctx, "ivig-knowledge", code, f"{label} ({per})"),
              "source": _cost_source(ctx),
              "costMoney": {"value": value, "currency": cost.currency}}
             for code, label, value in (("cost-range-low", "Cost, low end", cost.low),
                                        ("cost-range-high", "Cost, high end", cost.high))]
    data: JsonDict = {
        "resourceType": "MedicationKnowledge",
        "id": KNOWLEDGE_ID,
        "text": narrative(p.name, _rows(ctx, before, per, indication_uses)),
        "identifier": [ctx.identifier("medication-knowledge", p.key)],
        "code": {**ctx.concept(p.concept, p.name), "coding": _unique([
            *ctx.concept(p.concept).get("coding", []),
            *(coding for key in p.classification for coding in ctx.concept(key).get("coding", []))
        ])},
        "status": "active",
        "author": {"display": c.release.publisher},
        "intendedJurisdiction": ([{"coding": [{"system": "urn:iso:std:iso:3166",
                                              "code": c.release.jurisdiction}]}]
                                 if c.release.jurisdiction else None),
        "name": [p.name],
        "associatedMedication": [reference("Medication", MEDICATION_ID, p.name)],
        "monograph": [{"type": {"text": "Source document"},
                       "source": reference("DocumentReference", document_id(s.key), s.title)}
                      for s in c.all_sources],
        "preparationInstruction": "\n\n".join(f"**{s.when}:** {s.text}" for s in d.settings),
        "cost": costs,
        "clinicalUseIssue": [reference("ClinicalUseDefinition", m.id)
                             for m in clinical_uses],
        # One guideline per source statement, never one regimen for every use: the per-course
        # range belongs to the infantile-spasms page, the interval to the IVIG-uses page.
        "indicationGuideline": [*(_regimen(ctx, r) for r in d.regimens), {"dosingGuideline": [{
            "treatmentIntent": {"text": "Premedication before infusions (infantile-spasms page; "
                                        "typical, not mandatory)"},
            "dosage": [{"type": local_concept(ctx, "ivig-knowledge", "premedication"),
                        "dosage": premedication}],
        }]}],
        "medicineClassification": [
            {"type": ATC_CLASSIFICATION, "classification": [ctx.concept(k)]}
            for k in p.classification
        ] + [{"type": local_concept(ctx, "ivig-knowledge", "mechanism-of-action"),
              "classification": [{"text": m.text}]} for m in p.mechanisms],
        "definitional": {
            "doseForm": ctx.concept(p.dose_form),
            "intendedRoute": [ctx.concept(p.route)],
            "ingredient": [{"item": ctx.concept_ref(p.substance),
                            "type": {"coding": [{
                                "system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass",
                                "code": "ACTI", "display": "active ingredient"}]}}],
            "drugCharacteristic": characteristics,
        },
    }
    data = {k: v for k, v in data.items() if v is not None}
    cites = {*p.cite, *d.cite, *d.premedication.cite, *d.cost.cite, *d.response.cite,
             *(x for r in d.regimens for x in r.cite),
             *(x for ch in p.characteristics for x in ch.cite),
             *(x for m in p.mechanisms for x in m.cite)}
    return Mapped(data, tuple(sorted(cites)), p.at)


def _regimen(ctx: MapContext, r: Regimen) -> JsonDict:
    """One dosing statement as its source gives it: dose and course length, or an interval,
    with the source's context and caveats (qualifier extension) kept in structure."""
    p = ctx.curated.product
    dosage: JsonDict = {"sequence": 1, "text": r.text, "route": ctx.concept(p.route)}
    repeat: JsonDict = {}
    if r.duration:
        # The course length: the whole schedule lasts 1-5 days (bounds), not each infusion.
        repeat["boundsRange"] = ucum_range(r.duration)
    if r.interval:
        repeat.update({"frequency": 1, "period": r.interval.low, "periodMax": r.interval.high,
                       "periodUnit": r.interval.unit})
    if repeat:
        dosage["timing"] = {"repeat": repeat}
    if r.dose:
        dosage["doseAndRate"] = [{
            "type": local_concept(ctx, "ivig-knowledge", "dose-per-course"),
            "doseRange": ucum_range(r.dose)}]
    kind = "course-regimen" if r.dose else "infusion-interval"
    dosing: JsonDict = {
        "treatmentIntent": {"text": r.context},
        "dosage": [{"type": local_concept(ctx, "ivig-knowledge", kind, r.title),
                    "dosage": [dosage]}],
    }
    if r.qualifiers:
        dosing["extension"] = [
            extension(ctx, "fact-qualifier", local_concept(ctx, "fact-qualifier", q))
            for q in r.qualifiers]
    guideline: JsonDict = {"dosingGuideline": [dosing]}
    if r.indications:
        guideline["indication"] = [{"reference": reference(
            "ClinicalUseDefinition", cud_id("indication", k),
            ctx.concepts[_indication(ctx, k).concept].display)} for k in r.indications]
    return guideline


def _indication(ctx: MapContext, key: str) -> Indication:
    return {i.key: i for i in ctx.curated.indications}[key]


def _response(ctx: MapContext) -> JsonDict:
    """The response time only with its condition: the page says it of cases where IVIG is
    thought to have worked, not of the product."""
    resp = ctx.curated.dosing.response
    return {
        "extension": [
            extension(ctx, "fact-qualifier", local_concept(ctx, "fact-qualifier", "conditional")),
            extension(ctx, "fact-condition", resp.condition),
        ],
        "type": local_concept(ctx, "ivig-knowledge", "onset-of-response"),
        "valueString": f"{resp.condition} Responses are usually seen "
                       f"{fmt_range(resp.onset, 'weeks')} after the infusion. {resp.repeat}",
    }


def _cost_source(ctx: MapContext) -> str:
    cite = ctx.curated.dosing.cost.cite[0]
    source, _, _ = ctx.locators[cite]
    return source.title


def _rows(ctx: MapContext, before: str, per: str,
          indications: Sequence[Mapped]) -> list[Row]:
    c = ctx.curated
    p, d = c.product, c.dosing
    return [
        ("What it is", p.description),
        ("Route / form", f"{ctx.concepts[p.route].display}; {ctx.concepts[p.dose_form].display}"),
        ("Characteristics", [ch.text for ch in p.characteristics]),
        ("Mechanisms", [m.text for m in p.mechanisms]),
        ("Dosing statements", [f"{r.title}: {r.text} ({r.context})" for r in d.regimens]),
        ("Response", f"{d.response.condition} Usually {fmt_range(d.response.onset, 'weeks')} "
                     f"after infusion. {d.response.repeat}"),
        ("Premedication", ", ".join(ctx.concepts[a.concept].display
                                    for a in d.premedication.agents) + f" — {before}"),
        ("Care settings", [f"{s.when}: {s.text}" for s in d.settings]),
        ("Cost", f"{d.cost.currency} {d.cost.low:,g}–{d.cost.high:,g} {per}"),
        ("Supervision", d.supervision.text),
        ("Uses", f"{len(indications)} indications (ClinicalUseDefinition)"),
    ]


def _unique(codings: list[JsonDict]) -> list[JsonDict]:
    """Codings in order, each (system, code) once: the product's own codes and its
    classification's share the ATC code."""
    seen: set[tuple[str, str]] = set()
    out = []
    for c in codings:
        if (c["system"], c["code"]) not in seen:
            seen.add((c["system"], c["code"]))
            out.append(c)
    return out
