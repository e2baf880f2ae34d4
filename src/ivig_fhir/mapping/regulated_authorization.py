"""US approval the standard FHIR way: one RegulatedAuthorization per product, region US,
its `indication`s the ClinicalUseDefinitions its prescribing information approves, its
`subject` the product's MedicinalProductDefinition."""

from __future__ import annotations

from ivig_fhir.load.curated import UsProduct
from ivig_fhir.mapping.clinical_use import cud_id
from ivig_fhir.mapping.context import JsonDict, MapContext, reference
from ivig_fhir.mapping.mapped import Mapped
from ivig_fhir.mapping.medication import product_definition_id
from ivig_fhir.mapping.narrative import narrative

FDA = "U.S. Food and Drug Administration"


def authorization_id(key: str) -> str:
    return f"ra-{key}"


def map_authorization(ctx: MapContext, product: UsProduct) -> Mapped:
    identifiers: list[JsonDict] = [ctx.identifier("regulated-authorization", product.key)]
    if product.application:
        # FDA publishes no URI for BLA numbers and HL7's identifier-type codes have none for
        # them (a text-only `type` draws an extensible-binding warning): the value is
        # self-describing ("BLA…") and the assigner says who issued it. No system is invented.
        identifiers.append({"value": product.application,
                            "assigner": {"display": f"{FDA} (Biologics License Application)"}})
    uses = [(f"{product.key}-{a.key}", a.text) for a in product.approvals]
    resource = {
        "resourceType": "RegulatedAuthorization",
        "id": authorization_id(product.key),
        "text": narrative(f"US marketing authorization: {product.name}", [
            ("Product", product.name), ("Holder", product.holder), ("Region", "US"),
            ("Application", product.application), ("Approved uses", [t for _, t in uses]),
            ("Not verified", product.not_verified)]),
        "identifier": identifiers,
        "subject": [reference("MedicinalProductDefinition", product_definition_id(product.key),
                              product.name)],
        "type": {"text": "Marketing authorization (US biologics license)"},
        "description": f"US approval of {product.name} as its prescribing information states "
                       "it; each approved use is an `indication` (ClinicalUseDefinition).",
        "region": [{"coding": [{"system": "urn:iso:std:iso:3166", "code": "US"}]}],
        "indication": [{"reference": reference("ClinicalUseDefinition",
                                               cud_id("indication", key), text)}
                       for key, text in uses],
        "holder": {"display": product.holder},
        "regulator": {"display": FDA},
    }
    cites = {*product.cite, *product.application_cite,
             *(c for a in product.approvals for c in a.cite)}
    return Mapped(resource, tuple(sorted(cites)), product.at)
