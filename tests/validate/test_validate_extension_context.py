"""Where an extension may be used (StructureDefinition.context): each extension out of its
context is an error, next to its twin in context that passes. The rules:
https://hl7.org/fhir/defining-extensions.html#context."""

from __future__ import annotations

from typing import Any

from fixtures import TEXT

from ivig_fhir.problems import Problem
from ivig_fhir.validate import validate_resource

EXT = "http://hl7.org/fhir/StructureDefinition/"
BINDING_NAME = {"url": EXT + "elementdefinition-bindingName", "valueString": "Gender"}


def errors(data: dict[str, Any], version: str) -> list[Problem]:
    return [p for p in validate_resource(data, file="t.json", fhir_version=version)
            if p.is_error]


def context_errors(data: dict[str, Any], version: str) -> list[str]:
    """The places of the context errors, after checking nothing else is wrong."""
    found = errors(data, version)
    assert all(p.code == "extension-context" for p in found), [p.render() for p in found]
    return [p.field or "" for p in found]


def binding(*extension: dict[str, Any]) -> dict[str, Any]:
    return {"extension": list(extension), "strength": "required",
            "valueSet": "http://hl7.org/fhir/ValueSet/administrative-gender"}


def test_binding_name_belongs_to_an_element_definitions_binding() -> None:
    """R4B's OperationDefinition-Observation-stats: elementdefinition-bindingName (context
    ElementDefinition.binding) on OperationDefinition.parameter.binding, a backbone element of
    another resource; the engine rejects it."""
    op = {"resourceType": "OperationDefinition", "id": "o", "text": TEXT,
          "url": "http://example.org/OperationDefinition/o", "name": "O", "status": "draft",
          "kind": "operation", "code": "o", "system": False, "type": True, "instance": False,
          "resource": ["Patient"],
          "parameter": [{"name": "g", "use": "in", "min": 0, "max": "1", "type": "code",
                         "binding": binding(BINDING_NAME)}]}
    assert context_errors(op, "R4B") == ["OperationDefinition.parameter[0].binding.extension[0]"]
    sd = {"resourceType": "StructureDefinition", "id": "p", "text": TEXT,
          "url": "http://example.org/StructureDefinition/p", "name": "P", "status": "draft",
          "kind": "resource", "abstract": False, "type": "Patient",
          "baseDefinition": EXT + "Patient", "derivation": "constraint",
          "differential": {"element": [{"id": "Patient.gender", "path": "Patient.gender",
                                        "binding": binding(BINDING_NAME)}]}}
    assert context_errors(sd, "R4B") == []


def test_a_resource_context_allows_that_resource_only() -> None:
    birth_place = {"url": EXT + "patient-birthPlace", "valueAddress": {"city": "Paris"}}
    patient = {"resourceType": "Patient", "id": "p", "text": TEXT, "extension": [birth_place]}
    assert context_errors(patient, "R5") == []
    basic = {"resourceType": "Basic", "id": "b", "text": TEXT, "code": {"text": "x"},
             "extension": [birth_place]}
    assert context_errors(basic, "R5") == ["Basic.extension[0]"]


def test_a_type_context_allows_every_element_of_that_type() -> None:
    """geolocation's context is Address: any Address, wherever a resource has one."""
    geo = {"url": EXT + "geolocation",
           "extension": [{"url": "latitude", "valueDecimal": 48.85},
                         {"url": "longitude", "valueDecimal": 2.35}]}
    patient = {"resourceType": "Patient", "id": "p", "text": TEXT,
               "address": [{"city": "Paris", "extension": [geo]}],
               "contact": [{"address": {"city": "Lyon", "extension": [geo]}}]}
    assert context_errors(patient, "R5") == []
    patient["name"] = [{"family": "Doe", "extension": [geo]}]
    assert context_errors(patient, "R5") == ["Patient.name[0].extension[0]"]


def test_the_engines_corrections_of_core_contexts_hold() -> None:
    """R4B's normative-version names StructureDefinition, yet the core's own CodeSystems carry
    it: the HL7 engine reads its context as Element (InstanceValidator.fixContexts), as here. An
    extension whose context really is StructureDefinition only is still refused there."""
    cs = {"resourceType": "CodeSystem", "id": "c", "text": TEXT,
          "url": "http://example.org/CodeSystem/c", "status": "draft", "content": "not-present",
          "extension": [{"url": EXT + "structuredefinition-normative-version",
                         "valueCode": "4.0.0"}]}
    assert context_errors(cs, "R4B") == []
    cs["extension"] = [{"url": EXT + "structuredefinition-summary", "valueMarkdown": "x"}]
    assert context_errors(cs, "R4B") == ["CodeSystem.extension[0]"]


def test_an_extension_context_allows_it_inside_that_extension_only() -> None:
    """R5's capabilitystatement-expectation may sit on listed CapabilityStatement elements or
    inside the extension capabilitystatement-search-parameter-combination."""
    expectation = {"url": EXT + "capabilitystatement-expectation", "valueCode": "SHALL"}
    combination = {"url": EXT + "capabilitystatement-search-parameter-combination",
                   "extension": [expectation, {"url": "required", "valueString": "family"},
                                 {"url": "required", "valueString": "given"}]}
    cs = {"resourceType": "CapabilityStatement", "id": "c", "text": TEXT, "status": "draft",
          "date": "2026-01-01", "kind": "instance", "implementation": {"description": "x"},
          "fhirVersion": "5.0.0", "format": ["json"],
          "rest": [{"mode": "server",
                    "resource": [{"type": "Patient", "extension": [combination]}]}]}
    assert context_errors(cs, "R5") == []
    cs["software"] = {"name": "x", "extension": [expectation]}
    assert context_errors(cs, "R5") == ["CapabilityStatement.software.extension[0]"]
