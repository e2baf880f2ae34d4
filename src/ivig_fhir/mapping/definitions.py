"""The export's own CodeSystems and extension StructureDefinitions.

Only what the FHIR core lacks lives here: no core element says whether a use is FDA-approved
or off-label, or how strong its evidence is; the core undesirable-effect frequency system stops
at Rare. Every local code the mappers use is defined in this one table, so the check that
"every local code used is defined" has a single place to look.
"""

from __future__ import annotations

from ivig_fhir.mapping.context import JsonDict, MapContext
from ivig_fhir.mapping.narrative import narrative

# id -> (title, description, {code: (display, definition)})
CODE_SYSTEMS: dict[str, tuple[str, str, dict[str, tuple[str, str]]]] = {
    "use-regulatory-status": (
        "IVIG use regulatory status",
        "Whether a use of IVIG is approved by the US FDA or off-label.",
        {
            "fda-approved": ("FDA-approved use", "A use the US FDA has approved for IVIG."),
            "off-label": ("Off-label use", "A use outside the FDA-approved labeling."),
        },
    ),
    "evidence-basis": (
        "Evidence basis of an IVIG use",
        "What supports a use of IVIG, as the cited source describes it.",
        {
            "fda-approved-labeling": ("FDA-approved labeling",
                                      "Supported by the FDA approval of the product."),
            "guideline-listed": ("Listed in a guideline resource",
                                 "Listed among off-label uses by a national guideline resource."),
            "reported-useful": ("Reported useful",
                                "Reported as a condition where the therapy has been useful."),
            "uncontrolled-reports": ("Uncontrolled reports only",
                                     "Only reports without placebo or blinding; no definitive "
                                     "clinical trials."),
            "immunization-guidance": ("Named in national immunization guidance",
                                      "Named by current national immunization guidance "
                                      "(ACIP), not by the prescribing information of a "
                                      "product."),
            "no-recommendation": ("No recommendation made",
                                  "The source makes no recommendation for or against the use."),
        },
    ),
    "undesirable-effect-frequency": (
        "Undesirable effect frequency bands beyond the FHIR core",
        "Frequency bands the core system http://hl7.org/fhir/undesirable-effect-frequency "
        "lacks; the core codes (Common, Uncommon, Rare) are used where they apply.",
        {
            "very-rare": ("Very rare", "Reported in very rare cases."),
            "not-known": ("Not known", "Frequency cannot be estimated from the source."),
        },
    ),
    "ivig-knowledge": (
        "IVIG knowledge terms",
        "Types and roles the export uses to label structured facts about IVIG.",
        {
            "source-material": ("Source material", "What the product is made from."),
            "composition": ("Composition", "What the product contains."),
            "manufacturing": ("Manufacturing", "How the product is made or purified."),
            "product-nature": ("Nature of the product", "What kind of product it is."),
            "general-use": ("General statement of use",
                            "A source's general statement of what the product is used for; "
                            "not an indication."),
            "pharmacological-background": ("Pharmacological background",
                                           "Background on related therapies or disease "
                                           "mechanisms that explains a use."),
            "mechanism-of-action": ("Mechanism of action", "How the product is thought to act."),
            "onset-of-response": ("Onset of response",
                                  "When a response is usually observed after an infusion."),
            "course-regimen": ("Course regimen", "Dose per course and course length, as one "
                               "source states them."),
            "infusion-interval": ("Infusion interval", "Interval between infusions, as one "
                                  "source states it."),
            "dose-per-course": ("Dose per course", "Total dose given over one course."),
            "premedication": ("Premedication", "Medicines given before infusions."),
            "cost-range-low": ("Cost, low end of range", "Lower bound of a cost range."),
            "cost-range-high": ("Cost, high end of range", "Upper bound of a cost range."),
            "treatment": ("Treatment", "The product is used to treat the condition."),
            "prevention": ("Prevention", "The product is used to prevent the condition."),
            "has-condition": ("Has condition", "Members have the condition or state."),
            "age": ("Age", "Members' age."),
            "risk-factor": ("Patients with a risk factor",
                            "Members have a risk factor a warning names: the warning applies to "
                            "them with more force (predisposed patients)."),
            "receives-product": ("Receives the product",
                                 "Members receive the product described."),
        },
    ),
    "fact-qualifier": (
        "Qualifiers of a curated fact",
        "What a reader or a rule must know about a statement before using it: the source's "
        "own caveats, its condition, and the curation decisions on it (superseded, in "
        "conflict, boxed warning).",
        {
            "no-consensus": ("No consensus", "The source states there is no consensus on this "
                             "(e.g. on the ideal dose and schedule)."),
            "typical": ("Typical, not prescriptive", "The source gives this as what is "
                        "typical, not as a recommendation."),
            "general-statement": ("General statement", "Stated generally by the source, not "
                                  "for any particular use."),
            "conditional": ("Conditional", "Holds only under the condition the source states "
                            "(see the fact-condition extension)."),
            "superseded": ("Superseded", "A statement of a source page replaced by a current "
                           "authoritative source; kept for the record with status retired."),
            "superseded-in-part": ("Superseded in part", "A statement of a source page that a "
                                   "current authoritative source replaced for part of its "
                                   "scope (e.g. one product, one population); it stays active "
                                   "for the rest."),
            "conflict": ("In conflict, held for review", "Contradicted by another fact of the "
                         "export (e.g. a use that is also a listed adverse reaction); not for "
                         "decision support until reviewed."),
            "boxed-warning": ("Boxed warning", "A boxed warning of the US prescribing "
                              "information."),
            "label-current": ("US prescribing information or current guidance", "From the "
                              "label-current layer, not from the two source pages."),
        },
    ),
}

