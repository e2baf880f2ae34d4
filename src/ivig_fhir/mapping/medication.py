"""IVIG as a Medication (the subject of the source pages' ClinicalUseDefinitions) and each
US product of the label layer as a MedicinalProductDefinition."""

from __future__ import annotations

from ivig_fhir.load.curated import UsProduct
from ivig_fhir.mapping.context import MapContext
from ivig_fhir.mapping.mapped import Mapped
from ivig_fhir.mapping.narrative import narrative

MEDICATION_ID = "ivig"
NDC = "http://hl7.org/fhir/sid/ndc"


def map_medication(ctx: MapContext) -> Mapped:
    p = ctx.curated.product
    resource = {
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
    }
    return Mapped(resource, tuple(p.cite), p.at)


def product_definition_id(key: str) -> str:
    return f"mpd-{key}"


def map_product_definition(ctx: MapContext, product: UsProduct) -> Mapped:
    """A US IVIG product as a MedicinalProductDefinition: what its RegulatedAuthorization and
    its label's ClinicalUseDefinitions are about (RegulatedAuthorization.subject cannot be a
    Medication)."""
    p = ctx.curated.product
    resource = {
        "resourceType": "MedicinalProductDefinition",
        "id": product_definition_id(product.key),
        "text": narrative(product.name, [
            ("Description", product.description), ("Licence holder", product.holder),
            ("Route", ctx.concepts[p.route].display), ("NDC (product)", product.ndc_product),
            ("NDC (package)", product.ndc_package), ("Not verified", product.not_verified)]),
        # Orders and dispenses carry the package NDC (often 11-digit 5-4-2); a rule that
        # strips the package segment joins on the product NDC. Both as read (10-digit form).
        "identifier": [ctx.identifier("product", product.key),
                       *({"system": NDC, "value": code}
                         for code in [*product.ndc_product, *product.ndc_package])],
        "description": product.description,
        "route": [ctx.concept(p.route)],
        "name": [{"productName": product.name}],
    }
    cites = {*product.cite, *product.application_cite, *product.ndc_cite}
    return Mapped(resource, tuple(sorted(cites)), product.at)
