"""Stage 3b (optional): the mapped R5 resources -> FHIR R4B (4.3.0), element by element.

The R5 mappers stay the one place facts become FHIR; this module only moves elements to where
R4B keeps them. Every element that differs, and what happens to it, is listed in
docs/r4b-mapping.md. Where R4B has no element for a fact, the fact goes into the resource's
narrative (status `additional`), never into an extension the receiving validator would not
know. Each result is parsed by its `fhir.resources.R4B` model, so an R5 element this module
does not handle fails the build loudly instead of leaking into the export.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from html import escape
from typing import Any, cast

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource

from ivig_fhir.mapping.mapped import Mapped

FHIR_VERSION = "4.3.0"

JsonDict = dict[str, Any]

# Provenance.entity.role: R5 dropped `derivation` and added `instantiates`.
ENTITY_ROLE = {"revision": "revision", "quotation": "quotation", "source": "source",
               "removal": "removal"}
# Group.type: R4B's code system has these; R5 added careteam, location, organization, ...
GROUP_TYPES = {"person", "animal", "practitioner", "device", "medication", "substance"}
ACTIVE_INGREDIENT = "ACTI"
CONTEXT_PATHS = {
    "MedicationKnowledge.indicationGuideline.dosingGuideline":
        "MedicationKnowledge.administrationGuidelines",
    "MedicationKnowledge.definitional.drugCharacteristic":
        "MedicationKnowledge.drugCharacteristic",
}  # v3 RoleClass code R5 puts in ingredient.type; R4B has isActive


class NotInR4B(ValueError):
    """An R5 element the mappers produced that has no R4B form here: a converter gap."""


def to_r4b(resources: Sequence[Mapped]) -> list[Mapped]:
    """Each resource in its R4B form, parsed by the R4B model; same ids, same order."""
    out = []
    for mapped in resources:
        data: JsonDict = json.loads(mapped.resource.model_dump_json(exclude_none=True))
        converted = convert(data)
        model = get_fhir_model_class(converted["resourceType"])  # an R4B resource class
        out.append(replace(mapped, resource=cast(Resource, model.model_validate(converted))))
    return out


def convert(resource: JsonDict) -> JsonDict:
    """One R5 resource (JSON) -> its R4B JSON. Types without differences pass unchanged."""
    data = copy.deepcopy(resource)  # the steps rename elements in place
    step = _STEPS.get(data["resourceType"])
    return step(data) if step else data


def _medication_knowledge(r: JsonDict) -> JsonDict:
    notes = []
    for ident in r.pop("identifier", []):
        notes.append(f"Identifier: {ident['system']}|{ident['value']}")
    r.pop("author", None)  # the publisher: Provenance.agent of this resource names it too
    for place in r.pop("intendedJurisdiction", []):
        notes.append("Intended jurisdiction: " + ", ".join(
            c["code"] for c in place.get("coding", [])))
    if names := r.pop("name", None):
        r["synonym"] = names
    # R4B has `contraindication` (Reference(DetectedIssue)) and no link to
    # ClinicalUseDefinition: the uses stay reachable through Medication (their subject).
    r.pop("clinicalUseIssue", None)
    if "cost" in r:
        r["cost"] = [_cost(c) for c in r["cost"]]
    if "indicationGuideline" in r:
        r["administrationGuidelines"] = [
            guideline for ig in r.pop("indicationGuideline") for guideline in _guidelines(ig)]
    for mc in r.get("medicineClassification", []):
        _no(mc, "MedicationKnowledge.medicineClassification", "sourceString", "sourceUri")
    if "definitional" in r:
        definitional = dict(r.pop("definitional"))
        _no(definitional, "MedicationKnowledge.definitional", "definition")
        for name in ("doseForm", "intendedRoute"):
            if name in definitional:
                r[name] = definitional.pop(name)
        if "ingredient" in definitional:
            r["ingredient"] = [_ingredient(i) for i in definitional.pop("ingredient")]
        if "drugCharacteristic" in definitional:
            r["drugCharacteristic"] = [_characteristic(c)
                                       for c in definitional.pop("drugCharacteristic")]
        _no(definitional, "MedicationKnowledge.definitional", *definitional)
    return _note(r, notes)


def _cost(cost: JsonDict) -> JsonDict:
    cost = dict(cost)
    cost.pop("effectiveDate", None)  # no R4B element; the mappers set none
    _no(cost, "MedicationKnowledge.cost", "costCodeableConcept")
    cost["cost"] = cost.pop("costMoney")
    return cost


def _guidelines(ig: JsonDict) -> list[JsonDict]:
    """indicationGuideline.dosingGuideline -> one administrationGuidelines each. R4B names one
    indication per guideline: R5's treatment intent (for which uses the regimen holds) goes
    there as text."""
    # R4B indication[x] is a CodeableConcept or Reference(ObservationDefinition): the use a
    # regimen is tied to (R5 Reference(ClinicalUseDefinition)) becomes words next to the intent.
    uses = [i["reference"].get("display", i["reference"]["reference"])
            for i in ig.get("indication", [])]
    out = []
    for dg in ig.get("dosingGuideline", []):
        _no(dg, "MedicationKnowledge.indicationGuideline.dosingGuideline",
            "administrationTreatment", "patientCharacteristic")
        guideline: JsonDict = {"dosage": dg.get("dosage", [])}
        intent = dict(dg.get("treatmentIntent", {}))
        if uses:
            intent["text"] = f"For: {', '.join(uses)}. " + intent.get("text", "")
        if intent:
            guideline["indicationCodeableConcept"] = intent
        # R4B administrationGuidelines has no slot for the caveats; the extension (defined in
        # the export) is allowed on any element, so it moves up with the guideline.
        if "extension" in dg:
            guideline["extension"] = dg["extension"]
        out.append(guideline)
    return out


def _ingredient(ing: JsonDict) -> JsonDict:
    """R5 `item` (CodeableReference) and `type` -> R4B `item[x]` and `isActive`."""
    ing = dict(ing)
    _no(ing, "ingredient", "strengthRatio", "strengthCodeableConcept", "strengthQuantity")
    out = _item(ing.pop("item"))
    if "type" in ing:
        codes = {c.get("code") for c in ing.pop("type").get("coding", [])}
        out["isActive"] = ACTIVE_INGREDIENT in codes
    if "isActive" in ing:
        out["isActive"] = ing.pop("isActive")
    _no(ing, "ingredient", *ing)
    return out


def _item(ref: JsonDict) -> JsonDict:
    if "concept" in ref and "reference" in ref:
        raise NotInR4B("an ingredient with both a concept and a reference has no R4B form")
    if "concept" in ref:
        return {"itemCodeableConcept": ref["concept"]}
    return {"itemReference": ref["reference"]}


def _characteristic(ch: JsonDict) -> JsonDict:
    _no(ch, "MedicationKnowledge.definitional.drugCharacteristic", "valueAttachment")
    return ch


def _medication(r: JsonDict) -> JsonDict:
    if "doseForm" in r:
        r["form"] = r.pop("doseForm")
    _no(r, "Medication", "marketingAuthorizationHolder", "totalVolume", "definition")
    if "ingredient" in r:
        r["ingredient"] = [_ingredient(i) for i in r["ingredient"]]
    return r


def _clinical_use(r: JsonDict) -> JsonDict:
    _no(r, "ClinicalUseDefinition", "library")
    for part in ("indication", "contraindication"):
        if part in r:
            _no(r[part], f"ClinicalUseDefinition.{part}", "applicability")
    contra = r.get("contraindication", {})
    for therapy in contra.get("otherTherapy", []):
        therapy["therapy"] = therapy.pop("treatment")
    return r


def _regulated_authorization(r: JsonDict) -> JsonDict:
    """R4B allows one `indication`. With one approved use it is copied; with more, they go to
    the narrative and stay reachable the other way: each approved use is a
    ClinicalUseDefinition whose `subject` is this authorization's product."""
    _no(r, "RegulatedAuthorization", "attachedDocument", "case")
    indications = r.pop("indication", [])
    if len(indications) == 1:
        r["indication"] = indications[0]
        return r
    notes = []
    if indications:
        notes.append("Approved uses (R4B holds one indication; query ClinicalUseDefinition?"
                      "subject=" + ", ".join(s["reference"] for s in r.get("subject", []))
                      + "): " + "; ".join(i["reference"]["reference"] for i in indications))
    return _note(r, notes)