# Core FHIR code systems used for standard codes next to the local ones.
CORE_FREQUENCY = "http://hl7.org/fhir/undesirable-effect-frequency"
CORE_FREQUENCY_CODES = {"common": "Common", "uncommon": "Uncommon", "rare": "Rare"}

EXTENSIONS: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    # id -> (title, description, context paths, value type)
    "undesirable-effect-manifestation": (
        "Manifestation of an undesirable effect",
        "A sign or symptom by which the undesirable effect shows itself (e.g. neck stiffness "
        "in aseptic meningitis). ClinicalUseDefinition.undesirableEffect has no element for it.",
        ("ClinicalUseDefinition.undesirableEffect",),
        "CodeableConcept",
    ),
    "concept-value-set": (
        "Codes that count as this concept",
        "The ValueSet (with its expansion) of every code a decision-support rule should match "
        "as this concept: the codes equivalent to it and the codes of narrower concepts it "
        "covers (for ICD-10-CM, categories with every code below them). The CodeableConcept "
        "itself carries only codes equivalent to the concept, since FHIR reads its codings as "
        "equivalents. The core extension valueset-reference says which value set a Coding was "
        "chosen from, not which codes count as the concept, so it does not fit.",
        ("CodeableConcept",),
        "canonical",
    ),
    "source-locator": (
        "Locator within a source document",
        "Where in the source document the fact stands (section and item of the project's "
        "outline of that document), as 'source-key#section.item'.",
        ("Provenance.entity",),
        "string",
    ),
    "fact-qualifier": (
        "Qualifier of a curated fact",
        "A caveat or decision on the statement (code from the fact-qualifier CodeSystem): "
        "e.g. the source's 'no consensus', or that the statement holds only conditionally. "
        "Dosing guidelines and drug characteristics have no element for it.",
        ("MedicationKnowledge.indicationGuideline.dosingGuideline",
         "MedicationKnowledge.definitional.drugCharacteristic"),
        "CodeableConcept",
    ),
    "fact-condition": (
        "Condition of a curated fact",
        "The condition under which the source states the fact, in the source's sense (e.g. "
        "'in those cases in which IVIG is thought to be effective').",
        ("MedicationKnowledge.definitional.drugCharacteristic",),
        "string",
    ),
    "risk-factor": (
        "Risk factor of a warning",
        "A Group of patients at higher risk of the warned-of harm (e.g. diabetes for the renal "
        "boxed warning). The warning applies to every patient; ClinicalUseDefinition.population "
        "would restrict it to the Group, so the risk factors cannot go there.",
        ("ClinicalUseDefinition",),
        "Reference",
    ),
    "superseded-by": (
        "Superseded by",
        "The ClinicalUseDefinition carrying the current statement that replaces this one (the "
        "replaced one has status retired).",
        ("ClinicalUseDefinition",),
        "Reference",
    ),
    "supersession-reason": (
        "Reason for supersession",
        "Why the statement of a source page was replaced by a current authoritative source.",
        ("ClinicalUseDefinition",),
        "string",
    ),
    "interval-dose": (
        "Antibody dose band of an interval",
        "The dose of the antibody-containing product (UCUM mg/kg of IgG) for which the interval "
        "in extension interval-duration on the same management entry holds. "
        "ClinicalUseDefinition.interaction.management is a CodeableConcept and has no element "
        "for a dose or a time interval.",
        ("ClinicalUseDefinition.interaction.management",),
        "Range",
    ),
    "interval-duration": (
        "Interval before the interacting product",
        "How long to wait after the antibody-containing product before giving the interacting "
        "product (UCUM duration, e.g. 8 mo), for the dose band in extension interval-dose on "
        "the same management entry.",
        ("ClinicalUseDefinition.interaction.management",),
        "Duration",
    ),
    "conflicts-with": (
        "Conflicts with",
        "Another ClinicalUseDefinition of the export this one contradicts (e.g. a use that is "
        "also a listed adverse reaction); see category 'conflict'.",
        ("ClinicalUseDefinition",),
        "Reference",
    ),
}


