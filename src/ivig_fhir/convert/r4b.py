"""Stage 3b (optional): the mapped R5 resources -> FHIR R4B (4.3.0), element by element.

The R5 mappers stay the one place facts become FHIR; this module (with convert.common, which
R4 shares) only moves elements to where R4B keeps them. Every element that differs, and what
happens to it, is listed in docs/r4b-mapping.md. Where R4B has no element for a fact, the fact
goes into the resource's narrative (status `additional`), never into an extension the
receiving validator would not know. Each result is parsed by its `fhir.resources.R4B` model,
so an R5 element this module does not handle fails the build loudly instead of leaking into
the export.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import replace
from html import escape

from fhir.resources.R4B import get_fhir_model_class

from ivig_fhir.convert import common
from ivig_fhir.convert.common import JsonDict, NotConvertible
from ivig_fhir.convert.dump import model_json
from ivig_fhir.mapping.mapped import Mapped

FHIR_VERSION = "4.3.0"

NotInR4B = NotConvertible  # the name the R4B tests and callers know


def to_r4b(resources: Sequence[Mapped]) -> list[Mapped]:
    """Each resource in its R4B form, parsed by the R4B model; same ids, same order."""
    out = []
    for mapped in resources:
        data = mapped.resource
        converted = convert(data)
        model = get_fhir_model_class(converted["resourceType"])  # an R4B resource class
        out.append(replace(mapped, resource=model_json(model.model_validate(converted))))
    return out


def convert(resource: JsonDict) -> JsonDict:
    """One R5 resource (JSON) -> its R4B JSON. Types without differences pass unchanged."""
    data = copy.deepcopy(resource)  # the steps rename elements in place
    step = _STEPS.get(data["resourceType"])
    return step(data) if step else data


def _medication_knowledge(r: JsonDict) -> JsonDict:
    r, lifted = common.medication_knowledge(r)
    notes = [f"Identifier: {ident['system']}|{ident['value']}"
             for ident in lifted.get("identifier", [])]
    # `author`: the publisher; Provenance.agent of this resource names it too.
    notes += ["Intended jurisdiction: " + ", ".join(c["code"] for c in place.get("coding", []))
              for place in lifted.get("intendedJurisdiction", [])]
    # R4B has `contraindication` (Reference(DetectedIssue)) and no link to
    # ClinicalUseDefinition: the uses stay reachable through Medication (their subject).
    return _note(r, notes)


def _group(r: JsonDict) -> JsonDict:
    r.pop("description", None)  # no R4B element; the narrative shows it (mapping.population)
    return common.group(r)


def _clinical_use(r: JsonDict) -> JsonDict:
    common.no(r, "ClinicalUseDefinition", "library")
    for part in ("indication", "contraindication"):
        if part in r:
            common.no(r[part], f"ClinicalUseDefinition.{part}", "applicability")
    contra = r.get("contraindication", {})
    for therapy in contra.get("otherTherapy", []):
        therapy["therapy"] = therapy.pop("treatment")
    return r


def _regulated_authorization(r: JsonDict) -> JsonDict:
    """R4B allows one `indication`. With one approved use it is copied; with more, they go to
    the narrative and stay reachable the other way: each approved use is a
    ClinicalUseDefinition whose `subject` is this authorization's product."""
    common.no(r, "RegulatedAuthorization", "attachedDocument", "case")
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


def _canonical(r: JsonDict) -> JsonDict:
    r = common.canonical(r, FHIR_VERSION)
    if "approvalDate" in r:  # no R4B resource type the export writes has the element
        date = r.pop("approvalDate")
        return _note(r, [f"Approved on {date} (approvalDate); the approval Provenance names "
                         "the reviewer."])
    return r


_STEPS: dict[str, Callable[[JsonDict], JsonDict]] = {
    "MedicationKnowledge": _medication_knowledge,
    "Medication": common.medication,
    "ClinicalUseDefinition": _clinical_use,
    "RegulatedAuthorization": _regulated_authorization,
    "AdverseEvent": common.adverse_event,
    "Group": _group,
    "DocumentReference": common.document_reference,
    "Provenance": common.provenance,
    "CodeSystem": _canonical,
    "StructureDefinition": _canonical,
    "ValueSet": _canonical,
}


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
