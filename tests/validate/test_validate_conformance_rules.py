"""The rules on StructureDefinitions no constraint of the definitions states
(ivig_fhir.validate._conformance): each fires on a hand-made resource, at the element to fix,
and its valid twin passes. Each one is a miss of ivig-fhir on the official R5 examples the HL7
engine rejects (named on each test)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ivig_fhir.problems import Problem
from ivig_fhir.validate import validate_bytes, validate_resource

DIV = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}
CORE = "http://hl7.org/fhir/StructureDefinition/"
URL = "http://example.org/fhir/StructureDefinition/ExampleProfile"


def errors(data: dict[str, Any], version: str = "R5") -> list[tuple[str, str]]:
    found: list[Problem] = validate_resource(data, file="t.json", fhir_version=version)
    return [(p.field, p.code) for p in found if p.is_error]


def profile(*elements: dict[str, Any], type_: str = "Observation",
            snapshot: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    sd: dict[str, Any] = {
        "resourceType": "StructureDefinition", "id": "example-profile", "text": DIV,
        "url": URL, "name": "ExampleProfile", "status": "draft", "kind": "resource",
        "abstract": False, "type": type_, "baseDefinition": CORE + type_,
        "derivation": "constraint",
        "differential": {"element": [{"id": type_, "path": type_}, *elements]}}
    if snapshot is not None:
        sd["snapshot"] = {"element": snapshot}
    return sd


def logical(type_: str, url: str = "http://example.org/fhir/StructureDefinition/DateId") -> \
        dict[str, Any]:
    root = type_.rsplit("/", 1)[-1]  # a logical model's elements start with its name
    return {"resourceType": "StructureDefinition", "id": "date-id", "text": DIV, "url": url,
            "name": "DateId", "status": "draft", "kind": "logical", "abstract": False,
            "type": type_, "baseDefinition": CORE + "Element", "derivation": "specialization",
            "differential": {"element": [{"id": root, "path": root}]}}


# --- StructureDefinition.type (R5 and R4B Bundle-dataelements: type 'date.id') -----------


@pytest.mark.parametrize("version", ["R5", "R4B"])
def test_a_bare_type_name_the_version_does_not_define_is_an_error(version: str) -> None:
    assert errors(logical("date.id"), version) == [("StructureDefinition.type",
                                                    "structuredefinition-type")]


@pytest.mark.parametrize("version", ["R5", "R4B"])
def test_a_logical_model_named_by_an_absolute_url_passes(version: str) -> None:
    assert errors(logical("http://example.org/fhir/StructureDefinition/DateId"), version) == []


def test_the_specifications_own_logical_model_names_the_type_it_defines() -> None:
    # R5 StructureDefinition-Definition: type 'Definition', url .../StructureDefinition/Definition
    assert errors(logical("Definition", CORE + "Definition")) == []
    assert errors(logical("Definition")) == [("StructureDefinition.type",
                                              "structuredefinition-type")]


def test_the_type_rule_reports_a_bundle_entry_at_its_own_path() -> None:
    bundle = {"resourceType": "Bundle", "id": "b", "type": "collection",
              "entry": [{"fullUrl": "http://example.org/fhir/StructureDefinition/date-id",
                         "resource": logical("date.id")}]}
    found = [p for p in validate_bytes(json.dumps(bundle, indent=1).encode(), file="b.json",
                                       fhir_version="R5") if p.is_error]
    assert [(p.field, p.code, p.line) for p in found] == [
        ("Bundle.entry[0].resource.type", "structuredefinition-type", 20)]


# --- constraint expressions (R5 StructureDefinition-ElementDefinition, Bundle-types: eld-11's
# `type.code.contains(":")`) ----------------------------------------------------------------


def constrained(expression: str, source: str = URL) -> dict[str, Any]:
    return profile({"id": "Observation.code", "path": "Observation.code", "constraint": [
        {"key": "exa-1", "severity": "error", "human": "no x", "expression": expression,
         "source": source}]})


def test_a_double_quoted_string_in_an_own_constraint_is_an_error() -> None:
    assert errors(constrained('text.contains(":").not()')) == [
        ("StructureDefinition.differential.element[1].constraint[0].expression",
         "fhirpath-syntax")]


@pytest.mark.parametrize("expression", [
    "text.contains(':').not()",
    "text != 'say \"hi\"'",  # inside a string
    "`text`.exists() // a \"comment\"",  # a delimited identifier, a comment
    "text.exists() /* \"a\" */ or true",
])
def test_double_quotes_inside_strings_and_comments_pass(expression: str) -> None:
    assert errors(constrained(expression)) == []


def test_a_constraint_copied_from_elsewhere_is_judged_where_it_is_defined() -> None:
    # Its expression is not this profile's to judge; a differential holding it at all is
    # (tests/validate/test_validate_constraint_keys.py).
    other = "http://example.org/fhir/StructureDefinition/Other"
    assert errors(constrained('text.contains(":").not()', source=other)) == [
        ("StructureDefinition.differential.element[1].constraint[0].source",
         "constraint-source")]


# --- names a constraint reads (R4B StructureDefinition-ChargeItemDefinition, Evidence: cid-0
# and cnl-0 read `name`, which neither resource has) ----------------------------------------


def snapshot_constraint(expression: str, source: str = URL) -> dict[str, Any]:
    root = snap("Observation")
    root["constraint"] = [{"key": "exa-1", "severity": "error", "human": "probe",
                           "expression": expression, "source": source}]
    return profile(snapshot=[root, snap("Observation.status"), snap("Observation.code"),
                             snap("Observation.value[x]")])


def test_a_constraint_reading_an_element_its_context_lacks_is_an_error() -> None:
    assert errors(snapshot_constraint("name.exists() implies name.matches('[A-Z]')")) == [
        ("StructureDefinition.snapshot.element[0].constraint[0].expression", "fhirpath-name")]


@pytest.mark.parametrize("expression", [
    "status.exists() implies code.exists()",
    "value.exists() or (value is Quantity)",  # a choice element without [x]; a type after is
    "Observation.code.exists() and %resource.name.exists()",  # a type filter; a variable
    "code.where(name.exists()).exists()",  # a function's argument reads its own focus
    "iif(status.exists(), true, false)",
])
def test_a_constraint_reading_its_contexts_elements_passes(expression: str) -> None:
    assert errors(snapshot_constraint(expression)) == []


def test_a_constraint_without_this_source_is_not_judged() -> None:
    # as the engine: R4B extension allergyintolerance-substanceExposureRisk's inv-1 has no
    # source, reads an element Extension lacks, and passes
    assert errors(snapshot_constraint("name.exists()", source="http://example.org/Other")) == []


# --- constraint keys a profile adds (the referee on hand-made Patient profiles: pat-1 and
# dom-2 with other expressions rejected, a new key passes) ---------------------------------


def keyed(key: str, expression: str) -> dict[str, Any]:
    sd = profile(type_="Patient")
    sd["differential"]["element"][0]["constraint"] = [
        {"key": key, "severity": "error", "human": "probe", "expression": expression,
         "source": URL}]
    return sd


@pytest.mark.parametrize("key", ["pat-1", "dom-2"])  # on Patient.contact; on every resource
def test_a_profile_giving_a_base_key_another_expression_is_an_error(key: str) -> None:
    assert errors(keyed(key, "name.exists()")) == [
        ("StructureDefinition.differential.element[0].constraint[0].key", "constraint-key")]


def test_a_profile_repeating_a_base_constraint_or_adding_its_own_key_passes() -> None:
    pat1 = "name.exists() or telecom.exists() or address.exists() or organization.exists()"
    assert errors(keyed("pat-1", pat1)) == []
    assert errors(keyed("exa-1", "name.exists()")) == []


# --- differential paths (R5 StructureDefinition-ebmrecommendation, Bundle-profiles-others:
# 'ArtifactAssessment.citeAs') --------------------------------------------------------------


def test_a_choice_element_without_its_x_is_an_error() -> None:
    found = errors(profile({"id": "Observation.value", "path": "Observation.value", "min": 1}))
    assert found == [("StructureDefinition.differential.element[1].path", "differential-path")]


def test_a_nested_choice_element_without_its_x_is_an_error() -> None:
    found = errors(profile(
        {"id": "Observation.component", "path": "Observation.component"},
        {"id": "Observation.component.value", "path": "Observation.component.value"}))
    assert found == [("StructureDefinition.differential.element[2].path", "differential-path")]


@pytest.mark.parametrize("path", ["Observation.value[x]", "Observation.valueQuantity",
                                  "Observation.valueQuantity.unit",
                                  "Observation.component.value[x]",
                                  "Observation.code.coding.system"])
def test_choice_elements_with_x_or_a_type_pass(path: str) -> None:
    assert errors(profile({"id": path, "path": path})) == []


# --- slicing set-up in a snapshot (R5 and R4B StructureDefinition-catalog:
# 'Composition.date:IssueDate') ------------------------------------------------------------


def snap(path: str, **extra: Any) -> dict[str, Any]:
    name = extra.get("sliceName")
    return {"id": f"{path}:{name}" if name else path, "path": path, "definition": "d",
            "min": 0, "max": "1" if "." not in path or path.endswith("[x]") else "*",
            "base": {"path": path, "min": 0, "max": "*"}, **extra}


SLICING = {"discriminator": [{"type": "pattern", "path": "$this"}], "rules": "open"}


def test_a_slice_before_its_slicing_set_up_is_an_error() -> None:
    sd = profile(snapshot=[snap("Observation"),
                           snap("Observation.category", sliceName="lab")])
    assert errors(sd) == [("StructureDefinition.snapshot.element[1]", "slicing-setup")]


def test_slices_after_their_slicing_set_up_pass() -> None:
    sd = profile(snapshot=[snap("Observation"), snap("Observation.category", slicing=SLICING),
                           snap("Observation.category", sliceName="lab"),
                           snap("Observation.category", sliceName="vital")])
    assert errors(sd) == []


def test_type_slices_of_a_choice_element_need_no_set_up() -> None:
    sd = profile(snapshot=[snap("Observation"),
                           snap("Observation.value[x]", sliceName="valueQuantity")])
    assert errors(sd) == []


# --- discriminator paths (R5 StructureDefinition-subscription-notification-bundle: 'entry'
# on Bundle.entry) -------------------------------------------------------------------------


def sliced(path: str, discriminator: str, type_: str = "Observation") -> dict[str, Any]:
    slicing = {"discriminator": [{"type": "value", "path": discriminator}], "rules": "open"}
    return profile({"id": path, "path": path, "slicing": slicing}, type_=type_)


def test_a_discriminator_naming_the_sliced_element_again_is_an_error() -> None:
    assert errors(sliced("Bundle.entry", "entry", "Bundle")) == [
        ("StructureDefinition.differential.element[1].slicing.discriminator[0].path",
         "discriminator-path")]


def test_a_discriminator_naming_no_child_deeper_down_is_an_error() -> None:
    assert errors(sliced("Observation.component", "code.coding.value")) == [
        ("StructureDefinition.differential.element[1].slicing.discriminator[0].path",
         "discriminator-path")]


@pytest.mark.parametrize(("path", "discriminator", "type_"), [
    ("Observation.component", "code", "Observation"),
    ("Observation.component", "code.coding.code", "Observation"),
    ("Observation.component", "value", "Observation"),  # a choice element, FHIRPath-style
    ("Observation.component", "$this", "Observation"),
    ("Observation.category", "coding.code", "Observation"),
    ("Bundle.entry", "resource", "Bundle"),
    ("Bundle.entry", "resource.meta.profile", "Bundle"),  # Resource's own elements
    ("Bundle.entry", "resource.code", "Bundle"),  # abstract Resource: cannot tell, passes
    ("Observation.extension", "url", "Observation"),
])
def test_discriminators_naming_elements_of_the_sliced_element_pass(
        path: str, discriminator: str, type_: str) -> None:
    assert errors(sliced(path, discriminator, type_)) == []
