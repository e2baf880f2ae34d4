"""Stage 3: curated facts -> FHIR resources. One module per resource family:

    medication     Medication (the subject of the pages' clinical uses) and one
                   MedicinalProductDefinition per US product of the label layer
    regulated_authorization  RegulatedAuthorization (US approval) per product
    knowledge      MedicationKnowledge (product, dosing, cost, links)
    clinical_use   ClinicalUseDefinition (indication, undesirable effect, interaction, warning)
    adverse_event  AdverseEvent (potential) view of each reaction
    population     Group (definitional populations)
    provenance     DocumentReference per source, Provenance per clinical resource
    definitions    the export's own CodeSystems and extension StructureDefinitions
    approval       the recorded sign-off: a Provenance per approval, approvalDate
    valueset       one ValueSet (with expansion) per concept a rule matches on
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ivig_fhir.approval import Approval
from ivig_fhir.load.curated import Curated
from ivig_fhir.mapping.adverse_event import map_adverse_event
from ivig_fhir.mapping.approval import apply_approvals
from ivig_fhir.mapping.clinical_use import map_clinical_uses
from ivig_fhir.mapping.context import MapContext
from ivig_fhir.mapping.definitions import code_systems, structure_definitions
from ivig_fhir.mapping.knowledge import map_knowledge
from ivig_fhir.mapping.mapped import Mapped
from ivig_fhir.mapping.medication import map_medication, map_product_definition
from ivig_fhir.mapping.order import ordered
from ivig_fhir.mapping.population import map_population
from ivig_fhir.mapping.provenance import map_document, map_provenances
from ivig_fhir.mapping.regulated_authorization import map_authorization
from ivig_fhir.mapping.valueset import map_value_sets

__all__ = ["Mapped", "map_curated"]


def map_curated(curated: Curated, *, adverse_events: bool = True,
                approvals: Sequence[Approval] = ()) -> list[Mapped]:
    """Every resource of the export, in bundle order: definitions, sources, populations,
    product, clinical uses, knowledge, adverse events, provenance, approvals."""
    ctx = MapContext(curated)
    definitions = [Mapped(r, provenance=False)
                   for r in (*code_systems(ctx), *structure_definitions(ctx))]
    definitions += map_value_sets(ctx)
    documents = [map_document(ctx, s) for s in curated.all_sources]
    populations = [map_population(ctx, p) for p in curated.populations]
    medication = map_medication(ctx)
    products = [map_product_definition(ctx, p) for p in curated.products]
    uses = map_clinical_uses(ctx)
    authorizations = [map_authorization(ctx, p) for p in curated.products]
    knowledge = map_knowledge(ctx, uses)
    events = ([map_adverse_event(ctx, u) for u in curated.undesirable_effects]
              if adverse_events else [])
    clinical = [medication, *products, *uses, *authorizations, knowledge, *events]
    resources = apply_approvals(ctx, [*definitions, *documents, *populations, *clinical,
                                      *map_provenances(ctx, clinical)], approvals)
    return [replace(m, resource=ordered(m.resource)) for m in resources]
