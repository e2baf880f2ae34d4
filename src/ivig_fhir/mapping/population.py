"""Populations the sources name (infants, IgA-deficient patients, IVIG recipients) as
definitional Groups, referenced by ClinicalUseDefinition.population and AdverseEvent.subject."""

from __future__ import annotations

from ivig_fhir.load.curated import Population
from ivig_fhir.mapping.context import JsonDict, MapContext, fmt_range, ucum_quantity, ucum_range
from ivig_fhir.mapping.definitions import local_concept
from ivig_fhir.mapping.mapped import Mapped
from ivig_fhir.mapping.narrative import narrative


def group_id(key: str) -> str:
    return f"pop-{key}"


def map_population(ctx: MapContext, pop: Population) -> Mapped:
    characteristics: list[JsonDict] = []
    rows: list[tuple[str, str | None]] = []
    age = local_concept(ctx, "ivig-knowledge", "age")
    for c in pop.characteristics:
        if c.concept:
            # Receiving the product defines recipients; any other concept is a condition.
            code = ("receives-product" if c.concept == ctx.curated.product.concept
                    else "has-condition")
            characteristics.append({"code": local_concept(ctx, "ivig-knowledge", code),
                                    "valueCodeableConcept": ctx.concept(c.concept),
                                    "exclude": False})
            rows.append((local_concept(ctx, "ivig-knowledge", code)["text"],
                         ctx.concepts[c.concept].display))
        if c.age_min:
            # An open-ended range: "2 years and older" has no upper bound to invent.
            characteristics.append({"code": age, "valueRange": {
                "low": ucum_quantity(c.age_min.value, c.age_min.unit)}, "exclude": False})
            rows.append(("Age", f"{c.age_min.value:g} {c.age_min.unit} and older"))
        if c.age_above:
            # "Greater than 65": a Range's bounds are inclusive and take no comparator, a
            # Quantity does.
            characteristics.append({"code": age, "valueQuantity": {
                **ucum_quantity(c.age_above.value, c.age_above.unit), "comparator": ">"},
                "exclude": False})
            rows.append(("Age", f"greater than {c.age_above.value:g} {c.age_above.unit}"))
        if c.age_text:
            # Where the source names an age group without bounds, the group stays words.
            characteristics.append({"code": age, "valueCodeableConcept": {"text": c.age_text},
                                    "exclude": False})
            rows.append(("Age", c.age_text))
        if c.age:
            characteristics.append({"code": local_concept(ctx, "ivig-knowledge", "age"),
                                    "valueRange": ucum_range(c.age), "exclude": False})
            rows.append(("Age", fmt_range(c.age)))
    risk = any(pop.key in w.risk_factors for w in ctx.curated.warnings)
    resource = {
        "resourceType": "Group",
        "id": group_id(pop.key),
        "text": narrative(pop.name, [("Description", pop.description), *rows]),
        "identifier": [ctx.identifier("population", pop.key)],
        "active": True,
        "type": "person",
        "membership": "definitional",
        **({"code": local_concept(ctx, "ivig-knowledge", "risk-factor")} if risk else {}),
        "name": pop.name,
        "description": pop.description,
        "characteristic": characteristics,
    }
    return Mapped(resource, (), pop.at, provenance=False)
