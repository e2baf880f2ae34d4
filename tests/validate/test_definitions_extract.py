"""The offline definitions extract and its loader."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from ivig_fhir.definitions import load, normalize_version


@pytest.mark.parametrize(("version", "package"), [("R5", "hl7.fhir.r5.core"),
                                                  ("R4B", "hl7.fhir.r4b.core")])
def test_extract_records_its_package(version: str, package: str) -> None:
    defs = load(version)
    assert defs.package_name == package
    assert len(defs.package_sha256) == 64
    for name in ("Bundle", "MedicationKnowledge", "Medication", "ClinicalUseDefinition",
                 "AdverseEvent", "Group", "Provenance", "DocumentReference", "Citation",
                 "CodeSystem", "OperationOutcome", "Range", "CodeableReference", "Narrative",
                 "Extension", "Dosage", "Timing"):
        assert defs.structure(name) is not None, name


@pytest.mark.parametrize("version", ["r5", "r4b"])
def test_extract_is_canonical_json(version: str) -> None:
    """Sorted keys, indent 1, final newline: what scripts/extract-definitions writes, so a
    re-run is byte-identical and diffs are reviewable."""
    text = resources.files("ivig_fhir.definitions").joinpath(version, "definitions.json") \
        .read_text("utf-8")
    data = json.loads(text)
    assert json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False) + "\n" == text
    assert len(text.encode()) < 3_000_000


def test_loader_is_cached_and_versions_normalize() -> None:
    assert load("R5") is load("r5") is load("5.0.0")
    assert normalize_version("4.3.0") == "r4b"
    with pytest.raises(ValueError, match="unsupported FHIR version"):
        normalize_version("R4")


def test_constraints_and_bindings() -> None:
    defs = load("R5")
    assert "rng-2" in [c.key for c in defs.structure("Range").root.constraints]  # type: ignore[union-attr]
    status = defs.structure("MedicationKnowledge").element("MedicationKnowledge.status")  # type: ignore[union-attr]
    assert status is not None and status.binding is not None
    assert status.binding.strength == "required"
    # contentReference is kept so the walker can follow Bundle.entry.link -> Bundle.link
    link = defs.structure("Bundle").element("Bundle.entry.link")  # type: ignore[union-attr]
    assert link is not None and link.content_reference == "#Bundle.link"


@pytest.mark.parametrize(("vs", "system", "code", "expected"), [
    ("clinical-use-definition-type", "clinical-use-definition-type", "indication", True),
    ("clinical-use-definition-type", "clinical-use-definition-type", "off-label", False),
    ("adverse-event-actuality", "adverse-event-actuality", "potential", True),
    ("undesirable-effect-frequency", "undesirable-effect-frequency", "Common", True),
    ("undesirable-effect-frequency", "undesirable-effect-frequency", "VeryRare", False),
    ("publication-status", "publication-status", "active", True),
    ("narrative-status", "narrative-status", "generated", True),
    ("bundle-type", "bundle-type", "transaction", True),
    ("http-verb", "http-verb", "PUT", True),
    ("http-verb", "http-verb", "put", False),
])
def test_terminology_questions(vs: str, system: str, code: str, expected: bool) -> None:
    defs = load("R5")
    vs_url, cs_url = f"http://hl7.org/fhir/ValueSet/{vs}", f"http://hl7.org/fhir/{system}"
    assert defs.in_value_set(vs_url, cs_url, code) is expected
    assert defs.in_value_set(vs_url + "|5.0.0", None, code) is expected
    assert defs.in_code_system(cs_url, code) is expected


def test_unexpandable_value_sets_say_why() -> None:
    defs = load("R5")
    vs = defs.value_set("http://hl7.org/fhir/ValueSet/mimetypes")
    assert vs is not None and not vs.expandable and "urn:ietf:bcp:13" in (vs.reason or "")
    assert defs.in_value_set("http://hl7.org/fhir/ValueSet/mimetypes", None, "text/html") is None
    assert defs.in_value_set("http://example.org/ValueSet/unknown", None, "x") is None
    assert defs.display("http://hl7.org/fhir/adverse-event-actuality", "potential") == \
        "Potential Adverse Event"
