"""SearchParameter.expression against SearchParameter.base (ivig_fhir.validate._search) and a
StructureMap's contexts and element paths (ivig_fhir.validate._structuremap), in R5 and R4B:
each rule fires on a hand-made resource, at the element to fix, and its valid twin passes. The
misses behind them: R4B SearchParameter-example-extension, StructureMap-example and
StructureMap-supplyrequest-transform, which the HL7 engine rejects."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ivig_fhir.problems import Problem
from ivig_fhir.validate import validate_bytes, validate_resource

VERSIONS = ("R5", "R4B")
DIV = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}
CORE = "http://hl7.org/fhir/StructureDefinition/"


def errors(data: dict[str, Any], version: str) -> list[tuple[str, str]]:
    found: list[Problem] = validate_resource(data, file="t.json", fhir_version=version)
    return sorted((p.field, p.code) for p in found if p.is_error)


# --- SearchParameter ---------------------------------------------------------------------------


def search(expression: str, *bases: str, version: str = "R5") -> dict[str, Any]:
    sp = {"resourceType": "SearchParameter", "id": "example", "text": DIV,
          "url": "http://example.org/fhir/SearchParameter/example", "name": "ExampleSearch",
          "status": "draft", "description": "An example", "code": "example",
          "base": list(bases or ("Patient",)), "type": "token", "expression": expression}
    if version == "R5":
        sp["processingMode"] = "normal"  # spd-1: an expression states how it is processed
    return sp


BAD = [("SearchParameter.expression", "search-expression")]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("expression", "bases"), [
    # R4B SearchParameter-example-extension: another resource type than the base.
    ("DocumentReference.extension('http://example.org/fhir/StructureDefinition/x')",
     ("Patient",)),
    ("Patient.name | Practitioner.name", ("Patient",)),
    ("Patient.nmae", ("Patient",)),
    ("Patient.contact.nmae.family", ("Patient",)),
    ("Patient.contact.name.famly", ("Patient",)),
    ("nmae", ("Patient",)),
    ("(Patient.nmae)", ("Patient",)),
    ("Patient.name.where(use = 'official') | Group.nmae", ("Patient", "Group")),
    # Only a base type itself filters: the referee rejects a type the base specialises.
    ("Resource.id", ("Patient",)),
    ("DomainResource.text", ("Patient",)),
    # A choice is read as `value`, not by JSON's type-specific name.
    ("Observation.valueQuantity", ("Observation",)),
    ("Observation.component.valueQuantity", ("Observation",)),
])
def test_a_search_expression_reads_what_its_base_types_have(
        version: str, expression: str, bases: tuple[str, ...]) -> None:
    assert errors(search(expression, *bases, version=version), version) == BAD


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("expression", "bases"), [
    ("Patient.extension('http://example.org/fhir/StructureDefinition/x')", ("Patient",)),
    ("Patient.name | Practitioner.name", ("Patient", "Practitioner")),
    ("Patient.contact.name.family", ("Patient",)),  # into a backbone element, then a datatype
    ("name.given", ("Patient",)),  # an element of the base, read without the type
    ("(Observation.value as Quantity) | Observation.component.value.ofType(Quantity)",
     ("Observation",)),
    ("Patient.name.where(family.exists()).given", ("Patient",)),
    ("Resource.id", ("Resource",)),
    ("Observation.value", ("Observation",)),
])
def test_a_search_expression_on_its_base_types_passes(
        version: str, expression: str, bases: tuple[str, ...]) -> None:
    assert errors(search(expression, *bases, version=version), version) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_a_search_expression_in_a_bundle_is_found_at_its_entry(version: str) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "http://example.org/fhir/SearchParameter/example",
         "resource": search("Patient.nmae", version=version)}]}
    text = json.dumps(bundle, indent=1)
    found = [p for p in validate_bytes(text.encode(), file="b.json", fhir_version=version)
             if p.is_error]
    line = next(n for n, row in enumerate(text.splitlines(), 1) if '"expression"' in row)
    assert [(p.field, p.code, p.line) for p in found] == [
        ("Bundle.entry[0].resource.expression", "search-expression", line)]
    assert "Patient has no element 'nmae'" in found[0].message


@pytest.mark.parametrize("version", VERSIONS)
def test_what_the_definitions_cannot_tell_is_not_judged(version: str) -> None:
    # The referee rejects the last two (no resource type, no type of deceased[x] has an
    # element nmae); here they are left alone, as every type would have to be searched.
    for expression, base in (("Patient.name.where(", "Patient"),  # outside what is read here
                             ("Bundle.entry.resource.nmae", "Bundle"),  # any resource
                             ("Patient.deceased.nmae", "Patient")):  # a choice, several types
        assert errors(search(expression, base, version=version), version) == []
    # The same names where the definitions can tell.
    assert errors(search("Bundle.entry.nmae", "Bundle", version=version), version) == BAD


# --- StructureMap ------------------------------------------------------------------------------


def structure_map(version: str, *rules: dict[str, Any],
                  inputs: list[dict[str, Any]] | None = None,
                  structures: list[dict[str, Any]] | None = None,
                  **group: Any) -> dict[str, Any]:
    if inputs is None:
        inputs = [{"name": "source", "type": "ActivityDefinition", "mode": "source"},
                  {"name": "target", "type": "SupplyRequest", "mode": "target"}]
    g: dict[str, Any] = {"name": "main", "input": inputs, "rule": list(rules), **group}
    if version == "R4B":
        g.setdefault("typeMode", "none")
        for rule in _rules(g["rule"]):
            for t in rule.get("target", []):
                if "context" in t:
                    t["contextType"] = "variable"
    sm: dict[str, Any] = {"resourceType": "StructureMap", "id": "example", "text": DIV,
                          "url": "http://example.org/fhir/StructureMap/example",
                          "name": "ExampleMap", "status": "draft", "group": [g]}
    if structures is not None:
        sm["structure"] = structures
    return sm


def _rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for rule in rules for r in (rule, *_rules(rule.get("rule", [])))]


def rule(name: str, source: dict[str, Any], *targets: dict[str, Any],
         rules: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    r: dict[str, Any] = {"name": name, "source": [source], "target": list(targets)}
    if rules:
        r["rule"] = list(rules)
    return r


def src(context: str = "source", element: str | None = "code", variable: str = "a") -> \
        dict[str, Any]:
    s = {"context": context, "variable": variable}
    if element is not None:
        s["element"] = element
    return s


def tgt(context: str = "target", element: str = "quantity", **more: Any) -> dict[str, Any]:
    return {"context": context, "element": element, "transform": "copy", **more}


G = "StructureMap.group[0]"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_rule_reads_only_variables_known_at_that_point(version: str) -> None:
    # R4B StructureMap-example: contexts naming no input of the group.
    unknown = structure_map(version, rule("r1", src("Source"), tgt("Destination")))
    assert errors(unknown, version) == [(f"{G}.rule[0].source[0]", "structuremap-context"),
                                        (f"{G}.rule[0].target[0]", "structuremap-context")]
    # A variable a rule binds is known to the rules nested in it, not to the next rule.
    nested = rule("r1", src(), tgt(variable="p", element="parameter"),
                  rules=(rule("r2", src("a", None, "b"), tgt("p", "code")),))
    sibling = rule("r3", src("a", None, "c"), tgt("p", "code"))
    assert errors(structure_map(version, nested), version) == []
    assert errors(structure_map(version, nested, sibling), version) == [
        (f"{G}.rule[1].source[0]", "structuremap-context"),
        (f"{G}.rule[1].target[0]", "structuremap-context")]
    # A source context is a source variable, a target context a target one.
    swapped = structure_map(version, rule("r1", src("target"), tgt("source")))
    assert errors(swapped, version) == [(f"{G}.rule[0].source[0]", "structuremap-context"),
                                        (f"{G}.rule[0].target[0]", "structuremap-context")]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("element", [
    "occurrenceDateTime",  # R4B StructureMap-supplyrequest-transform: a choice, typed
    "orderedItem.itemCodeableConcept",  # a dotted path
    "quantityy",
])
def test_a_target_path_names_a_child_of_the_mapped_type(version: str, element: str) -> None:
    sm = structure_map(version, rule("r1", src(), tgt(element=element)))
    assert errors(sm, version) == [(f"{G}.rule[0].target[0]", "structuremap-path")]
    assert errors(structure_map(version, rule("r1", src(), tgt(element="occurrence"))),
                  version) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_paths_follow_the_types_variables_are_bound_to(version: str) -> None:
    def mapped(source_element: str, target_element: str) -> dict[str, Any]:
        return structure_map(version, rule(
            "r1", src(element="participant", variable="pa"),
            tgt(element="parameter", variable="p"),
            rules=(rule("r2", src("pa", source_element, "t"), tgt("p", target_element)),)))

    assert errors(mapped("type", "code"), version) == []
    assert errors(mapped("typ", "code"), version) == [
        (f"{G}.rule[0].rule[0].source[0]", "structuremap-path")]
    assert errors(mapped("type", "cod"), version) == [
        (f"{G}.rule[0].rule[0].target[0]", "structuremap-path")]


@pytest.mark.parametrize("version", VERSIONS)
def test_an_input_is_typed_through_the_structure_alias(version: str) -> None:
    inputs = [{"name": "source", "type": "AD", "mode": "source"},
              {"name": "target", "type": "SR", "mode": "target"}]

    def aliased(url: str, element: str) -> dict[str, Any]:
        return structure_map(version, rule("r1", src(), tgt(element=element)), inputs=inputs,
                             structures=[{"url": CORE + "ActivityDefinition", "mode": "source",
                                          "alias": "AD"},
                                         {"url": url, "mode": "target", "alias": "SR"}])

    assert errors(aliased(CORE + "SupplyRequest", "quantity"), version) == []
    assert errors(aliased(CORE + "SupplyRequest", "quantityy"), version) == [
        (f"{G}.rule[0].target[0]", "structuremap-path")]
    # A structure the definitions do not hold: its paths are not judged.
    assert errors(aliased("http://example.org/fhir/StructureDefinition/Other", "quantityy"),
                  version) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_untyped_inputs_leave_paths_unjudged(version: str) -> None:
    # R5 StructureMap-example: inputs with no type, elements of a logical model.
    inputs = [{"name": "testSrc", "mode": "source"}, {"name": "testTgt", "mode": "target"}]
    sm = structure_map(version, rule("r1", src("testSrc", "test", "t"),
                                     tgt("testTgt", "testValue")), inputs=inputs)
    assert errors(sm, version) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_names_and_groups(version: str) -> None:
    bad_name = structure_map(version, rule("rule-1", src(), tgt()))
    assert errors(bad_name, version) == [(f"{G}.rule[0]", "structuremap-name")]
    extends = structure_map(version, rule("r1", src(), tgt()), extends="other")
    assert errors(extends, version) == [(f"{G}.extends", "structuremap-group")]
    r = rule("r1", src(), tgt())
    r["dependent"] = [{"name": "other", "parameter": [{"valueId": "a"}]} if version == "R5"
                      else {"name": "other", "variable": ["a"]}]
    assert errors(structure_map(version, r), version) == [
        (f"{G}.rule[0].dependent[0]", "structuremap-group")]
    # The group itself, with as many variables as it has inputs.
    r["dependent"] = [{"name": "main", "parameter": [{"valueId": "source"},
                                                     {"valueId": "target"}]}
                      if version == "R5" else {"name": "main", "variable": ["source", "target"]}]
    assert errors(structure_map(version, r), version) == []
