"""Each validation layer, on small hand-written R5 resources: valid ones pass, each break is
reported by the right layer with a message that says what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fixtures import (
    DIV,
    adverse_event,
    big_transaction,
    clinical_use_definition,
    dumps,
    group,
    medication,
    medication_knowledge,
    resources,
    transaction,
)

from ivig_fhir.problems import Problem
from ivig_fhir.validate import (
    detect_version,
    validate_bytes,
    validate_paths,
    validate_resource,
)


def check(data: dict[str, Any], **kw: Any) -> list[Problem]:
    return validate_resource(data, file="t.json", **kw)


def only(problems: list[Problem], layer: str) -> list[Problem]:
    return [p for p in problems if p.layer == layer]


def assert_one(problems: list[Problem], layer: str, field: str, *words: str) -> Problem:
    hits = [p for p in problems if p.layer == layer and p.field == field
            and all(w in p.message for w in words)]
    assert hits, f"no {layer} problem at {field} with {words}: " + "\n".join(
        p.render() + f" ({p.layer})" for p in problems)
    return hits[0]


# --- valid -----------------------------------------------------------------------------------

@pytest.mark.parametrize("res", resources(), ids=lambda r: r["resourceType"])
def test_valid_resources_have_no_problems(res: dict[str, Any]) -> None:
    assert check(res) == []


def test_valid_transaction_has_no_problems() -> None:
    assert check(transaction()) == []


def test_valid_bytes_and_paths(tmp_path: Path) -> None:
    f = tmp_path / "bundle.json"
    f.write_bytes(dumps(transaction()))
    assert validate_bytes(f.read_bytes(), file=str(f)) == []
    assert validate_paths([tmp_path]) == []


# --- json ------------------------------------------------------------------------------------

def test_null_value_is_rejected() -> None:
    mk = medication_knowledge()
    mk["status"] = None
    p = assert_one(check(mk), "json", "MedicationKnowledge.status", "null")
    assert p.severity == "error"


def test_null_placeholder_in_primitive_array_is_allowed() -> None:
    mk = medication_knowledge()
    mk["intendedJurisdiction"] = [{"text": "US", "coding": [{"code": "US"}]}]
    mk["code"] = {"text": "IVIG"}
    cud = clinical_use_definition()
    cud["library"] = ["http://example.org/Library/a", None]
    cud["_library"] = [None, {"extension": [{"url": "http://example.org/x",
                                             "valueString": "y"}]}]
    assert only(check(cud), "json") == []
    cud["_library"] = [None, None]
    assert_one(check(cud), "json", "ClinicalUseDefinition.library[1]", "null")


def test_empty_string_is_rejected() -> None:
    mk = medication_knowledge()
    mk["code"] = {"text": ""}
    assert_one(check(mk), "json", "MedicationKnowledge.code.text", "empty string")


def test_empty_array_and_object_are_rejected() -> None:
    mk = medication_knowledge()
    mk["intendedJurisdiction"] = []
    mk["code"] = {}
    found = check(mk)
    assert_one(found, "json", "MedicationKnowledge.intendedJurisdiction", "empty array")
    assert_one(found, "json", "MedicationKnowledge.code", "empty object")


def test_missing_resource_type() -> None:
    mk = medication_knowledge()
    del mk["resourceType"]
    found = check(mk)
    assert [p.severity for p in found] == ["fatal"]
    assert "missing resourceType" in found[0].message and found[0].layer == "json"


def test_missing_resource_type_inside_bundle() -> None:
    b = transaction()
    del b["entry"][1]["resource"]["resourceType"]
    assert_one(check(b), "structure", "Bundle.entry[1].resource", "missing resourceType")


def test_duplicate_key_malformed_json_and_nan() -> None:
    raw = b'{"resourceType": "Medication", "id": "a", "id": "b"}'
    assert_one(validate_bytes(raw, file="d.json"), "json", "Medication.id", "duplicate key")
    bad = validate_bytes(b'{"resourceType": "Medication",\n "id": }', file="m.json")
    assert len(bad) == 1 and bad[0].layer == "json" and bad[0].line == 2
    assert "malformed JSON" in bad[0].message
    nan = validate_bytes(b'{"resourceType": "Group", "quantity": NaN}', file="n.json")
    assert nan and "NaN" in nan[0].message
    enc = validate_bytes(b'{"resourceType": "Medication", "id": "\xff"}', file="e.json")
    assert enc[0].code == "json-encoding" and "not UTF-8" in enc[0].message


def test_ndjson_reports_line_numbers() -> None:
    good = json.dumps(medication())
    bad = medication_knowledge()
    bad["status"] = "bogus"
    raw = (good + "\n" + json.dumps(bad) + "\n").encode()
    found = validate_bytes(raw, file="x.ndjson")
    # A Medication alone does not tell R4B from R5: said once, at the line it was guessed for.
    assert [(p.line, p.layer) for p in found] == [(1, "version"), (2, "binding")]


def test_bundle_file_findings_point_at_the_field() -> None:
    b = transaction()
    b["entry"][3]["resource"]["text"]["div"] = "<div>{not: [json]}</div>"  # brackets in strings
    b["entry"][4]["resource"]["actuality"] = "possible"
    raw = dumps(b)
    found = validate_bytes(raw, file="b.json")
    lines = raw.decode().splitlines()
    actuality = next(p for p in found if p.layer == "binding")
    assert actuality.line is not None and actuality.column is not None
    assert lines[actuality.line - 1][actuality.column - 1:].startswith('"actuality": "possible"')
    narrative = next(p for p in found if p.layer == "narrative")
    assert narrative.line is not None and narrative.column is not None
    assert lines[narrative.line - 1][narrative.column - 1:].startswith('"div": "<div>{not')


@pytest.mark.parametrize("indent", [2, None], ids=["pretty", "minified"])
def test_standalone_and_ndjson_findings_point_at_the_field(indent: int | None) -> None:
    """A resource file or an NDJSON line, pretty or on one line: line and column of the field
    (its name)."""
    mk = medication_knowledge()
    mk["status"] = "retired-ish"
    mk["intendedJurisdiction"].append({"coding": [{"system": "", "code": "US"}]})
    text = json.dumps(mk, indent=indent)
    for name, raw, n in (("mk.json", text, 0), ("mk.ndjson", "{}\n" + json.dumps(mk), 1)):
        found = validate_bytes(raw.encode(), file=name, fhir_version="R5")
        lines = raw.splitlines()
        status = next(p for p in found if p.field == "MedicationKnowledge.status" and p.is_error)
        system = next(p for p in found if p.field.endswith("[1].coding[0].system") and p.is_error)
        for p, where in ((status, '"status": "retired-ish"'), (system, '"system": ""')):
            assert p.line is not None and p.column is not None, p
            assert lines[p.line - 1][p.column - 1:].startswith(where), (name, p)
        assert status.line == (n + 1 if indent is None else status.line)


# --- structure -------------------------------------------------------------------------------

def test_unknown_element() -> None:
    mk = medication_knowledge()
    mk["stauts"] = "active"
    p = assert_one(check(mk), "structure", "MedicationKnowledge.stauts", "unknown element")
    assert p.code == "unknown-element"


def test_wrong_json_type() -> None:
    mk = medication_knowledge()
    mk["code"] = [{"text": "IVIG"}]  # 0..1 CodeableConcept given as an array
    found = only(check(mk), "structure")
    assert any(p.field == "MedicationKnowledge.code" and "CodeableConcept" in p.message
               for p in found), found
    mk = medication_knowledge()
    mk["status"] = 123
    assert_one(check(mk), "structure", "MedicationKnowledge.status", "wrong JSON type")


def test_invalid_id() -> None:
    med = medication()
    med["id"] = "ivig 10%"
    assert_one(check(med), "structure", "Medication.id", "invalid id")
    med["id"] = "x" * 65
    assert_one(check(med), "structure", "Medication.id", "65 characters")


def test_invalid_datetime() -> None:
    ae = adverse_event()
    ae["occurrenceDateTime"] = "2024-13-01"
    assert_one(check(ae), "structure", "AdverseEvent.occurrenceDateTime", "2024-13-01")


def test_required_element_missing_is_reported_once() -> None:
    ae = adverse_event()
    del ae["subject"]
    found = [p for p in check(ae) if p.field == "AdverseEvent.subject"]
    assert len(found) == 1 and "required" in found[0].message


def test_structure_inside_bundle_uses_fhirpath_location() -> None:
    b = transaction()
    b["entry"][3]["resource"]["bogus"] = 1
    assert_one(check(b), "structure", "Bundle.entry[3].resource.bogus", "unknown element")


# --- invariant -------------------------------------------------------------------------------

def test_cud1_two_issue_kinds() -> None:
    cud = clinical_use_definition()
    cud["contraindication"] = {"diseaseSymptomProcedure": {"concept": {"text": "IgA def."}}}
    p = assert_one(check(cud), "invariant", "ClinicalUseDefinition", "cud-1")
    assert p.code == "cud-1" and p.severity == "error"


def test_cud1_inside_bundle() -> None:
    b = transaction()
    b["entry"][3]["resource"]["warning"] = {"description": "Renal failure"}
    assert_one(check(b), "invariant", "Bundle.entry[3].resource", "cud-1")


def test_rng2_low_above_high() -> None:
    g = group()
    g["characteristic"][0]["valueRange"]["low"]["value"] = 70
    p = assert_one(check(g), "invariant", "Group.characteristic[0].valueRange", "rng-2")
    assert "low SHALL have a lower value than high" in p.message


def test_rng2_respects_precision_and_units() -> None:
    g = group()
    rng = g["characteristic"][0]["valueRange"]
    rng["low"] = {"value": 1.5, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"}
    rng["high"] = {"value": 1.45, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"}
    # lowBoundary(1.5) = 1.45 <= highBoundary(1.45) = 1.455: allowed by the spec's rule.
    assert only(check(g), "invariant") == []
    rng["high"] = {"value": 1, "unit": "mo", "system": "http://unitsofmeasure.org", "code": "mo"}
    assert only(check(g), "invariant") == []  # not comparable: rng-2 does not apply


def test_ele1_element_with_only_id_is_a_warning() -> None:
    # ele-1 as written fails it; the HL7 engine accepts it (R5 Medication-med0301).
    mk = medication_knowledge()
    mk["code"] = {"id": "c1"}
    p = assert_one(check(mk), "invariant", "MedicationKnowledge.code", "ele-1")
    assert p.severity == "warning"
    mk["code"] = {}
    assert assert_one(check(mk), "invariant", "MedicationKnowledge.code",
                      "ele-1").severity == "error"


def test_bdl7_duplicate_fullurl_also_by_invariant() -> None:
    b = transaction()
    b["entry"][1]["fullUrl"] = b["entry"][0]["fullUrl"]
    assert_one(check(b), "invariant", "Bundle", "bdl-7")


def test_dom3_contained_not_referenced() -> None:
    mk = medication_knowledge()
    mk["contained"] = [{"resourceType": "Medication", "id": "m1", "code": {"text": "x"}}]
    assert_one(check(mk), "invariant", "MedicationKnowledge", "dom-3")
    mk["associatedMedication"] = [{"reference": "#m1"}]
    assert only(check(mk), "invariant") == []


def test_dom6_missing_narrative_is_a_warning() -> None:
    mk = medication_knowledge()
    del mk["text"]
    p = assert_one(check(mk), "invariant", "MedicationKnowledge", "dom-6")
    assert p.severity == "warning"


def test_txt2_empty_div() -> None:
    med = medication()
    empty = '<div xmlns="http://www.w3.org/1999/xhtml"> </div>'
    med["text"] = {"status": "generated", "div": empty}
    found = check(med)
    assert_one(found, "invariant", "Medication.text.div", "txt-2")
    assert_one(found, "narrative", "Medication.text.div", "no text content")


# --- binding ---------------------------------------------------------------------------------

def test_bad_status_code() -> None:
    mk = medication_knowledge()
    mk["status"] = "retired"
    p = assert_one(check(mk), "binding", "MedicationKnowledge.status", '"retired"',
                   "medicationknowledge-status")
    assert p.code == "code-invalid" and "active" in p.message


def test_required_coding_binding() -> None:
    b = transaction()
    b["entry"][0]["resource"]["meta"] = {"tag": [{"code": "x"}]}  # example binding: not checked
    assert check(b) == []
    mk = medication_knowledge()
    mk["status"] = "active"
    assert only(check(mk), "binding") == []


def test_cud_status_binding_is_preferred_not_required() -> None:
    # R5 binds ClinicalUseDefinition.status to publication-status as *preferred*: no finding.
    cud = clinical_use_definition()
    cud["status"] = {"coding": [{"system": "http://hl7.org/fhir/publication-status",
                                 "code": "final"}]}
    assert only(check(cud), "binding") == []


def test_bad_actuality_and_bundle_type() -> None:
    ae = adverse_event()
    ae["actuality"] = "possible"
    assert_one(check(ae), "binding", "AdverseEvent.actuality", '"possible"')
    b = transaction()
    b["type"] = "transactional"
    assert_one(check(b), "binding", "Bundle.type", '"transactional"')


# --- bundle ----------------------------------------------------------------------------------

def test_duplicate_full_url() -> None:
    b = transaction()
    b["entry"][2]["fullUrl"] = b["entry"][0]["fullUrl"]
    p = assert_one(check(b), "bundle", "Bundle.entry[2].fullUrl", "duplicate fullUrl",
                   "entry[0]")
    assert p.code == "duplicate-fullurl"


def test_missing_request() -> None:
    b = transaction()
    del b["entry"][4]["request"]
    assert_one(check(b), "bundle", "Bundle.entry[4].request", "needs a request")


def test_unresolved_reference() -> None:
    b = transaction()
    b["entry"][3]["resource"]["population"] = [{"reference": "Group/children"}]
    p = assert_one(check(b), "bundle", "Bundle.entry[3].resource.population[0].reference",
                   "Group/children", "does not resolve")
    assert p.code == "unresolved-reference"


def test_urn_uuid_references_resolve() -> None:
    b = big_transaction(20)
    urls = {e["resource"]["id"]: e["fullUrl"] for e in b["entry"]}
    for e in b["entry"]:
        if e["resource"]["resourceType"] == "AdverseEvent":
            e["resource"]["subject"] = {"reference": urls["adults-pid"]}
    assert check(b) == []
    b["entry"][-1]["resource"]["clinicalUseIssue"][0] = {
        "reference": "urn:uuid:00000000-0000-0000-0000-000000000000"}
    assert_one(check(b), "bundle", f"Bundle.entry[{len(b['entry']) - 1}].resource"
               ".clinicalUseIssue[0].reference", "no entry has this fullUrl")


def test_put_url_must_match_resource() -> None:
    b = transaction()
    b["entry"][0]["request"]["url"] = "Medication/other"
    assert_one(check(b), "bundle", "Bundle.entry[0].request.url", "does not match")
    b["entry"][0]["request"]["url"] = "Group/ivig"
    assert_one(check(b), "bundle", "Bundle.entry[0].request.url", "should be Medication/[id]")


def test_contained_reference_must_resolve() -> None:
    mk = medication_knowledge()
    mk["associatedMedication"] = [{"reference": "#nowhere"}]
    assert_one(check(mk), "bundle", "MedicationKnowledge.associatedMedication[0].reference",
               "contained")


# --- narrative -------------------------------------------------------------------------------

def _with_div(div: str) -> dict[str, Any]:
    med = medication()
    med["text"] = {"status": "generated", "div": div}
    return med


def test_script_in_narrative() -> None:
    found = check(_with_div('<div xmlns="http://www.w3.org/1999/xhtml"><p>x</p>'
                            "<script>alert(1)</script></div>"))
    p = assert_one(found, "narrative", "Medication.text.div", "<script>", "never allowed")
    assert p.code == "xhtml-element"
    assert_one(found, "invariant", "Medication.text.div", "txt-1")


def test_onclick_attribute() -> None:
    found = check(_with_div('<div xmlns="http://www.w3.org/1999/xhtml">'
                            '<p onclick="evil()">x</p></div>'))
    assert_one(found, "narrative", "Medication.text.div", "onclick")


def test_javascript_url_and_iframe_and_namespace() -> None:
    found = check(_with_div('<div xmlns="http://www.w3.org/1999/xhtml">'
                            '<a href=" JavaScript:evil()">x</a><iframe src="x"/></div>'))
    assert_one(found, "narrative", "Medication.text.div", "script URL")
    assert_one(found, "narrative", "Medication.text.div", "<iframe>")
    assert_one(check(_with_div("<div><p>x</p></div>")), "narrative", "Medication.text.div",
               "XHTML namespace")
    assert_one(check(_with_div("<div xmlns='http://www.w3.org/1999/xhtml'><p>x</div>")),
               "narrative", "Medication.text.div", "not well-formed")
    assert only(check(_with_div(DIV)), "narrative") == []


# --- versions, extra layers, speed -----------------------------------------------------------

def test_r4b_detection_and_validation() -> None:
    ae = {
        "resourceType": "AdverseEvent",
        "id": "x",
        "actuality": "potential",
        "subject": {"reference": "Patient/p"},
        "event": {"text": "Thrombosis"},
        "seriousness": {"text": "serious"},
    }
    assert detect_version(ae) == "R4B"
    assert detect_version(adverse_event()) == "R5"
    found = [p for p in validate_bytes(dumps(ae), file="r4b.json")
             if p.layer in ("structure", "version")]
    # R4's AdverseEvent has the same elements: the note says so.
    assert [(p.code, p.severity) for p in found] == [("version-undetermined", "warning")]
    assert "R4B and R4" in found[0].message
    assert_one(validate_resource(ae, file="r4b.json", fhir_version="R5"), "structure",
               "AdverseEvent.event", "unknown element")


def test_r4b_invariants_in_a_bundle() -> None:
    cud = {"resourceType": "ClinicalUseDefinition", "id": "x", "type": "indication",
           "indication": {"diseaseSymptomProcedure": {"concept": {"text": "PID"}}},
           "warning": {"description": "renal failure"}, "text": {"status": "generated",
                                                                  "div": DIV}}
    grp = {"resourceType": "Group", "id": "g", "type": "person", "actual": False,
           "text": {"status": "generated", "div": DIV},
           "characteristic": [{"code": {"text": "age"}, "exclude": False,
                               "valueRange": {"low": {"value": 9, "unit": "a"},
                                              "high": {"value": 3, "unit": "a"}}}]}
    found = validate_resource(transaction([cud, grp]), file="r4b.json", fhir_version="R4B")
    assert_one(found, "invariant", "Bundle.entry[0].resource", "cud-1")
    assert_one(found, "invariant", "Bundle.entry[1].resource.characteristic[0].valueRange",
               "rng-2")
    assert not [p for p in found if "could not be evaluated" in p.message]


def test_extra_layers_are_called_per_document() -> None:
    seen: list[str] = []

    def layer(data: dict[str, Any], file: str) -> list[Problem]:
        seen.append(data["resourceType"])
        return [Problem(file, None, None, "Bundle", "from terminology", "warning",
                        "terminology", "t-1")]

    found = validate_resource(transaction(), file="t.json", extra_layers=[layer])
    assert seen == ["Bundle"]
    assert [p.layer for p in found] == ["terminology"]


def test_150_resource_bundle_has_no_false_findings() -> None:
    # No timing here: speed is measured by scripts/bench-validate, never asserted.
    b = big_transaction(150)
    assert len(b["entry"]) >= 145
    assert validate_resource(b, file="big.json") == []
