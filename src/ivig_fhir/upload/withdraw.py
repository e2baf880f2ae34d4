"""Withdrawn content: resources of ours on the server that the new release no longer contains.

Found by the export's identifier namespace (see `state`): a resource with an identifier in that
namespace whose value the export no longer has, of a type the export carries or of any other
type this project writes (`state.OUR_SYSTEMS`: a release may drop a whole type); and a
CodeSystem or StructureDefinition under the export's canonical base whose URL the export no
longer has. Ids alone are not trusted: on a shared server another publisher may use the same
id.

`--retire` writes a new version with a status that says "withdrawn" (table below); nothing is
deleted and the history stays. `--delete-withdrawn` deletes them, with the Provenance of ours
that targets them (it would otherwise point at nothing). Every resource is listed before
anything is done; `--dry-run` lists and stops.

Provenance carries no identifier: a withdrawn resource's Provenance is handled with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ivig_fhir.problems import FindingsError
from ivig_fhir.upload.events import Withdrawn
from ivig_fhir.upload.plan import JsonObject, references
from ivig_fhir.upload.state import (
    Addressing,
    Held,
    is_ours_provenance,
    ours_key,
    read_state,
    search,
)
from ivig_fhir.upload.transport import GaveUp, Sender, status_line

PUBLICATION_STATUS = "http://hl7.org/fhir/publication-status"


def _status(value: str, concept: bool = False) -> Callable[[JsonObject], JsonObject | None]:
    """`concept`: the type's status is a CodeableConcept even where the export leaves it out."""
    def apply(resource: JsonObject) -> JsonObject | None:
        status = resource.get("status")
        if isinstance(status, dict) or concept:  # e.g. ClinicalUseDefinition: CodeableConcept
            status = status if isinstance(status, dict) else {}
            codes = {c.get("code") for c in status.get("coding", [])}
            if value in codes:
                return None
            new: Any = {"coding": [{"system": PUBLICATION_STATUS, "code": value,
                                    "display": value.capitalize()}]}
        else:
            if status == value:
                return None
            new = value
        return {**resource, "status": new}
    return apply


def _inactive_group(resource: JsonObject) -> JsonObject | None:
    return None if resource.get("active") is False else {**resource, "active": False}


# The status each type has for "no longer in use" (R5 value sets: publication-status for
# ClinicalUseDefinition, CodeSystem, ValueSet, StructureDefinition, and as the preferred
# binding of MedicinalProductDefinition and RegulatedAuthorization; medicationknowledge-status and
# medication-status `inactive`; document-reference-status `superseded`; Group.active false).
RETIRE: dict[str, Callable[[JsonObject], JsonObject | None]] = {
    "ClinicalUseDefinition": _status("retired"),
    "MedicinalProductDefinition": _status("retired", concept=True),
    "RegulatedAuthorization": _status("retired", concept=True),
    "CodeSystem": _status("retired"),
    "ValueSet": _status("retired"),
    "StructureDefinition": _status("retired"),
    "MedicationKnowledge": _status("inactive"),
    "Medication": _status("inactive"),
    "DocumentReference": _status("superseded"),
    "Group": _inactive_group,
}
CANNOT_RETIRE = {
    "AdverseEvent": "AdverseEvent.status is the status of an event (none means withdrawn); "
                    "left as it is: use --delete-withdrawn to remove it",
}


@dataclass(frozen=True)
class Action:
    held: Held
    event: Withdrawn
    body: JsonObject | None  # the retired version to PUT (retire)


def _label(held: Held, ns: str) -> str:
    key = ours_key(held.resource, ns)
    return key[1] if key else held.server_key


def find_withdrawn(sender: Sender, addressing: Addressing, *, delete: bool) -> list[Action]:
    """What --retire (or --delete-withdrawn) would do, one action per resource."""
    state = read_state(sender, addressing, withdrawn=True)
    ns = addressing.ns
    current = {k for e in addressing.export.entries if (k := ours_key(e.resource, ns))}
    actions: list[Action] = []
    gone: list[Held] = []
    for resource_type in sorted(state.ours):
        for held in sorted(state.ours[resource_type], key=lambda h: h.server_key):
            if ours_key(held.resource, ns) in current:
                continue
            gone.append(held)
    for held in gone:
        resource_type = held.server_key.split("/")[0]
        label = _label(held, ns)
        if delete:
            actions.append(Action(held, Withdrawn(held.server_key, label, "delete"), None))
            continue
        retire = RETIRE.get(resource_type)
        if retire is None:
            reason = CANNOT_RETIRE.get(resource_type, f"{resource_type} has no status for "
                                       "withdrawn content; left as it is")
            actions.append(Action(held, Withdrawn(held.server_key, label, "keep", reason), None))
            continue
        stored = {k: v for k, v in held.resource.items() if k != "meta"}
        body = retire(stored)
        if body is None:
            actions.append(Action(held, Withdrawn(held.server_key, label, "keep",
                                                  "already retired"), None))
        else:
            actions.append(Action(held, Withdrawn(held.server_key, label, "retire"), body))
    if gone:
        targets = ",".join(h.server_key for h in gone)
        try:
            provenances = [p for p in search(sender, "Provenance", {"target": targets},
                                             "read Provenance of withdrawn resources")
                           if is_ours_provenance(p, ns)]
        except GaveUp as exc:
            raise FindingsError(f"reading Provenance: {exc.reason}; nothing changed") from None
        for p in provenances:
            held = Held(f"Provenance/{p.get('id')}", p)
            label = "of " + ", ".join(references({"t": p.get("target", [])}))
            if delete:
                # Deleted first: it references the withdrawn resource.
                actions.insert(0, Action(held, Withdrawn(held.server_key, label, "delete"), None))
            else:
                actions.append(Action(held, Withdrawn(
                    held.server_key, label, "keep", "Provenance has no status; it stays as the "
                    "record of where the retired version came from"), None))
    return actions


def apply_withdrawn(sender: Sender, actions: list[Action], max_entries: int | None) -> int:
    """Retire or delete, in transactions of at most `max_entries`; returns how many changed."""
    todo = [a for a in actions if a.event.action in ("retire", "delete")]
    cap = max_entries or max(len(todo), 1)
    # Deletes of a resource and of the Provenance pointing at it must land together where
    # the server checks references on delete: keep them in one transaction when they fit.
    for start in range(0, len(todo), cap):
        part = todo[start:start + cap]
        entries = []
        for a in part:
            if a.event.action == "delete":
                entries.append({"request": {"method": "DELETE", "url": a.held.server_key}})
            elif a.body is not None:
                entries.append({"resource": a.body,
                                "request": {"method": "PUT", "url": a.held.server_key}})
        what = f"withdrawn {start + 1}-{start + len(part)}"
        try:
            response = sender.send("POST", "", what=what, body={
                "resourceType": "Bundle", "type": "transaction", "entry": entries})
        except GaveUp as exc:
            raise FindingsError(f"{what}: {exc.reason}") from None
        if response.status_code != 200:
            raise FindingsError(f"{what}: the server refused it: {status_line(response)}")
    return len(todo)
