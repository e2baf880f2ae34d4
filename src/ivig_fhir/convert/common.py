"""What the R4B and R4 conversions share: R4 and R4B define the same elements for every
resource type the export writes (checked against both sets of definitions, docs/r4-mapping.md),
so an R5 element that R4B keeps under another name or shape moves the same way for R4. The two
differ only in what happens to R5 facts with no R4/R4B element: R4B writes them into the
narrative (convert.r4b), R4 into HL7's cross-version extensions (convert.r4).
"""

from __future__ import annotations

from typing import Any

JsonDict = dict[str, Any]

# Provenance.entity.role: R5 dropped `derivation` and added `instantiates`.
ENTITY_ROLE = {"revision": "revision", "quotation": "quotation", "source": "source",
               "removal": "removal"}
# Group.type: R4/R4B's code system has these; R5 added careteam, location, organization, ...
GROUP_TYPES = {"person", "animal", "practitioner", "device", "medication", "substance"}
ACTIVE_INGREDIENT = "ACTI"  # v3 RoleClass code R5 puts in ingredient.type; R4/R4B have isActive
# Extension contexts follow the elements the conversions move.
CONTEXT_PATHS = {
    "MedicationKnowledge.indicationGuideline.dosingGuideline":
        "MedicationKnowledge.administrationGuidelines",
    "MedicationKnowledge.definitional.drugCharacteristic":
        "MedicationKnowledge.drugCharacteristic",
}

# R5-only MedicationKnowledge elements with no R4/R4B element: each conversion decides where
# they go (R4B: narrative; R4: cross-version extensions).
MK_R5_ONLY = ("identifier", "author", "intendedJurisdiction", "clinicalUseIssue")


class NotConvertible(ValueError):
    """An R5 element the mappers produced that has no R4B/R4 form here: a converter gap."""


def no(data: JsonDict, where: str, *names: str) -> None:
    """Fail on R5 elements the mappers do not use today and that have no R4B/R4 home here."""
    present = [n for n in names if n in data]
    if present:
        raise NotConvertible(f"{where}: no R4B/R4 form for {', '.join(present)}")


def medication_knowledge(r: JsonDict) -> tuple[JsonDict, JsonDict]:
    """Move every R5 MedicationKnowledge element R4/R4B keep elsewhere; return the resource and
    the R5-only elements (MK_R5_ONLY) taken out of it, for the caller to place."""
    lifted = {name: r.pop(name) for name in MK_R5_ONLY if name in r}
    if names := r.pop("name", None):
        r["synonym"] = names
    if "cost" in r:
        r["cost"] = [_cost(c) for c in r["cost"]]
    if "indicationGuideline" in r:
        r["administrationGuidelines"] = [
            guideline for ig in r.pop("indicationGuideline") for guideline in _guidelines(ig)]
    for mc in r.get("medicineClassification", []):
        no(mc, "MedicationKnowledge.medicineClassification", "sourceString", "sourceUri")
    if "definitional" in r:
        definitional = dict(r.pop("definitional"))
        no(definitional, "MedicationKnowledge.definitional", "definition")
        for name in ("doseForm", "intendedRoute"):
            if name in definitional:
                r[name] = definitional.pop(name)
        if "ingredient" in definitional:
            r["ingredient"] = [_ingredient(i) for i in definitional.pop("ingredient")]
        if "drugCharacteristic" in definitional:
            r["drugCharacteristic"] = [_characteristic(c)
                                       for c in definitional.pop("drugCharacteristic")]
        no(definitional, "MedicationKnowledge.definitional", *definitional)
    return r, lifted


def _cost(cost: JsonDict) -> JsonDict:
    cost = dict(cost)
    cost.pop("effectiveDate", None)  # no R4/R4B element; the mappers set none
    no(cost, "MedicationKnowledge.cost", "costCodeableConcept")
    cost["cost"] = cost.pop("costMoney")
    return cost


def _guidelines(ig: JsonDict) -> list[JsonDict]:
    """indicationGuideline.dosingGuideline -> one administrationGuidelines each. R4/R4B name
    one indication per guideline: R5's treatment intent (for which uses the regimen holds) goes
    there as text."""
    # R4/R4B indication[x] is a CodeableConcept or Reference(ObservationDefinition): the use a
    # regimen is tied to (R5 Reference(ClinicalUseDefinition)) becomes words next to the intent.
    uses = [i["reference"].get("display", i["reference"]["reference"])
            for i in ig.get("indication", [])]
    out = []
    for dg in ig.get("dosingGuideline", []):
        no(dg, "MedicationKnowledge.indicationGuideline.dosingGuideline",
           "administrationTreatment", "patientCharacteristic")
        guideline: JsonDict = {"dosage": dg.get("dosage", [])}
        intent = dict(dg.get("treatmentIntent", {}))
        if uses:
            intent["text"] = f"For: {', '.join(uses)}. " + intent.get("text", "")
        if intent:
            guideline["indicationCodeableConcept"] = intent
        # R4/R4B administrationGuidelines has no slot for the caveats; the extension (defined
        # in the export) is allowed on any element, so it moves up with the guideline.
        if "extension" in dg:
            guideline["extension"] = dg["extension"]
        out.append(guideline)
    return out


