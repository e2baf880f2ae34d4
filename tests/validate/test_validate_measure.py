"""A Measure's CQL stratifier criteria need a Library the validator can find (the HL7 engine's
MeasureValidator, 'No CQL Libraries found on this Measure'; validate/_measure.py). Each case
was put to the referee (scripts/referee, R5, R4B and R4) on 2026-12-07 and the engine agreed: it
rejects the stratifier, never the population criteria, whatever Measure.library names."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fixtures import TEXT

from ivig_fhir.validate import validate_resource

LIBRARY = "http://example.org/fhir/Library/lib"
VERSIONS = ("R5", "R4B", "R4")


def measure(stratifier_language: str | None = "text/cql") -> dict[str, Any]:
    group: dict[str, Any] = {"population": [{
        "code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/measure-population",
                             "code": "initial-population"}]},
        "criteria": {"language": "text/cql", "expression": "Lib.Initial"}}]}
    if stratifier_language is not None:
        group["stratifier"] = [{"code": {"text": "age"},
                                "criteria": {"language": stratifier_language,
                                             "expression": "Lib.Age"}}]
    return {"resourceType": "Measure", "id": "m", "text": TEXT,
            "url": "http://example.org/fhir/Measure/m", "name": "M", "status": "draft",
            "library": [LIBRARY], "group": [group]}


def library() -> dict[str, Any]:
    return {"resourceType": "Library", "id": "lib", "text": TEXT, "url": LIBRARY, "name": "Lib",
            "status": "draft",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/library-type",
                                 "code": "logic-library"}]},
            "content": [{"contentType": "text/cql", "data": "bGlicmFyeSBMaWI="}]}


def errors(data: dict[str, Any], version: str) -> list[str]:
    """Where the CQL rule fires, after checking nothing else is an error."""
    found = [p for p in validate_resource(data, file="m.json", fhir_version=version)
             if p.is_error]
    assert all(p.code == "measure-cql-library" for p in found), [p.render() for p in found]
    return [p.field for p in found]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_cql_stratifier_without_a_library_found_is_an_error(version: str) -> None:
    assert errors(measure(), version) == ["Measure.group[0].stratifier[0].criteria"]
    no_library = measure()
    del no_library["library"]
    assert errors(no_library, version) == ["Measure.group[0].stratifier[0].criteria"]


@pytest.mark.parametrize("version", VERSIONS)
def test_population_criteria_alone_pass(version: str) -> None:
    assert errors(measure(None), version) == []


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("language", "fires"), [
    ("text/cql", True), ("text/cql.identifier", True),
    # R5's codes for CQL, which the engine does not take for CQL (a warning there, unknown
    # language), and the other languages.
    ("text/cql-identifier", False), ("text/cql-expression", False), ("text/fhirpath", False),
    ("application/x-fhir-query", False)])
def test_only_the_engines_two_cql_languages_count(version: str, language: str,
                                                  fires: bool) -> None:
    data = measure(language)
    found = [p for p in validate_resource(data, file="m.json", fhir_version=version)
             if p.code == "measure-cql-library"]
    assert [p.field for p in found] == (["Measure.group[0].stratifier[0].criteria"]
                                        if fires else [])
    assert all(p.severity == "error" and p.layer == "structure" for p in found)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_stratifiers_components_are_not_checked(version: str) -> None:
    """The engine asks the group, not the stratifier, for components: a stratifier made of CQL
    components passes it."""
    data = measure(None)
    data["group"][0]["stratifier"] = [{"component": [
        {"code": {"text": part}, "criteria": {"language": "text/cql", "expression": part}}
        for part in ("Lib.Age", "Lib.Sex")]}]
    assert errors(data, version) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_neither_a_contained_library_nor_one_in_the_bundle_counts(version: str) -> None:
    contained = measure()
    contained["contained"] = [library()]
    contained["library"] = ["#lib"]
    assert errors(contained, version) == ["Measure.group[0].stratifier[0].criteria"]
    bundle = {"resourceType": "Bundle", "id": "b", "type": "collection", "entry": [
        {"fullUrl": LIBRARY, "resource": library()},
        {"fullUrl": "http://example.org/fhir/Measure/m", "resource": measure()}]}
    assert errors(bundle, version) == [
        "Bundle.entry[1].resource.group[0].stratifier[0].criteria"]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_contained_measure_is_checked_too(version: str) -> None:
    inner = measure()
    del inner["text"]
    listing = {"resourceType": "List", "id": "l", "text": TEXT, "status": "current",
               "mode": "working", "contained": [inner], "entry": [{"item": {"reference": "#m"}}]}
    assert errors(listing, version) == ["List.contained[0].group[0].stratifier[0].criteria"]
    twin = copy.deepcopy(listing)
    twin["contained"][0]["group"][0]["stratifier"][0]["criteria"]["language"] = "text/fhirpath"
    assert errors(twin, version) == []


def test_every_cql_stratifier_is_named_with_its_own_place() -> None:
    data = measure()
    data["group"].append(copy.deepcopy(data["group"][0]))
    data["group"][1]["stratifier"].insert(0, {"code": {"text": "sex"}, "criteria": {
        "language": "text/fhirpath", "expression": "Patient.gender"}})
    data["group"][0]["code"] = {"text": "a"}
    data["group"][1]["code"] = {"text": "b"}
    assert errors(data, "R5") == ["Measure.group[0].stratifier[0].criteria",
                                  "Measure.group[1].stratifier[1].criteria"]
