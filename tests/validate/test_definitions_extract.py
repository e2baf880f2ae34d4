"""The offline definitions extract and its loader."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from importlib import resources

import pytest

from ivig_fhir.definitions import load, normalize_version, raw_extract


@pytest.mark.parametrize(("version", "package"), [
    ("R5", "hl7.fhir.r5.core"), ("R4B", "hl7.fhir.r4b.core"),
    ("R4", "ca.uhn.hapi.fhir:hapi-fhir-validation-resources-r4")])
def test_extract_records_its_package(version: str, package: str) -> None:
    defs = load(version)
    assert defs.package_name == package
    assert len(defs.package_sha256) == 64
    for name in ("Bundle", "MedicationKnowledge", "Medication", "AdverseEvent", "Group",
                 "Provenance", "DocumentReference", "CodeSystem", "OperationOutcome", "Range",
                 "Narrative", "Extension", "Dosage", "Timing", "Basic", "Patient"):
        assert defs.structure(name) is not None, name


@pytest.mark.parametrize(("version", "fhir", "resources", "extensions"), [
    ("R5", "5.0.0", 157, 500), ("R4B", "4.3.0", 140, 350), ("R4", "4.0.1", 145, 350)])
def test_extract_has_every_resource_type_and_core_extension(
        version: str, fhir: str, resources: int, extensions: int) -> None:
    defs = load(version)
    assert defs.fhir_version == fhir
    kinds = Counter(defs.structures[n].kind for n in defs.structures
                    if not defs.structures[n].abstract)
    assert kinds["resource"] >= resources
    assert len(defs.extensions) >= extensions
    date = defs.structure("date")
    assert date is not None and date.regex and "[0-9]" in date.regex


def test_extract_records_where_r5_extensions_come_from() -> None:
    raw = raw_extract("R5")
    assert raw["extensionsPackage"]["name"] == "hl7.fhir.uv.extensions.r5"
    assert len(raw["extensionsPackage"]["sha256"]) == 64
    ext = load("R5").extension("http://hl7.org/fhir/StructureDefinition/patient-birthPlace")
    assert ext is not None and ext.rules.types == ("Address",)
    assert ext.contexts == (("element", "Patient"),)


def test_r4_extract_is_4_0_1_from_maven_central() -> None:
    raw = raw_extract("R4")
    assert raw["package"]["registry"] == "Maven Central"
    assert raw["fhirVersion"] == "4.0.1"
    r4 = load("R4")
    # R4 has no ClinicalUseDefinition; MedicationKnowledge has no clinicalUseIssue.
    assert r4.structure("ClinicalUseDefinition") is None
    mk = r4.structure("MedicationKnowledge")
    assert mk is not None and "clinicalUseIssue" not in mk.children("MedicationKnowledge")
    assert "contraindication" in mk.children("MedicationKnowledge")


@pytest.mark.parametrize("version", ["r5", "r4b", "r4"])
def test_extract_is_canonical_compressed_json(version: str) -> None:
    """Sorted keys, compact, gzip with no time stamp: what scripts/extract-definitions writes,
    so a re-run is byte-identical."""
    packed = resources.files("ivig_fhir.definitions").joinpath(version, "definitions.json.gz") \
        .read_bytes()
    text = gzip.decompress(packed).decode("utf-8")
    data = json.loads(text)
    assert json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False) == text
    assert gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0) == packed
    assert len(packed) < 400_000


def test_loader_is_cached_and_versions_normalize() -> None:
    assert load("R5") is load("r5") is load("5.0.0")
    assert load("R4") is load("4.0.1")
    assert normalize_version("4.3.0") == "r4b"
    assert normalize_version("4.0") == "r4"
    with pytest.raises(ValueError, match="unsupported FHIR version"):
        normalize_version("STU3")


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