def _ingredient(ing: JsonDict) -> JsonDict:
    """R5 `item` (CodeableReference) and `type` -> R4/R4B `item[x]` and `isActive`."""
    ing = dict(ing)
    no(ing, "ingredient", "strengthRatio", "strengthCodeableConcept", "strengthQuantity")
    out = _item(ing.pop("item"))
    if "type" in ing:
        codes = {c.get("code") for c in ing.pop("type").get("coding", [])}
        out["isActive"] = ACTIVE_INGREDIENT in codes
    if "isActive" in ing:
        out["isActive"] = ing.pop("isActive")
    no(ing, "ingredient", *ing)
    return out


def _item(ref: JsonDict) -> JsonDict:
    if "concept" in ref and "reference" in ref:
        raise NotConvertible("an ingredient with both a concept and a reference has no "
                             "R4B/R4 form")
    if "concept" in ref:
        return {"itemCodeableConcept": ref["concept"]}
    return {"itemReference": ref["reference"]}


def _characteristic(ch: JsonDict) -> JsonDict:
    no(ch, "MedicationKnowledge.definitional.drugCharacteristic", "valueAttachment")
    return ch


def medication(r: JsonDict) -> JsonDict:
    if "doseForm" in r:
        r["form"] = r.pop("doseForm")
    no(r, "Medication", "marketingAuthorizationHolder", "totalVolume", "definition")
    if "ingredient" in r:
        r["ingredient"] = [_ingredient(i) for i in r["ingredient"]]
    return r


def adverse_event(r: JsonDict) -> JsonDict:
    identifiers = r.pop("identifier", [])
    if len(identifiers) > 1:
        raise NotConvertible("R4/R4B AdverseEvent has one identifier")
    if identifiers:
        r["identifier"] = identifiers[0]
    # R4/R4B have no status; the mappers say `unknown`, which carries nothing to lose.
    if r.pop("status", "unknown") != "unknown":
        raise NotConvertible("AdverseEvent.status other than `unknown` has no R4B/R4 form")
    if "code" in r:
        r["event"] = r.pop("code")
    for entity in r.get("suspectEntity", []):
        no(entity, "AdverseEvent.suspectEntity", "instanceCodeableConcept", "causality")
        entity["instance"] = entity.pop("instanceReference")
    no(r, "AdverseEvent", "occurrenceDateTime", "occurrencePeriod", "occurrenceTiming",
       "resultingEffect", "participant", "expectedInResearchStudy", "contributingFactor",
       "preventiveAction", "mitigatingAction", "supportingInfo", "note")
    return r


def group(r: JsonDict) -> JsonDict:
    """Group without `description` (R5-only; the caller places it)."""
    if r["type"] not in GROUP_TYPES:
        raise NotConvertible(f"Group.type {r['type']!r} has no R4B/R4 code")
    # R5 `membership` (definitional | enumerated) is R4/R4B `actual` (false | true).
    r["actual"] = r.pop("membership") == "enumerated"
    return r


def document_reference(r: JsonDict) -> JsonDict:
    no(r, "DocumentReference", "version", "basedOn", "modality", "event", "bodySite",
       "facilityType", "practiceSetting", "period", "attester", "context")
    for content in r.get("content", []):
        no(content, "DocumentReference.content", "profile")
    return r


def provenance(r: JsonDict) -> JsonDict:
    no(r, "Provenance", "authorization", "basedOn", "patient", "encounter")
    for entity in r.get("entity", []):
        if entity["role"] not in ENTITY_ROLE:
            raise NotConvertible(f"Provenance.entity.role {entity['role']!r} has no R4B/R4 code")
        entity["role"] = ENTITY_ROLE[entity["role"]]
    return r


def canonical(r: JsonDict, fhir_version: str) -> JsonDict:
    no(r, r["resourceType"], "versionAlgorithmString", "versionAlgorithmCoding",
       "copyrightLabel")
    if r["resourceType"] == "StructureDefinition":
        r["fhirVersion"] = fhir_version
        for context in r.get("context", []):
            context["expression"] = CONTEXT_PATHS.get(context["expression"],
                                                      context["expression"])
    return r
