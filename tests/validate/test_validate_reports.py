"""Reports: OperationOutcome (parsed by fhir.resources), JUnit XML, SARIF 2.1.0 (schema)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
from fhir.resources.operationoutcome import OperationOutcome
from fixtures import medication_knowledge, transaction

from ivig_fhir.problems import Problem
from ivig_fhir.validate import validate_bytes, validate_resource
from ivig_fhir.validate.report import rows, to_junit, to_operation_outcome, to_sarif

SCHEMA = Path(__file__).parent / "data" / "sarif-2.1.0-rtm.5.json"


def sample() -> list[Problem]:
    b = transaction()
    b["entry"][1]["resource"]["status"] = "bogus"
    b["entry"][2]["fullUrl"] = b["entry"][0]["fullUrl"]
    del b["entry"][0]["resource"]["text"]
    found = validate_resource(b, file="bundle.json")
    found += validate_bytes(b'{"resourceType": "Medication",\n "id": }', file="bad.json")
    return found


def test_operation_outcome_parses_and_maps_layers() -> None:
    found = sample()
    oo = to_operation_outcome(found)
    parsed = OperationOutcome.model_validate(oo)
    assert len(parsed.issue) == len(found)
    by_diag = {i.diagnostics: i for i in parsed.issue}
    binding = next(i for d, i in by_diag.items() if "[binding/" in d)
    assert binding.code == "code-invalid" and binding.severity == "error"
    assert binding.expression == ["Bundle.entry[1].resource.status"]
    dup = next(i for d, i in by_diag.items() if "duplicate fullUrl" in d)
    assert dup.code == "duplicate"
    inv = next(i for d, i in by_diag.items() if "[invariant/" in d)
    assert inv.code == "invariant"
    syntax = next(i for d, i in by_diag.items() if d.startswith("bad.json:2"))
    assert syntax.severity == "fatal" and syntax.code == "structure"


def test_operation_outcome_for_no_problems() -> None:
    parsed = OperationOutcome.model_validate(to_operation_outcome([]))
    assert parsed.issue[0].severity == "information"


def test_junit_one_case_per_file_one_failure_per_error() -> None:
    found = sample()
    text = to_junit(found, ["bundle.json", "bad.json", "clean.json"])
    suite = ET.fromstring(text.split("?>", 1)[1])  # noqa: S314 - our own output
    assert suite.tag == "testsuite"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {"bundle.json", "bad.json", "clean.json"}
    errors = [p for p in found if p.file == "bundle.json" and p.is_error]
    assert len(cases["bundle.json"].findall("failure")) == len(errors) >= 2
    assert cases["clean.json"].findall("failure") == []
    assert "dom-6" in (cases["bundle.json"].findtext("system-out") or "")  # a warning
    assert suite.get("failures") == "2" and suite.get("tests") == "3"


def test_sarif_validates_against_the_schema() -> None:
    found = sample()
    log = to_sarif(found)
    schema = json.loads(SCHEMA.read_text("utf-8"))
    jsonschema.Draft4Validator(schema).validate(log)
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "ivig-fhir"
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert "binding/code-invalid" in rule_ids and "json/json-syntax" in rule_ids
    bad = next(r for r in run["results"] if r["ruleId"] == "json/json-syntax")
    assert bad["level"] == "error"
    assert bad["locations"][0]["physicalLocation"]["region"]["startLine"] == 2
    assert bad["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "bad.json"
    assert any(r["level"] == "warning" for r in run["results"])


def test_sarif_schema_catches_a_broken_log() -> None:
    schema = json.loads(SCHEMA.read_text("utf-8"))
    log = to_sarif(sample())
    log["runs"][0]["results"][0]["level"] = "fatal"  # not a SARIF level
    assert list(jsonschema.Draft4Validator(schema).iter_errors(log))


def test_rows() -> None:
    mk = medication_knowledge()
    mk["status"] = "bogus"
    (row,) = rows(validate_resource(mk, file="mk.json"))
    assert row[:4] == ("mk.json", "error", "binding", "code-invalid")
    assert row[4] == "MedicationKnowledge.status"


def test_public_api_is_small() -> None:
    import ivig_fhir.validate as v

    assert sorted(v.__all__) == ["Layer", "Validation", "detect_version", "locate",
                                 "validate_bytes", "validate_files", "validate_paths",
                                 "validate_resource"]
    assert all(hasattr(v, name) for name in v.__all__)
