"""HAPI's rule for the value sets it answers for itself (CommonCodeSystemsTerminologyService:
languages, all-languages, ucum-units, mimetypes, currencies): at any binding but an example one,
a coding from another code system is an error ('Inappropriate CodeSystem URL';
validate/_binding.py, `_hapi_system`). Each case here was put to the referee (scripts/referee)
on 2026-12-07 in the version it is tested in, and the engine agreed, error for error."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures import TEXT

from ivig_fhir.validate import validate_resource

UCUM = "http://unitsofmeasure.org"
MDC = "urn:iso:std:iso:11073:10101"
BCP47 = "urn:ietf:bcp:47"
OTHER_LANGUAGES = "http://example.org/fhir/CodeSystem/languages"


def errors(data: dict[str, Any], version: str) -> list[tuple[str, str]]:
    """(place, code) of every error."""
    return [(p.field, p.code) for p in validate_resource(data, file="t.json", fhir_version=version)
            if p.is_error]


def device_metric(*codings: dict[str, Any]) -> dict[str, Any]:
    """R5 DeviceMetric.unit: CodeableConcept, preferred binding to ucum-units."""
    return {"resourceType": "DeviceMetric", "id": "d", "text": TEXT,
            "type": {"coding": [{"system": MDC, "code": "150456"}]},
            "device": {"reference": "Device/d"}, "category": "measurement",
            "unit": {"coding": list(codings)}}


def patient(*codings: dict[str, Any]) -> dict[str, Any]:
    """Patient.communication.language: R4B preferred to languages, R5 required to
    all-languages."""
    return {"resourceType": "Patient", "id": "p", "text": TEXT,
            "communication": [{"language": {"coding": list(codings)}}]}


HAPI = "hapi-code-system"
UNIT = ("DeviceMetric.unit", HAPI)


def test_a_preferred_unit_binding_takes_ucum_only() -> None:
    """R5 DeviceMetric-example: percent in ISO 11073 at DeviceMetric.unit."""
    assert errors(device_metric({"system": MDC, "code": "262688"}), "R5") == [UNIT]
    assert errors(device_metric({"system": UCUM, "code": "%"}), "R5") == []


def test_one_foreign_coding_fails_the_concept_even_next_to_a_right_one() -> None:
    both = device_metric({"system": UCUM, "code": "%"}, {"system": MDC, "code": "262688"})
    assert errors(both, "R5") == [UNIT]


def test_a_coding_with_a_system_and_no_code_counts_a_coding_without_system_does_not() -> None:
    assert errors(device_metric({"system": MDC, "display": "percent"}), "R5") == [UNIT]
    assert errors(device_metric({"code": "%"}), "R5") == []


def test_the_message_says_whose_rule_it_is() -> None:
    found = [p for p in validate_resource(device_metric({"system": MDC, "code": "262688"}),
                                          file="t.json", fhir_version="R5") if p.is_error]
    assert len(found) == 1
    assert found[0].severity == "error" and found[0].layer == "binding"
    assert "HAPI" in found[0].message and MDC in found[0].message
    assert "preferred" in found[0].message  # and that FHIR itself would allow it


@pytest.mark.parametrize("version", ["R5", "R4B", "R4"])
def test_language_codings_take_bcp47_only(version: str) -> None:
    """R4B MedicinalProductDefinition-example and SubstanceDefinition-example: languages in
    a regulator's own code system."""
    place = ("Patient.communication[0].language", HAPI)
    assert errors(patient({"system": OTHER_LANGUAGES, "code": "en"}), version) == [place]
    assert errors(patient({"system": BCP47, "code": "en"},
                          {"system": "http://snomed.info/sct", "code": "297499007"}),
                  version) == [place]
    assert errors(patient({"system": BCP47, "code": "en"}), version) == []


def test_a_code_system_the_definitions_know_is_refused_as_well() -> None:
    nullflavor = {"system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "code": "UNK"}
    assert errors(patient(nullflavor), "R4B") == [
        ("Patient.communication[0].language", HAPI)]


def test_a_required_currency_binding() -> None:
    account = {"resourceType": "Account", "id": "a", "text": TEXT, "status": "active",
               "currency": {"coding": [{"system": "http://example.org/currencies",
                                        "code": "EUR"}]}}
    assert errors(account, "R5") == [("Account.currency", HAPI)]
    account["currency"]["coding"][0]["system"] = "urn:iso:std:iso:4217"
    assert errors(account, "R5") == []


def test_an_extensible_unit_binding_in_r4b() -> None:
    definition = {"resourceType": "ObservationDefinition", "id": "o", "text": TEXT,
                  "code": {"text": "oxygen saturation"},
                  "quantitativeDetails": {"unit": {"coding": [{"system": MDC,
                                                               "code": "262688"}]}}}
    assert errors(definition, "R4B") == [("ObservationDefinition.quantitativeDetails.unit", HAPI)]
    definition["quantitativeDetails"]["unit"]["coding"][0] = {"system": UCUM, "code": "%"}
    assert errors(definition, "R4B") == []


def test_a_coding_element_needs_a_code_to_be_asked_about() -> None:
    """R5 ObservationDefinition.permittedUnit: a Coding, preferred binding to ucum-units."""
    definition = {"resourceType": "ObservationDefinition", "id": "o", "text": TEXT,
                  "status": "draft", "code": {"text": "oxygen saturation"},
                  "permittedDataType": ["Quantity"],
                  "permittedUnit": [{"system": MDC, "code": "262688"}]}
    assert errors(definition, "R5") == [("ObservationDefinition.permittedUnit[0]", HAPI)]
    del definition["permittedUnit"][0]["code"]
    definition["permittedUnit"][0]["display"] = "percent"
    assert errors(definition, "R5") == []


def test_an_extension_value_bound_by_its_definition() -> None:
    """location-communication (R5 extensions package): CodeableConcept, preferred binding to
    languages."""
    location = {"resourceType": "Location", "id": "l", "text": TEXT, "extension": [{
        "url": "http://hl7.org/fhir/StructureDefinition/location-communication",
        "valueCodeableConcept": {"coding": [{"system": OTHER_LANGUAGES, "code": "en"}]}}]}
    assert errors(location, "R5") == [("Location.extension[0].valueCodeableConcept", HAPI)]
    location["extension"][0]["valueCodeableConcept"]["coding"][0]["system"] = BCP47
    assert errors(location, "R5") == []
