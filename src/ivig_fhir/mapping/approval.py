"""The recorded sign-off (ivig_fhir.approval) as FHIR: the place an approval becomes FHIR.

- One Provenance per approval that holds, targeting every resource of the release, with an
  agent of type `attester` (http://terminology.hl7.org/CodeSystem/provenance-participant-type,
  as FHIR CRMI records approval) naming the reviewer, the role as `agent.role`, the approval
  date as `recorded`, and as entities the content release and the hash of the approved inputs.
- `approvalDate` on every resource type that has the element. In R5 that is the definitional
  (canonical) resources: of the types this export writes, CodeSystem (and ValueSet, where the
  export has them); StructureDefinition, ClinicalUseDefinition, MedicationKnowledge, Group and
  the rest have no approvalDate, so the Provenance is what carries the approval for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ivig_fhir.approval import (
    APPROVAL_PROVENANCE_ID,
    CONTENT_HASH_SYSTEM,
    PARTICIPANT_TYPE,
    Approval,
)
from ivig_fhir.definitions import load
from ivig_fhir.mapping.context import MapContext, reference
from ivig_fhir.mapping.mapped import Mapped
from ivig_fhir.mapping.narrative import narrative
from ivig_fhir.mapping.provenance import release_entity


def apply_approvals(ctx: MapContext, resources: list[Mapped],
                    approvals: Sequence[Approval]) -> list[Mapped]:
    """`resources` with the approval date set where FHIR has the element, followed by one
    Provenance per approval; unchanged when nothing is approved."""
    if not approvals:
        return resources
    latest = max(a.date for a in approvals)
    dated = [_with_approval_date(m, latest) for m in resources]
    targets = [reference(m.resource_type, m.id) for m in dated
               if m.resource_type != "Provenance"]
    signed = [_provenance(ctx, a, targets, f"{APPROVAL_PROVENANCE_ID}-{i}")
              for i, a in enumerate(approvals, 1)]
    return [*dated, *signed]


def _with_approval_date(mapped: Mapped, date: str) -> Mapped:
    structure = load("R5").structure(mapped.resource_type)
    if structure is None or "approvalDate" not in structure.children(mapped.resource_type):
        return mapped
    return replace(mapped, resource={**mapped.resource, "approvalDate": date})


def _provenance(ctx: MapContext, approval: Approval, targets: list[dict[str, str]],
                id_: str) -> Mapped:
    release = ctx.curated.release
    rows = [("Reviewer", approval.reviewer), ("Role", approval.role),
            ("Approved on", approval.date),
            ("Content", f"release {release.content_version}, curated inputs sha256 "
                        f"{approval.content_sha256}"),
            ("Note", approval.note or None)]
    resource = {
        "resourceType": "Provenance",
        "id": id_,
        "text": narrative(f"Approval of release {release.content_version} by "
                          f"{approval.reviewer}", rows),
        "target": targets,
        "recorded": f"{approval.date}T00:00:00Z",
        "activity": {"text": "Review and approval of the curated content for release"},
        "agent": [{
            "type": {"coding": [{"system": PARTICIPANT_TYPE, "code": "attester",
                                 "display": "Attester"}]},
            "role": [{"text": approval.role}],
            "who": {"display": approval.reviewer},
        }],
        "entity": [release_entity(ctx), {
            "role": "source",
            "what": {"identifier": {"system": CONTENT_HASH_SYSTEM,
                                    "value": f"urn:sha256:{approval.content_sha256}"},
                     "display": "The curated inputs approved (source_data/*.yaml, sha256)"},
        }],
    }
    return Mapped(resource, (), None, provenance=False)
