"""Constraint keys in StructureDefinitions, as the HL7 engine judges them
(ivig_fhir.validate._conformance; the engine's StructureDefinitionValidator): a key a
differential defines is looked up in the base definition's snapshot, then in the core types in
the engine's own order, and must keep the expression found there; a differential names no other
source; a key repeated in a differential or a snapshot keeps its expression (ele-1 excepted in a
snapshot). Misses of ivig-fhir on the official examples: R5 StructureDefinition-Parameters,
-TestReport, Bundle-resources; R4B StructureDefinition-Task, -Parameters, -RatioRange,
Bundle-types. Each rule fires on a hand-made resource and its valid twin passes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ivig_fhir.definitions import load, raw_extract
from ivig_fhir.problems import Problem
from ivig_fhir.validate import validate_resource

DIV = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}
CORE = "http://hl7.org/fhir/StructureDefinition/"
URL = "http://example.org/fhir/StructureDefinition/KeyedPatient"
RECORD = Path(__file__).resolve().parents[2] / "scripts" / "engine" / "constraint-keys.json"
# inv-1 as the core types define it: Task (R5 only), TestReport (every version).
TASK_INV_1 = ("lastModified.exists().not() or authoredOn.exists().not() or "
              "lastModified >= authoredOn")
TEST_REPORT_INV_1 = "operation.exists() xor assert.exists()"
VERSIONS = ["R5", "R4B", "R4"]


def errors(data: dict[str, Any], version: str) -> list[tuple[str, str]]:
    found: list[Problem] = validate_resource(data, file="t.json", fhir_version=version)
    return [(p.field, p.code) for p in found if p.is_error]


def profile(*constraints: dict[str, Any], snapshot: list[dict[str, Any]] | None = None
            ) -> dict[str, Any]:
    sd: dict[str, Any] = {
        "resourceType": "StructureDefinition", "id": "keyed-patient", "text": DIV, "url": URL,
        "version": "1.0.0", "name": "KeyedPatient", "status": "draft", "kind": "resource",
        "abstract": False, "type": "Patient", "baseDefinition": CORE + "Patient",
        "derivation": "constraint",
        "differential": {"element": [{"id": "Patient", "path": "Patient",
                                      "constraint": list(constraints)}]}}
    if snapshot is not None:
        sd["snapshot"] = {"element": snapshot}
    return sd


def constraint(key: str, expression: str, **more: str) -> dict[str, Any]:
    return {"key": key, "severity": "error", "human": "probe", "expression": expression, **more}


def at(j: int, name: str = "key") -> str:
    return f"StructureDefinition.differential.element[0].constraint[{j}].{name}"


# --- the core types, in the engine's order -------------------------------------------------


def test_r5_meets_tasks_inv_1_first() -> None:
    # The referee: R5 StructureDefinition-Task passes, -Parameters and -TestReport fail.
    assert errors(profile(constraint("inv-1", TASK_INV_1)), "R5") == []
    assert errors(profile(constraint("inv-1", TEST_REPORT_INV_1)), "R5") == [
        (at(0), "constraint-key")]


@pytest.mark.parametrize("version", ["R4B", "R4"])
def test_r4b_and_r4_meet_test_reports_inv_1_first(version: str) -> None:
    # The referee: R4B StructureDefinition-TestReport passes, -Task and -Parameters fail.
    assert errors(profile(constraint("inv-1", TEST_REPORT_INV_1)), version) == []
    assert errors(profile(constraint("inv-1", "status.exists()")), version) == [
        (at(0), "constraint-key")]


def report_errors(version: str) -> list[tuple[str, str]]:
    """TestReport's own definition, as the examples packages carry it (base DomainResource),
    defining its inv-1 in the differential."""
    return errors({
        "resourceType": "StructureDefinition", "id": "TestReport", "text": DIV,
        "url": CORE + "TestReport", "name": "TestReport", "status": "draft",
        "kind": "resource", "abstract": False, "type": "TestReport",
        "baseDefinition": CORE + "DomainResource", "derivation": "specialization",
        "differential": {"element": [
            {"id": "TestReport", "path": "TestReport"},
            {"id": "TestReport.setup.action", "path": "TestReport.setup.action",
             "constraint": [constraint("inv-1", TEST_REPORT_INV_1)]}]}}, version)


def test_r5_rejects_test_reports_own_inv_1_for_tasks() -> None:
    assert report_errors("R5") == [
        ("StructureDefinition.differential.element[1].constraint[0].key", "constraint-key")]


@pytest.mark.parametrize("version", ["R4B", "R4"])
def test_r4b_and_r4_pass_test_reports_own_inv_1(version: str) -> None:
    assert report_errors(version) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_a_new_key_or_the_base_snapshots_own_expression_passes(version: str) -> None:
    assert errors(profile(constraint("kp-1", "name.exists()")), version) == []
    assert errors(profile(constraint("dom-2", "contained.contained.empty()")), version) == []
    assert errors(profile(constraint("dom-2", "name.exists()")), version) == [
        (at(0), "constraint-key")]


def test_the_engine_record_is_in_each_extract() -> None:
    record = json.loads(RECORD.read_text())
    for version in ("r5", "r4b", "r4"):
        assert raw_extract(version)["constraintKeys"] == record[version]["keys"], version
    assert load("R5").core_constraint("inv-1") == ("Task", TASK_INV_1)
    assert load("R4B").core_constraint("inv-1") == ("TestReport", TEST_REPORT_INV_1)
    assert load("R4B").core_constraint("inv-2") == ("TestReport", TEST_REPORT_INV_1)
    assert load("R5").core_constraint("pat-1") is not None
    assert load("R5").core_constraint("pat-1")[0] == "Patient"  # type: ignore[index]
    assert load("R5").core_constraint("no-such-key") is None


# --- one key, one expression within a differential -----------------------------------------


def on_two_elements(first: str, second: str) -> dict[str, Any]:
    # One element holds a key once (eld-14): the repeat is on another element.
    sd = profile(constraint("kp-1", first))
    sd["differential"]["element"].append({"id": "Patient.active", "path": "Patient.active",
                                          "constraint": [constraint("kp-1", second)]})
    return sd


@pytest.mark.parametrize("version", VERSIONS)
def test_a_key_twice_in_a_differential_with_two_expressions_is_an_error(version: str) -> None:
    assert errors(on_two_elements("name.exists()", "active.exists()"), version) == [
        ("StructureDefinition.differential.element[1].constraint[0].key", "constraint-key")]
    assert errors(on_two_elements("name.exists()", "name.exists()"), version) == []


# --- a differential's constraints are its own ------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_a_differential_constraint_from_another_source_is_an_error(version: str) -> None:
    other = "http://example.org/fhir/StructureDefinition/Other"
    assert errors(profile(constraint("kp-1", "name.exists()", source=other)), version) == [
        (at(0, "source"), "constraint-source")]


@pytest.mark.parametrize("source", [URL, URL + "|1.0.0"])
def test_a_differential_constraint_naming_itself_passes(source: str) -> None:
    for version in VERSIONS:
        assert errors(profile(constraint("kp-1", "name.exists()", source=source)),
                      version) == []


# --- a snapshot lists each key with one expression -------------------------------------------


def snapshot(key: str, first: str, second: str) -> list[dict[str, Any]]:
    return [{"id": "Patient", "path": "Patient", "min": 0, "max": "*",
             "constraint": [constraint(key, first, source=URL)]},
            {"id": "Patient.active", "path": "Patient.active", "min": 0, "max": "1",
             "type": [{"code": "boolean"}],
             "constraint": [constraint(key, second, source=URL)]}]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_key_with_two_expressions_in_a_snapshot_is_an_error(version: str) -> None:
    sd = profile(snapshot=snapshot("kp-2", "hasValue()", "hasValue() or extension.exists()"))
    assert ("StructureDefinition.snapshot.element[1].constraint[0].expression",
            "constraint-key") in errors(sd, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_a_snapshot_key_repeated_alike_or_ele_1_worded_twice_passes(version: str) -> None:
    alike = profile(snapshot=snapshot("kp-2", "hasValue()", "hasValue()"))
    ele = profile(snapshot=snapshot("ele-1", "hasValue()", "hasValue() or extension.exists()"))
    for sd in (alike, ele):
        assert not [f for f in errors(sd, version) if f[1] == "constraint-key"]


# --- extension definitions: judged against their base only (the referee on hand-made R5 and
# R4B extension definitions keying inv-1 anew: no error; R4B
# StructureDefinition-allergyintolerance-substanceExposureRisk passes) ------------------------


def extension(key: str, expression: str) -> dict[str, Any]:
    url = "http://example.org/fhir/StructureDefinition/keyed-ext"
    return {"resourceType": "StructureDefinition", "id": "keyed-ext", "text": DIV, "url": url,
            "name": "KeyedExt", "status": "draft", "kind": "complex-type", "abstract": False,
            "context": [{"type": "element", "expression": "Patient"}], "type": "Extension",
            "baseDefinition": CORE + "Extension", "derivation": "constraint",
            "differential": {"element": [
                {"id": "Extension", "path": "Extension",
                 "constraint": [constraint(key, expression)]},
                {"id": "Extension.extension", "path": "Extension.extension", "max": "0"},
                {"id": "Extension.url", "path": "Extension.url", "fixedUri": url},
                {"id": "Extension.value[x]", "path": "Extension.value[x]",
                 "type": [{"code": "string"}]}]}}


@pytest.mark.parametrize("version", VERSIONS)
def test_an_extension_definition_is_judged_against_its_base_only(version: str) -> None:
    assert errors(extension("inv-1", "value.exists()"), version) == []
    assert errors(extension("ext-1", "value.exists()"), version) == [
        (at(0), "constraint-key")]
