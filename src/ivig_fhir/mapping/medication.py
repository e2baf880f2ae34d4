"""IVIG as a Medication: the subject every ClinicalUseDefinition points to."""

from __future__ import annotations

from fhir.resources.medication import Medication

from ivig_fhir.mapping.context import MapContext
from ivig_fhir.mapping.mapped import Mapped
from ivig_fhir.mapping.narrative import narrative

MEDICATION_ID = "ivig"


def map_medication(ctx: MapContext) -> Mapped:
    p = ctx.curated.product
    resource = Medication.model_validate({
        "resourceType": "Medication",
        "id": MEDICATION_ID,
        "text": narrative(p.name, [
            ("Code", ctx.concepts[p.concept].display),
            ("Dose form", ctx.concepts[p.dose_form].display),
            ("Ingredient", ctx.concepts[p.substance].display),
        ]),
        "identifier": [ctx.identifier("medication", p.key)],
        "code": ctx.concept(p.concept, p.name),
        "status": "active",
        "doseForm": ctx.concept(p.dose_form),
        "ingredient": [{"item": ctx.concept_ref(p.substance), "isActive": True}],
    })
    return Mapped(resource, tuple(p.cite), p.at)