def code_system_url(ctx: MapContext, id_: str) -> str:
    return ctx.canonical("CodeSystem", id_)


def extension_url(ctx: MapContext, id_: str) -> str:
    return ctx.canonical("StructureDefinition", id_)


def local_coding(ctx: MapContext, system_id: str, code: str) -> JsonDict:
    display = CODE_SYSTEMS[system_id][2][code][0]
    return {"system": code_system_url(ctx, system_id), "code": code, "display": display}


def local_concept(ctx: MapContext, system_id: str, code: str, text: str | None = None) -> JsonDict:
    coding = local_coding(ctx, system_id, code)
    return {"coding": [coding], "text": text or coding["display"]}


def code_systems(ctx: MapContext) -> list[JsonDict]:
    out = []
    for id_, (title, description, concepts) in CODE_SYSTEMS.items():
        out.append({
            "resourceType": "CodeSystem",
            "id": id_,
            "text": narrative(f"Code system: {title}", [("Description", description)] + [
                (f"{code}: {display}", definition)
                for code, (display, definition) in concepts.items()]),
            "url": code_system_url(ctx, id_),
            "version": ctx.version,
            "name": "".join(part.capitalize() for part in id_.split("-")),
            "title": title,
            "status": "active",
            "experimental": False,
            "date": ctx.curated.release.date,
            "publisher": ctx.curated.release.publisher,
            "description": description,
            "caseSensitive": True,
            "content": "complete",
            "count": len(concepts),
            "concept": [{"code": code, "display": display, "definition": definition}
                        for code, (display, definition) in concepts.items()],
        })
    return out


def structure_definitions(ctx: MapContext) -> list[JsonDict]:
    out = []
    for id_, (title, description, contexts, value_type) in EXTENSIONS.items():
        url = extension_url(ctx, id_)
        out.append({
            "resourceType": "StructureDefinition",
            "id": id_,
            "text": narrative(f"Extension: {title}", [
                ("Description", description), ("Used on", list(contexts)),
                ("Value type", value_type)]),
            "url": url,
            "version": ctx.version,
            "name": "".join(part.capitalize() for part in id_.split("-")),
            "title": title,
            "status": "active",
            "experimental": False,
            "date": ctx.curated.release.date,
            "publisher": ctx.curated.release.publisher,
            "description": description,
            "fhirVersion": "5.0.0",
            "kind": "complex-type",
            "abstract": False,
            "context": [{"type": "element", "expression": c} for c in contexts],
            "type": "Extension",
            "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Extension",
            "derivation": "constraint",
            "differential": {"element": [
                {"id": "Extension", "path": "Extension", "short": title,
                 "definition": description},
                {"id": "Extension.extension", "path": "Extension.extension", "max": "0"},
                {"id": "Extension.url", "path": "Extension.url", "patternUri": url},
                {"id": "Extension.value[x]", "path": "Extension.value[x]", "min": 1,
                 "type": [_type(id_, value_type)]},
            ]},
        })
    return out


# Reference extensions whose target type holds in every FHIR version the export is converted
# to; superseded-by and conflicts-with point at ClinicalUseDefinition, which R4 carries as Basic.
_REFERENCE_TARGETS = {"risk-factor": "Group"}


def _type(id_: str, value_type: str) -> JsonDict:
    if value_type == "canonical":  # every canonical extension here points at a ValueSet
        return {"code": "canonical",
                "targetProfile": ["http://hl7.org/fhir/StructureDefinition/ValueSet"]}
    if id_ in _REFERENCE_TARGETS:
        return {"code": "Reference", "targetProfile": [
            f"http://hl7.org/fhir/StructureDefinition/{_REFERENCE_TARGETS[id_]}"]}
    return {"code": value_type}


def extension(ctx: MapContext, id_: str, value: JsonDict | str) -> JsonDict:
    value_type = EXTENSIONS[id_][3]
    key = f"value{value_type[0].upper()}{value_type[1:]}"
    return {"url": extension_url(ctx, id_), key: value}