def _adverse_event(r: JsonDict) -> JsonDict:
    identifiers = r.pop("identifier", [])
    if len(identifiers) > 1:
        raise NotInR4B("R4B AdverseEvent has one identifier")
    if identifiers:
        r["identifier"] = identifiers[0]
    # R4B has no status; the mappers say `unknown`, which carries nothing to lose.
    r.pop("status", None)
    if "code" in r:
        r["event"] = r.pop("code")
    for entity in r.get("suspectEntity", []):
        _no(entity, "AdverseEvent.suspectEntity", "instanceCodeableConcept", "causality")
        entity["instance"] = entity.pop("instanceReference")
    _no(r, "AdverseEvent", "occurrenceDateTime", "occurrencePeriod", "occurrenceTiming",
        "resultingEffect", "participant", "expectedInResearchStudy", "contributingFactor",
        "preventiveAction", "mitigatingAction", "supportingInfo", "note")
    return r


def _group(r: JsonDict) -> JsonDict:
    if r["type"] not in GROUP_TYPES:
        raise NotInR4B(f"Group.type {r['type']!r} has no R4B code")
    # R5 `membership` (definitional | enumerated) is R4B `actual` (false | true).
    r["actual"] = r.pop("membership") == "enumerated"
    r.pop("description", None)  # no R4B element; the narrative shows it (mapping.population)
    return r


