"""Checks changed where ivig-fhir and the HL7 engine disagreed on the official examples
packages (tests/referee/test_examples_parity.py): each on a small hand-made resource, so they
run without Java."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures import transaction

from ivig_fhir.problems import Problem
from ivig_fhir.validate import validate_resource


def found(data: dict[str, Any], version: str = "R5") -> list[Problem]:
    return validate_resource(data, file="t.json", fhir_version=version)


def at(problems: list[Problem], field: str, code: str) -> list[Problem]:
    return [p for p in problems if p.field == field and p.code == code]


# --- an unresolved relative reference in a Bundle ---------------------------------------------

def _with_dangling(bundle_type: str) -> dict[str, Any]:
    b = transaction()
    b["type"] = bundle_type
    if bundle_type not in ("transaction", "batch"):
        for e in b["entry"]:
            del e["request"]
    b["entry"][3]["resource"]["population"] = [{"reference": "Group/children"}]
    return b


def test_unresolved_reference_is_an_error_where_the_bundle_must_carry_it() -> None:
    hits = at(found(_with_dangling("document")),
              "Bundle.entry[3].resource.population[0].reference", "unresolved-reference")
    assert [p.severity for p in hits] == ["error"], hits


@pytest.mark.parametrize("bundle_type", ["transaction", "batch", "collection", "message",
                                         "batch-response"])
def test_unresolved_reference_is_a_warning_where_it_names_a_server_resource(
        bundle_type: str) -> None:
    """A transaction may reference what the server holds (R4B Bundle-hla-1: the engine accepts
    ServiceRequest/123); the warning says the server must hold it."""
    problems = found(_with_dangling(bundle_type))
    hits = at(problems, "Bundle.entry[3].resource.population[0].reference",
              "unresolved-reference")
    assert [p.severity for p in hits] == ["warning"], hits
    assert "need not carry" in hits[0].message
    assert ("the server it is sent to must hold it" in hits[0].message) == (
        bundle_type in ("transaction", "batch"))
    assert not [p for p in problems if p.is_error and p.layer == "bundle"]


# --- the invariants a core profile adds ---------------------------------------------------------

SHAREABLE = "http://hl7.org/fhir/StructureDefinition/shareablecodesystem"


def _code_system(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "CodeSystem", "id": "nested", "meta": {"profile": [SHAREABLE]},
            "url": "http://example.org/CodeSystem/nested", "version": "1", "name": "Nested",
            "title": "Nested",
            "status": "draft", "experimental": True, "publisher": "Example",
            "description": "Two levels", "content": "complete", "caseSensitive": True,
            "concept": [{"code": "a", "display": "A", "concept": [{"code": "b", "display": "B"}]}],
            **extra}


def test_core_profile_invariant_holds_a_resource_claiming_the_profile() -> None:
    problems = found(_code_system())
    hits = at(problems, "CodeSystem", "scs-1")
    assert [(p.severity, p.layer) for p in hits] == [("error", "invariant")], problems
    assert "hierarchyMeaning" in hits[0].message and "shareablecodesystem" in hits[0].message
    assert not [p for p in found(_code_system(hierarchyMeaning="is-a")) if p.is_error]
    # Without the profile claimed, scs-1 does not apply.
    plain = _code_system()
    del plain["meta"]
    assert not [p for p in found(plain) if p.is_error]


# --- required bindings drawn from v3-RoleCode (is-a, through subsumedBy) ------------------------

def _with_parent(code: str) -> dict[str, Any]:
    return {"resourceType": "FamilyMemberHistory", "id": "fmh", "status": "completed",
            "patient": {"reference": "Patient/p"},
            "relationship": {"coding": [{"system": ROLE, "code": "ONESELF"}]},
            "extension": [{
                "url": "http://hl7.org/fhir/StructureDefinition/"
                       "family-member-history-genetics-parent",
                "extension": [{"url": "type", "valueCodeableConcept": {
                    "coding": [{"system": ROLE, "code": code}]}},
                    {"url": "reference", "valueReference": {"reference": "Patient/q"}}]}]}


ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"


@pytest.mark.parametrize("version", ["R5", "R4B"])
def test_parent_relationship_codes_expand_through_subsumed_by(version: str) -> None:
    # NMTH (natural mother) is subsumedBy MTH and NPRN, both under PRN: in the value set.
    assert not [p for p in found(_with_parent("NMTH"), version) if p.is_error]
    # SIS (sister) is a family member, not a parent.
    errors = [p for p in found(_with_parent("SIS"), version) if p.is_error]
    assert [p.code for p in errors] == ["code-invalid"], errors
    assert "parent-relationship-codes" in errors[0].message


# --- narrative image sources --------------------------------------------------------------------

def _with_image(src: str, contained: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Basic", "id": "b", "code": {"text": "x"},
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">'
                 f'<p>Chart</p><img src="{src}" alt="chart"/></div>'}}
    if contained:
        res["contained"] = contained
    return res


def test_narrative_image_source_must_resolve() -> None:
    hits = at(found(_with_image("#11")), "Basic.text.div", "narrative-link")
    assert [p.severity for p in hits] == ["error"] and "#11" in hits[0].message, hits
    binary = {"resourceType": "Binary", "id": "11", "contentType": "image/png", "data": "AA=="}
    assert not at(found(_with_image("#11", [binary])), "Basic.text.div", "narrative-link")
    assert not at(found(_with_image("chart.png")), "Basic.text.div", "narrative-link")


# --- a canonical's target profile names a canonical resource, as the engine lists them ----------

def _structure(target: str) -> dict[str, Any]:
    element = {"id": "Basic.extension", "path": "Basic.extension", "type": [
        {"code": "canonical", "targetProfile": [f"http://hl7.org/fhir/StructureDefinition/{target}"]}]}
    return {"resourceType": "StructureDefinition", "id": "p", "url": "http://example.org/sd/p",
            "name": "P", "status": "draft", "kind": "resource", "abstract": False,
            "type": "Basic", "derivation": "constraint",
            "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Basic",
            "differential": {"element": [element]}}


@pytest.mark.parametrize(("version", "target", "ok"), [
    ("R5", "ClinicalUseDefinition", True),  # no url, yet the engine counts it (NutritionIntake)
    ("R5", "PlanDefinition", True),
    ("R5", "Device", False),  # has url and version, is no canonical resource
    ("R4B", "MedicinalProductDefinition", False),
    ("R4B", "SpecimenDefinition", True),
])
def test_canonical_target_types(version: str, target: str, ok: bool) -> None:
    hits = [p for p in found(_structure(target), version) if p.code == "canonical-target"]
    assert (not hits) == ok, hits


def test_a_bundles_own_signature_need_not_resolve_inside_it() -> None:
    b = _with_dangling("document")
    b["entry"][3]["resource"].pop("population")
    b["signature"] = {"type": [{"system": "urn:iso-astm:E1762-95:2013",
                                "code": "1.2.840.10065.1.12.1.1"}],
                      "when": "2026-01-01T00:00:00Z", "who": {"reference": "Practitioner/p"},
                      "onBehalfOf": {"reference": "Organization/example"}}
    hits = [p for p in found(b) if p.code == "unresolved-reference"]
    assert hits and {p.severity for p in hits} == {"warning"}, hits


# --- a ValueSet names its code systems by absolute URI ------------------------------------------

@pytest.mark.parametrize(("system", "ok"), [("sample-security-structural-roles", False),
                                            ("http://example.org/roles", True),
                                            ("urn:oid:2.16.840.1.113883.5.1", True)])
def test_value_set_compose_system_is_absolute(system: str, ok: bool) -> None:
    vs = {"resourceType": "ValueSet", "id": "v", "url": "http://example.org/vs", "status": "draft",
          "compose": {"include": [{"system": system}]}}
    hits = at(found(vs), "ValueSet.compose.include[0].system", "invalid-system")
    assert (not hits) == ok, hits
    assert all(p.severity == "error" for p in hits)
