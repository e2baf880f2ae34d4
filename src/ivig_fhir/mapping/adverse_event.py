"""The AdverseEvent view of each known reaction: actuality `potential`, suspect the IVIG
Medication, subject the definitional Group of IVIG recipients.

FHIR reserves AdverseEvent for events that happened or nearly happened; the spec's model for
known potential reactions is the undesirable-effect ClinicalUseDefinition. Users asked for both,
so this view is on by default and `--no-adverse-events` leaves it out.
"""

from __future__ import annotations

from ivig_fhir.load.curated import UndesirableEffect
from ivig_fhir.mapping.context import MapContext, reference
from ivig_fhir.mapping.mapped import Mapped
from ivig_fhir.mapping.medication import MEDICATION_ID
from ivig_fhir.mapping.narrative import narrative
from ivig_fhir.mapping.population import group_id

RECIPIENTS = "ivig-recipients"


def map_adverse_event(ctx: MapContext, ue: UndesirableEffect) -> Mapped:
    name = ctx.concepts[ue.concept].display
    resource = {
        "resourceType": "AdverseEvent",
        "id": f"ae-{ue.key}",
        "text": narrative(f"Potential adverse event of IVIG: {name}", [
            ("Actuality", "Potential (a known reaction, not an event that happened)"),
            ("Suspect", ctx.curated.product.name),
            ("Frequency", ue.frequency.replace("-", " ") if ue.frequency else None),
            ("Signs", [ctx.concepts[k].display for k in ue.manifestations])]),
        "identifier": [ctx.identifier("adverse-event", ue.key)],
        # The record describes a reaction that has not occurred; nothing says it is complete.
        "status": "unknown",
        "actuality": "potential",
        "code": ctx.concept(ue.concept),
        "subject": reference("Group", group_id(RECIPIENTS),
                             ctx.curated.population(RECIPIENTS).name),
        "suspectEntity": [{"instanceReference": reference("Medication", MEDICATION_ID,
                                                          ctx.curated.product.name)}],
    }
    return Mapped(resource, tuple(ue.cite), ue.at)
