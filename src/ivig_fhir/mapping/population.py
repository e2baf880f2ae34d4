"""Populations the sources name (infants, IgA-deficient patients, IVIG recipients) as
definitional Groups, referenced by ClinicalUseDefinition.population and AdverseEvent.subject."""

from __future__ import annotations

from fhir.resources.group import Group

from ivig_fhir.load.curated import Population
from ivig_fhir.mapping.context import JsonDict, MapContext, fmt_range, ucum_range
from ivig_fhir.mapping.definitions import local_concept
from ivig_fhir.mapping.mapped import Mapped
from ivig_fhir.mapping.narrative import narrative


def group_id(key: str) -> str:
    return f"pop-{key}"


def map_population(ctx: MapContext, pop: Population) -> Mapped:
    characteristics: list[JsonDict] = []
    rows: list[tuple[str, str | None]] = []
    for c in pop.characteristics:
        # Receiving the product is what defines recipients; any other concept is a condition.
        code = "receives-product" if c.concept == ctx.curated.product.concept else "has-condition"
        characteristics.append({"code": local_concept(ctx, "ivig-knowledge", code),
                                "valueCodeableConcept": ctx.concept(c.concept), "exclude": False})
        rows.append((local_concept(ctx, "ivig-knowledge", code)["text"],
                     ctx.concepts[c.concept].display))
        if c.age:
            characteristics.append({"code": local_concept(ctx, "ivig-knowledge", "age"),
                                    "valueRange": ucum_range(c.age), "exclude": False})
            rows.append(("Age", fmt_range(c.age)))
    resource = Group.model_validate({
        "resourceType": "Group",
        "id": group_id(pop.key),
        "text": narrative(pop.name, [("Description", pop.description), *rows]),
        "identifier": [ctx.identifier("population", pop.key)],
        "active": True,
        "type": "person",
        "membership": "definitional",
        "name": pop.name,
        "description": pop.description,
        "characteristic": characteristics,
    })
    return Mapped(resource, (), pop.at, provenance=False)
