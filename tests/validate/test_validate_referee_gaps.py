"""Checks added where the HL7 engine rejected a mutation of the export and ivig-fhir did not
(tests/referee): each one on a small resource, so they run without Java too."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures import DIV, medication, medication_knowledge, transaction

from ivig_fhir.problems import Problem
from ivig_fhir.validate import validate_resource

UCUM = "http://unitsofmeasure.org"


def errors(data: dict[str, Any]) -> list[Problem]:
    return [p for p in validate_resource(data, file="t.json") if p.is_error]


def one_error(data: dict[str, Any], layer: str, field: str, *words: str) -> None:
    found = errors(data)
    hits = [p for p in found if p.layer == layer and p.field == field
            and all(w in p.message for w in words)]
    assert hits, "\n".join(p.render() + f" ({p.layer})" for p in found)


def mk_with_characteristic(value: dict[str, Any]) -> dict[str, Any]:
    mk = medication_knowledge()
    mk["definitional"] = {"drugCharacteristic": [{"type": {"text": "source"},
                                                  "valueQuantity": value}]}
    return mk


def test_simple_quantity_profile_forbids_a_comparator() -> None:
    ok = mk_with_characteristic({"value": 1000, "system": UCUM, "code": "{donor}"})
    assert errors(ok) == []
    bad = mk_with_characteristic({"value": 1000, "comparator": ">", "system": UCUM,
                                  "code": "{donor}"})
    loc = "MedicationKnowledge.definitional.drugCharacteristic[0].valueQuantity"
    one_error(bad, "invariant", loc, "sqty-1")
    one_error(bad, "structure", loc + ".comparator", "not allowed", "SimpleQuantity")


@pytest.mark.parametrize("unit", ["g/kgg", "mg//kg"])
def test_ucum_quantity_needs_a_ucum_unit(unit: str) -> None:
    bad = mk_with_characteristic({"value": 1, "system": UCUM, "code": unit})
    one_error(bad, "binding", "MedicationKnowledge.definitional.drugCharacteristic[0]"
              ".valueQuantity.code", "not a valid UCUM unit")


def _money() -> tuple[dict[str, Any], dict[str, Any], str]:
    mk = medication_knowledge()
    mk["cost"] = [{"type": {"text": "cost"}, "costMoney": {"value": 1, "currency": "USD"}}]
    return mk, mk["cost"][0]["costMoney"], "MedicationKnowledge.cost[0].costMoney"


def _language() -> tuple[dict[str, Any], dict[str, Any], str]:
    mk = medication_knowledge()
    mk["language"] = "en"
    return mk, mk, "MedicationKnowledge"


def _attachment() -> tuple[dict[str, Any], dict[str, Any], str]:
    doc = {"resourceType": "DocumentReference", "id": "d", "status": "current",
           "text": {"status": "generated", "div": DIV},
           "content": [{"attachment": {"contentType": "text/plain"}}]}
    return doc, doc["content"][0]["attachment"], "DocumentReference.content[0].attachment"


@pytest.mark.parametrize(("make", "field", "value", "words"), [
    (_money, "currency", "USX", "ISO 4217"),
    (_language, "language", "english", "ISO 639"),
    (_attachment, "contentType", "plain text", "MIME"),
], ids=["currency", "language", "mime-type"])
def test_codes_of_external_code_systems(make: Any, field: str, value: str, words: str) -> None:
    res, holder, loc = make()
    assert errors(res) == []
    holder[field] = value
    one_error(res, "binding", f"{loc}.{field}", words)


def test_reference_must_point_at_an_allowed_type_and_be_well_formed() -> None:
    mk = medication_knowledge()
    mk.pop("clinicalUseIssue")
    mk["associatedMedication"] = [{"reference": "Medication/ivig"}]
    bundle = transaction([medication(), mk])
    assert errors(bundle) == []
    mk["associatedMedication"][0]["reference"] = "MedicationKnowledge/ivig-knowledge"
    one_error(bundle, "bundle", "Bundle.entry[1].resource.associatedMedication[0].reference",
              "may point at Medication")
    mk["associatedMedication"][0]["reference"] = "the IVIG product"
    one_error(bundle, "bundle", "Bundle.entry[1].resource.associatedMedication[0].reference",
              "not a valid reference")


@pytest.mark.parametrize(("value", "kind"), [("false", "boolean"), ("2", "number")])
def test_json_types_are_not_coerced(value: str, kind: str) -> None:
    med = medication()
    med["batch"] = {"lotNumber": "1"}
    med["totalVolume"] = {"value": 1, "system": UCUM, "code": "mL"}
    assert errors(med) == []
    if kind == "boolean":
        med["text"]["status"] = "generated"
        med["extension"] = [{"url": "http://example.org/flag", "valueBoolean": value}]
        loc = "Medication.extension[0].valueBoolean"
    else:
        med["totalVolume"]["value"] = value
        loc = "Medication.totalVolume.value"
    one_error(med, "structure", loc, "wrong JSON type", kind)


def test_uri_without_whitespace() -> None:
    med = medication()
    med["identifier"] = [{"system": "http://example.org/my ids", "value": "1"}]
    one_error(med, "structure", "Medication.identifier[0].system", "no whitespace")


def test_unknown_resource_type_inside_a_bundle() -> None:
    bundle = transaction([medication()])
    bundle["entry"][0]["resource"]["resourceType"] = "Medicine"
    one_error(bundle, "structure", "Bundle.entry[0].resource", "unknown resource type")


def test_extension_held_to_its_definition_in_the_same_bundle() -> None:
    url = "https://example.org/fhir/StructureDefinition/note"
    sd = {"resourceType": "StructureDefinition", "id": "note", "url": url, "name": "Note",
          "status": "active", "kind": "complex-type", "abstract": False, "type": "Extension",
          "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Extension",
          "derivation": "constraint", "context": [{"type": "element", "expression": "Element"}],
          "differential": {"element": [
              {"id": "Extension", "path": "Extension"},
              {"id": "Extension.extension", "path": "Extension.extension", "max": "0"},
              {"id": "Extension.value[x]", "path": "Extension.value[x]", "min": 1,
               "type": [{"code": "string"}]}]}}
    med = medication()
    med["extension"] = [{"url": url, "valueString": "ok"}]
    bundle = transaction([sd, med])
    assert [p for p in errors(bundle) if p.layer == "structure"] == []
    med["extension"] = [{"url": url, "valueInteger": 7}]
    one_error(bundle, "structure", "Bundle.entry[1].resource.extension[0].valueInteger",
              "takes a value of type string")
