"""Rules changed where ivig-fhir and the HL7 engine disagreed on the official R5 examples
(tests/referee/test_examples_parity.py), each on a hand-made minimal resource: the rule fires
where it should, and its valid twin passes. No Java needed."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures import TEXT

from ivig_fhir.problems import Problem
from ivig_fhir.validate import validate_resource

UCUM = "http://unitsofmeasure.org"


def found(data: dict[str, Any], version: str = "R5") -> list[Problem]:
    return validate_resource(data, file="t.json", fhir_version=version)


def errors_at(data: dict[str, Any], field: str, version: str = "R5") -> list[str]:
    return [p.code for p in found(data, version) if p.is_error and p.field == field]


# --- MIME types: a parameter value may hold spaces (R5 Bundle-b5711af0a-...) ------------------

def _binary(content_type: str) -> dict[str, Any]:
    return {"resourceType": "Binary", "id": "b", "contentType": content_type}


@pytest.mark.parametrize("content_type", [
    "application/dicom; variant=DICOM STOW-RS", "text/plain; charset=utf-8",
    'text/plain; charset="utf-8"', "application/fhir+json"])
def test_mime_type_with_parameters_passes(content_type: str) -> None:
    assert errors_at(_binary(content_type), "Binary.contentType") == []


@pytest.mark.parametrize("content_type", [
    "text plain", "text/plain; charset=", "text/plain; charset=utf-8;", 'text/plain; a=b"c'])
def test_malformed_mime_type_is_an_error(content_type: str) -> None:
    assert errors_at(_binary(content_type), "Binary.contentType") == ["code-invalid"]


# --- UCUM: an annotation may hold spaces (R5 Ingredient-example) -----------------------------

def _observation(unit: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": "o", "text": dict(TEXT), "status": "final",
            "code": {"text": "dose"},
            "valueQuantity": {"value": 1, "system": UCUM, "code": unit}}


@pytest.mark.parametrize("unit", ["{delivered dose}", "ug/{delivered dose}", "{dose}"])
def test_ucum_annotation_with_spaces_passes(unit: str) -> None:
    assert errors_at(_observation(unit), "Observation.valueQuantity.code") == []


@pytest.mark.parametrize("unit", ["mg {dose}", "{a{b}", "m g"])
def test_ucum_space_outside_an_annotation_is_an_error(unit: str) -> None:
    assert errors_at(_observation(unit), "Observation.valueQuantity.code") == ["ucum-invalid"]


# --- Bundle: a relative reference is read against its entry's fullUrl (R5 Bundle-father) ------

PATIENT_URL = "http://example.org/fhir/Patient/p"


def _document(composition_url: str, patient_url: str = PATIENT_URL) -> dict[str, Any]:
    composition = {"resourceType": "Composition", "id": "c", "text": dict(TEXT),
                   "status": "final", "type": {"text": "summary"},
                   "subject": [{"reference": "Patient/p"}], "date": "2026-01-01",
                   "author": [{"reference": "Patient/p"}], "title": "Summary"}
    patient = {"resourceType": "Patient", "id": "p", "text": dict(TEXT)}
    return {"resourceType": "Bundle", "id": "d", "type": "document",
            "identifier": {"system": "urn:ietf:rfc:3986",
                           "value": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"},
            "timestamp": "2026-01-01T00:00:00Z",
            "entry": [{"fullUrl": composition_url, "resource": composition},
                      {"fullUrl": patient_url, "resource": patient}]}


SUBJECT = "Bundle.entry[0].resource.subject[0].reference"


def test_relative_reference_from_a_urn_entry_does_not_resolve_to_a_restful_entry() -> None:
    doc = _document("urn:uuid:124a6916-5d84-4b8c-b250-10cefb8e6e86")
    assert errors_at(doc, SUBJECT) == ["unresolved-reference"]


def test_relative_reference_from_another_server_base_does_not_resolve() -> None:
    doc = _document("http://other.example.org/fhir/Composition/c")
    assert errors_at(doc, SUBJECT) == ["unresolved-reference"]


def test_relative_reference_resolves_against_its_entrys_restful_base() -> None:
    doc = _document("http://example.org/fhir/Composition/c")
    assert errors_at(doc, SUBJECT) == []
    assert not [p for p in found(doc) if p.code == "unresolved-reference"]


def test_relative_reference_outside_a_document_is_a_warning_only() -> None:
    doc = _document("urn:uuid:124a6916-5d84-4b8c-b250-10cefb8e6e86")
    doc["type"] = "collection"
    hits = [p for p in found(doc) if p.field == SUBJECT and p.code == "unresolved-reference"]
    assert [p.severity for p in hits] == ["warning"]


# --- meta.profile not available offline: an error, as in the engine -----------------------

def _patient(*profiles: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p", "text": dict(TEXT),
            "meta": {"profile": list(profiles)}}


def test_profile_not_available_offline_is_an_error() -> None:
    res = _patient("http://hl7.org/fhir/uv/vhdir/StructureDefinition/vhdir-location")
    assert errors_at(res, "Patient.meta.profile[0]") == ["profile-not-checked"]


def test_base_definition_as_profile_passes() -> None:
    assert errors_at(_patient("http://hl7.org/fhir/StructureDefinition/Patient"),
                     "Patient.meta.profile[0]") == []


# --- ConceptMap codes against THO's v3-AdministrativeGender (R5 cm-administrative-gender-v3) --

def _gender_map(target_code: str) -> dict[str, Any]:
    return {"resourceType": "ConceptMap", "id": "cm", "text": dict(TEXT), "status": "draft",
            "group": [{"source": "http://hl7.org/fhir/administrative-gender",
                       "target": "http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender",
                       "element": [{"code": "unknown", "target": [
                           {"code": target_code, "relationship": "equivalent"}]}]}]}


@pytest.mark.parametrize("version", ["R5", "R4B"])
def test_concept_map_target_code_outside_v3_gender_is_an_error(version: str) -> None:
    cm = _gender_map("UNK")
    if version == "R4B":
        cm["group"][0]["element"][0]["target"][0] = {"code": "UNK", "equivalence": "equivalent"}
    assert errors_at(cm, "ConceptMap.group[0].element[0].target[0].code", version) == [
        "code-invalid"]


def test_concept_map_target_code_in_v3_gender_passes() -> None:
    assert errors_at(_gender_map("UN"), "ConceptMap.group[0].element[0].target[0].code") == []


# --- ValueSet: compose.include.system is absolute, a contained code system too (R4B) --------

def _value_set(system: str) -> dict[str, Any]:
    return {"resourceType": "ValueSet", "id": "vs", "text": dict(TEXT), "status": "draft",
            "compose": {"include": [{"system": system}]}}


@pytest.mark.parametrize("version", ["R5", "R4B"])
def test_value_set_system_naming_a_contained_code_system_by_id_is_an_error(
        version: str) -> None:
    assert errors_at(_value_set("#hacked"), "ValueSet.compose.include[0].system",
                     version) == ["invalid-system"]


def test_value_set_system_by_absolute_uri_passes() -> None:
    assert errors_at(_value_set("http://example.org/CodeSystem/hacked"),
                     "ValueSet.compose.include[0].system") == []
