"""The definitions-driven structure layer on R5, R4B and R4, core and cross-version extensions,
and the rules no StructureDefinition states (base64, canonical, Attachment, contained ids,
conditional references, meta.profile)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from ivig_fhir.problems import Problem
from ivig_fhir.validate import detect_version, validate_bytes, validate_resource

XVER = "http://hl7.org/fhir/5.0/StructureDefinition/extension-"
DIV = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}


def errors(data: dict[str, Any], version: str = "R5") -> list[Problem]:
    return [p for p in validate_resource(data, file="t.json", fhir_version=version)
            if p.is_error]


def codes(found: list[Problem]) -> list[str]:
    return sorted(p.code for p in found)


def basic(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Basic", "id": "b1", "text": DIV, "code": {"text": "use"}, **extra}


@pytest.mark.parametrize("version", ["R5", "R4B", "R4"])
def test_a_valid_resource_passes_in_every_version(version: str) -> None:
    assert errors(basic(), version) == []


@pytest.mark.parametrize("version", ["R5", "R4B", "R4"])
def test_unknown_elements_and_wrong_types_in_every_version(version: str) -> None:
    found = errors(basic(bogus=1, created="2024-02-30", subject="Patient/p"), version)
    assert codes(found) == ["invalid-value", "unknown-element", "wrong-type"], found


def test_r4_has_its_own_elements() -> None:
    mk = {"resourceType": "MedicationKnowledge", "id": "m", "text": DIV,
          "contraindication": [{"reference": "DetectedIssue/d"}]}
    assert errors(mk, "R4") == []
    assert codes(errors(mk, "R5")) == ["unknown-element"]
    assert codes(errors({"resourceType": "ClinicalUseDefinition", "id": "c", "type":
                         "indication"}, "R4")) == ["unknown-resource-type"]


def test_models_false_errors_are_gone() -> None:
    # _valueCode on an extension, _id on a primitive twin, the integer64 minimum (R5): valid.
    obs = {"resourceType": "Observation", "id": "o", "text": DIV, "status": "final",
           "code": {"text": "x"}, "_status": {"id": "s1"},
           "extension": [{"url": "http://example.org/i", "valueInteger64": "-9223372036854775808"},
                         {"url": "http://example.org/e", "_valueCode": {
               "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                              "valueCode": "unknown"}]}}]}
    assert errors(obs) == []


def test_integer_ranges_and_primitive_patterns() -> None:
    found = errors(basic(extension=[
        {"url": "http://example.org/a", "valueInteger": 2_147_483_648},
        {"url": "http://example.org/b", "valuePositiveInt": 0},
        {"url": "http://example.org/c", "valueOid": "1.2.3"},
        {"url": "http://example.org/d", "valueInteger": 1.5},
    ]))
    assert codes(found) == ["invalid-format", "invalid-value", "invalid-value", "invalid-value"]


def test_primitive_twin_arrays_must_line_up() -> None:
    p = {"resourceType": "Patient", "id": "p", "text": DIV,
         "name": [{"given": ["a", "b"], "_given": [{"id": "g1"}]}]}
    assert codes(errors(p)) == ["twin-mismatch"]


def test_bom_is_a_warning_not_an_error() -> None:
    raw = b"\xef\xbb\xbf" + json.dumps(basic()).encode()
    found = validate_bytes(raw, file="bom.json", fhir_version="R5")
    assert [(p.code, p.severity) for p in found] == [("json-bom", "warning")]


# --- extensions --------------------------------------------------------------------------------

def test_cross_version_extensions_are_checked_against_the_r5_element_in_r4() -> None:
    ok = basic(extension=[
        {"url": XVER + "ClinicalUseDefinition.type", "valueCode": "indication"},
        {"url": XVER + "ClinicalUseDefinition.indication.diseaseSymptomProcedure",
         "valueCodeableConcept": {"text": "ITP"}},
        {"url": XVER + "ClinicalUseDefinition.indication",
         "extension": [{"url": "diseaseSymptomProcedure", "valueCodeableConcept": {"text": "x"}}]},
    ])
    assert errors(ok, "R4") == []
    bad = basic(extension=[{"url": XVER + "ClinicalUseDefinition.type", "valueString": "x"}])
    found = errors(bad, "R4")
    assert codes(found) == ["extension"] and "code" in found[0].message


def test_cross_version_extension_of_an_unknown_element_is_a_warning() -> None:
    res = basic(extension=[{"url": XVER + "ClinicalUseDefinition.nonsense", "valueCode": "x"}])
    found = validate_resource(res, file="t.json", fhir_version="R4")
    assert [(p.code, p.severity) for p in found if p.layer == "structure"] == [
        ("extension-unchecked", "warning")]


def test_core_extension_value_type() -> None:
    url = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
    p = {"resourceType": "Patient", "id": "p", "text": DIV,
         "extension": [{"url": url, "valueString": "Paris"}]}
    assert codes(errors(p)) == ["extension"]
    # The definition's own 0..1 binds only through a profile that uses it (the engine agrees).
    p["extension"] = [{"url": url, "valueAddress": {"city": "Paris"}}] * 2
    assert errors(p) == []


def test_r5_consent_provision_has_a_resource_type_element() -> None:
    c = {"resourceType": "Consent", "id": "c", "text": DIV, "status": "active",
         "provision": [{"resourceType": [{"system": "http://hl7.org/fhir/resource-types",
                                          "code": "MedicationRequest"}]}]}
    assert errors(c) == []


def test_core_extension_in_the_wrong_place_is_an_error() -> None:
    url = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
    res = basic(extension=[{"url": url, "valueAddress": {"city": "Paris"}}])
    found = [p for p in validate_resource(res, file="t.json", fhir_version="R5")
             if p.layer == "structure"]
    assert [(p.code, p.severity) for p in found] == [("extension-context", "error")]


# --- rules no definition states ----------------------------------------------------------------

def test_base64_canonical_and_attachment() -> None:
    data = base64.b64encode(b"hello").decode()
    sha1 = base64.b64encode(hashlib.sha1(b"hello").digest()).decode()  # noqa: S324
    ref = {"resourceType": "DocumentReference", "id": "d", "text": DIV, "status": "current",
           "content": [{"attachment": {"contentType": "text/plain", "data": data, "size": "5",
                                       "hash": sha1}}]}
    assert errors(ref) == []
    ref["content"][0]["attachment"].update(size="6", hash=base64.b64encode(b"x" * 20).decode())
    assert codes(errors(ref)) == ["attachment-hash", "attachment-size"]
    ref["content"][0]["attachment"] = {"contentType": "text/plain", "data": "abc"}
    assert codes(errors(ref)) == ["invalid-base64"]
    q = {"resourceType": "Questionnaire", "id": "q", "text": DIV, "status": "draft",
         "derivedFrom": ["http://example.org/Questionnaire/x|"]}
    assert codes(errors(q)) == ["invalid-canonical"]


def test_duplicate_contained_ids() -> None:
    org = {"resourceType": "Organization", "id": "o", "name": "x"}
    p = {"resourceType": "Patient", "id": "p", "text": DIV, "contained": [org, dict(org)],
         "managingOrganization": {"reference": "#o"}}
    assert "duplicate-contained-id" in codes(errors(p))


def test_conditional_references_only_in_transactions() -> None:
    obs = {"resourceType": "Observation", "id": "o", "text": DIV, "status": "final",
           "code": {"text": "x"}, "subject": {"reference": "Patient?identifier=http://x|1"}}
    assert codes(errors(obs)) == ["conditional-reference"]
    tx = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:2d3b0a3e-63fa-4a3b-9a4f-3f3a1f4c2b11", "resource": obs,
         "request": {"method": "POST", "url": "Observation"}}]}
    assert errors(tx) == []


def test_meta_profile_not_available_offline_is_said() -> None:
    res = basic(meta={"profile": ["http://example.org/StructureDefinition/my-basic",
                                  "http://hl7.org/fhir/StructureDefinition/Basic"]})
    found = [p for p in validate_resource(res, file="t.json", fhir_version="R5")
             if p.code == "profile-not-checked"]
    assert [(p.field, p.severity) for p in found] == [("Basic.meta.profile[0]", "error")]


# --- version detection -------------------------------------------------------------------------

def test_detection_picks_r4_for_r4_only_content_and_says_when_it_cannot_tell() -> None:
    # R4B kept R4's elements of most resources; some resource types are R4's only.
    res = {"resourceType": "RiskEvidenceSynthesis", "id": "r", "status": "draft",
           "population": {"reference": "EvidenceVariable/p"},
           "outcome": {"reference": "EvidenceVariable/o"}}
    assert detect_version(res) == "R4"
    xver = basic(extension=[{"url": XVER + "ClinicalUseDefinition.type", "valueCode": "x"}])
    assert detect_version(xver) in ("R4B", "R4")
    found = validate_bytes(json.dumps(basic()).encode(), file="b.json")
    notes = [p for p in found if p.code == "version-undetermined"]
    assert len(notes) == 1 and "R5 and R4B and R4" in notes[0].message


def test_core_profile_cardinality_is_honoured() -> None:
    cs = {"resourceType": "CodeSystem", "id": "c", "text": DIV, "status": "draft",
          "content": "complete", "concept": [{"code": "a"}],
          "meta": {"profile": ["http://hl7.org/fhir/StructureDefinition/shareablecodesystem"]}}
    found = [p for p in errors(cs, "R4B") if p.code == "profile-cardinality"]
    assert sorted(p.field for p in found) == [
        "CodeSystem.description", "CodeSystem.experimental", "CodeSystem.name",
        "CodeSystem.publisher", "CodeSystem.url", "CodeSystem.version"]
    notes = [p for p in validate_resource(cs, file="t.json", fhir_version="R4B")
             if p.code == "profile-partly-checked"]
    assert [p.severity for p in notes] == ["information"]


def test_concept_map_codes_exist_in_their_code_systems() -> None:
    cm = {"resourceType": "ConceptMap", "id": "cm", "text": DIV, "status": "draft",
          "group": [{"source": "http://hl7.org/fhir/publication-status",
                     "target": "http://hl7.org/fhir/publication-status",
                     "element": [{"code": "active", "target": [
                         {"code": "retired", "relationship": "not-related-to"}]},
                                 {"code": "active,draft", "target": [
                         {"code": "draft", "relationship": "related-to"}]}]}]}
    found = [p for p in errors(cm) if p.code == "code-invalid"]
    assert [p.field for p in found] == ["ConceptMap.group[0].element[1].code"]


def test_extension_context_invariants_read_value_as_fhirpath_does() -> None:
    """questionnaire-maxOccurs: `type!='display' and (repeats=true or
    %extension.valueInteger=1)`. FHIRPath names an extension's value `value`, so
    %extension.valueInteger is empty and only repeats=true satisfies it (as in the engine)."""
    url = "http://hl7.org/fhir/StructureDefinition/questionnaire-maxOccurs"
    item = {"linkId": "1", "text": "x", "type": "group", "repeats": True,
            "item": [{"linkId": "1.1", "text": "y", "type": "string"}],
            "extension": [{"url": url, "valueInteger": 3}]}
    q = {"resourceType": "Questionnaire", "id": "q", "text": DIV, "status": "draft",
         "item": [item]}
    assert errors(q) == []
    item["repeats"] = False
    assert codes(errors(q)) == ["extension-context"]


def test_meta_profile_in_hl7_namespace_that_does_not_exist_is_an_error() -> None:
    res = basic(meta={"profile": ["http://hl7.org/fhir/StructureDefinition/no-such-profile"]})
    assert codes(errors(res)) == ["profile-unknown"]


def test_narrative_links_that_resolve_nowhere_are_an_error() -> None:
    # As in the HL7 engine (hl7.fhir.r5.examples MedicinalProductDefinition-drug-and-device-
    # complete links #liquidItem, which exists nowhere): an anchor, or any element's id, is a
    # target.
    div = ('<div xmlns="http://www.w3.org/1999/xhtml"><a href="#top">up</a> <a href="#nowhere">'
           'x</a> <a href="#c1">code</a> <a name="top">t</a></div>')
    res = basic(text={"status": "generated", "div": div},
                code={"id": "c1", "text": "a code"})
    found = [p for p in validate_resource(res, file="t.json", fhir_version="R5")
             if p.code == "narrative-link"]
    assert [(p.severity, "#nowhere" in p.message) for p in found] == [("error", True)]


def _hl7_code_system(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "CodeSystem", "id": "x", "url": "http://hl7.org/fhir/x",
            "name": "X", "status": "draft", "content": "complete",
            "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/structuredefinition-wg",
                           "valueCode": "pc"}], **extra}


@pytest.mark.parametrize("version", ["R5", "R4B"])
def test_hl7_work_group_names_the_publisher(version: str) -> None:
    assert errors(_hl7_code_system(publisher="HL7 International / Patient Care"), version) == []
    # As the engine: a publisher in the "X / Y" form must be the work group's; another form
    # is only a warning.
    assert codes(errors(_hl7_code_system(publisher="Health Level Seven, Inc / openEHR"),
                        version)) == ["work-group-publisher"]
    assert errors(_hl7_code_system(publisher="HL7 (FHIR Project)"), version) == []
    bad_wg = _hl7_code_system(publisher="HL7 International / Patient Care")
    bad_wg["extension"][0]["valueCode"] = "nosuchgroup"
    # (its binding to the work group code system may say so too)
    assert "work-group-unknown" in codes(errors(bad_wg, version))


@pytest.mark.parametrize("version", ["R5", "R4B"])
def test_canonical_target_profile_must_be_a_canonical_resource(version: str) -> None:
    core = "http://hl7.org/fhir/StructureDefinition/"

    def profile(target: str) -> dict[str, Any]:
        return {"resourceType": "StructureDefinition", "url": "http://example.org/sd",
                "name": "X", "status": "draft", "kind": "resource", "abstract": False,
                "type": "PlanDefinition", "baseDefinition": core + "PlanDefinition",
                "derivation": "constraint", "differential": {"element": [
                    {"id": "PlanDefinition.subject[x]", "path": "PlanDefinition.subject[x]",
                     "type": [{"code": "canonical", "targetProfile": [core + target]}]}]}}

    assert codes(errors(profile("EvidenceVariable"), version)) == []
    assert codes(errors(profile("MedicinalProductDefinition"), version)) == ["canonical-target"]


@pytest.mark.parametrize("version", ["R5", "R4B"])
def test_a_no_break_space_is_allowed_in_a_string(version: str) -> None:
    # The definitions' string regex is Java's, where \S (not whitespace) is ASCII-only.
    assert errors(basic(code={"text": "ends with a no-break space\u00a0"}), version) == []


@pytest.mark.parametrize("version", ["R5", "R4B"])
def test_base64_with_spaces_is_invalid_but_line_breaks_are_not(version: str) -> None:
    # R4B Media-example: the HL7 engine rejects a space ("Illegal base64 character 20").
    data = base64.b64encode(b"hello world, hello world").decode()
    ref = {"resourceType": "DocumentReference", "id": "d", "text": DIV, "status": "current",
           "content": [{"attachment": {"contentType": "text/plain",
                                       "data": data[:16] + "\n" + data[16:]}}]}
    assert errors(ref, version) == []
    ref["content"][0]["attachment"]["data"] = data[:16] + "    " + data[16:]
    assert "invalid-base64" in codes(errors(ref, version))
    # R4B Binary-example: a base64Binary outside an Attachment may hold spaces.
    binary = {"resourceType": "Binary", "id": "b", "contentType": "text/plain",
              "data": data[:16] + "    " + data[16:]}
    assert errors(binary, version) == []


@pytest.mark.parametrize("version", ["R5", "R4B"])
def test_what_the_engine_accepts_in_the_official_examples(version: str) -> None:
    # R5 ResearchSubject-example-crossover-placebo-to-drug: a bare token is a relative URL.
    token = basic(subject={"reference": "example-ctgov-study-record"})
    assert errors(token, version) == []
    assert [p.severity for p in validate_resource(token, file="t.json", fhir_version=version)
            if p.code == "invalid-reference"] == ["warning"]
    assert codes(errors(basic(subject={"reference": "the IVIG product"}), version)) == [
        "invalid-reference"]
    # TestScript examples: "xml" / "json" for their MIME types.
    script = {"resourceType": "TestScript", "id": "t", "text": DIV, "name": "T",
              "status": "draft", "url": "http://example.org/t",
              "setup": {"action": [{"operation": {"accept": "xml", "encodeRequestUrl": True}}]}}
    if version == "R5":
        script["setup"]["action"][0]["operation"].update(
            {"encodeRequestUrl": True, "method": "get"})
    found = [p for p in errors(script, version) if "MIME" in p.message]
    assert found == []


@pytest.mark.parametrize("version", ["R5", "R4B"])
def test_an_hl7_implementation_guide_states_status_and_work_group(version: str) -> None:
    ig = {"resourceType": "ImplementationGuide", "id": "ig", "text": DIV,
          "url": "http://hl7.org/fhir/us/x", "name": "X", "status": "draft",
          "packageId": "hl7.fhir.us.x", "fhirVersion": ["5.0.0" if version == "R5" else "4.3.0"]}
    assert codes(errors(ig, version)) == ["hl7-guide-extension", "hl7-guide-extension"]
    ig["url"] = "http://example.org/fhir/x"
    assert errors(ig, version) == []


def test_a_history_bundle_may_reference_its_servers_other_resources() -> None:
    # R4B Bundle-fdd78223-f79f-43b4-8979-ad49d4ac248c, which the HL7 engine accepts.
    enc = {"resourceType": "Encounter", "id": "2", "status": "finished",
           "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                     "code": "AMB"},
           "subject": {"reference": "Patient/123"}}
    bundle = {"resourceType": "Bundle", "id": "h", "type": "history", "entry": [
        {"fullUrl": "https://example.org/fhir/Encounter/2", "resource": enc,
         "request": {"method": "PUT", "url": "Encounter/2"},
         "response": {"status": "200"}}]}
    found = validate_resource(bundle, file="t.json", fhir_version="R4B")
    assert [(p.code, p.severity) for p in found if "Patient/123" in p.message] == [
        ("external-reference", "warning")]