def _document_reference(r: JsonDict) -> JsonDict:
    _no(r, "DocumentReference", "version", "basedOn", "modality", "event", "bodySite",
        "facilityType", "practiceSetting", "period", "attester", "context")
    for content in r.get("content", []):
        _no(content, "DocumentReference.content", "profile")
    return r


def _provenance(r: JsonDict) -> JsonDict:
    _no(r, "Provenance", "authorization", "basedOn", "patient", "encounter")
    for entity in r.get("entity", []):
        if entity["role"] not in ENTITY_ROLE:
            raise NotInR4B(f"Provenance.entity.role {entity['role']!r} has no R4B code")
        entity["role"] = ENTITY_ROLE[entity["role"]]
    return r


def _canonical(r: JsonDict) -> JsonDict:
    _no(r, r["resourceType"], "versionAlgorithmString", "versionAlgorithmCoding",
        "copyrightLabel")
    if r["resourceType"] == "StructureDefinition":
        r["fhirVersion"] = FHIR_VERSION
        # Extension contexts follow the elements this module moves.
        for context in r.get("context", []):
            context["expression"] = CONTEXT_PATHS.get(context["expression"],
                                                      context["expression"])
    if "approvalDate" in r:  # no R4B resource type the export writes has the element
        date = r.pop("approvalDate")
        return _note(r, [f"Approved on {date} (approvalDate); the approval Provenance names "
                         "the reviewer."])
    return r


_STEPS: dict[str, Callable[[JsonDict], JsonDict]] = {
    "MedicationKnowledge": _medication_knowledge,
    "Medication": _medication,
    "ClinicalUseDefinition": _clinical_use,
    "RegulatedAuthorization": _regulated_authorization,
    "AdverseEvent": _adverse_event,
    "Group": _group,
    "DocumentReference": _document_reference,
    "Provenance": _provenance,
    "CodeSystem": _canonical,
    "StructureDefinition": _canonical,
    "ValueSet": _canonical,
}


def _no(data: JsonDict, where: str, *names: str) -> None:
    """Fail on R5 elements the mappers do not use today and that have no R4B home here."""
    present = [n for n in names if n in data]
    if present:
        raise NotInR4B(f"{where}: no R4B form for {', '.join(present)}")


def _note(r: JsonDict, notes: list[str]) -> JsonDict:
    """Carry facts R4B has no element for in the narrative, which then says more than the
    structured data: status `additional`."""
    if not notes:
        return r
    text = dict(r["text"])
    lines = "".join(f"<p><i>Not structured in FHIR R4B:</i> {escape(n)}</p>" for n in notes)
    text["div"] = text["div"].removesuffix("</div>") + lines + "</div>"
    text["status"] = "additional"
    r["text"] = text
    return r
