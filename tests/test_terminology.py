"""Codes a hospital can trust: wrong codes, units and unmapped source items fail with file:line;
the export's codes (FHIR-defined, local, external) are checked by the terminology layer."""

from __future__ import annotations

import copy
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ivig_fhir import pipeline
from ivig_fhir.cli import app
from ivig_fhir.load import load_source_data
from ivig_fhir.terminology import TerminologyLayer

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source_data"
runner = CliRunner()


def _edited_copy(tmp_path: Path, file: str, old: str, new: str) -> tuple[Path, int]:
    """A copy of source_data with one edit; returns it and the 1-based line of the edit."""
    source = tmp_path / "source"
    shutil.copytree(SOURCE, source)
    text = (source / file).read_text()
    assert old in text
    (source / file).write_text(text.replace(old, new, 1))
    return source, text[: text.index(old)].count("\n") + 1


def _line_naming(output: str, needle: str) -> str:
    return next(line for line in output.splitlines() if needle in line)


@pytest.mark.parametrize(("file", "old", "new", "message"), [
    ("terminology.yaml", "code: G61.0", "code: G61.77", "G61.77 is not in the ICD-10-CM release"),
    ("terminology.yaml", "        display: Guillain-Barre syndrome",
     "        display: Guillain-Barré syndrome",
     "display must be the official description"),
    ("dosing.yaml", "unit: g/kg", "unit: gram/kg", "'gram/kg' is not a valid UCUM unit"),
    ("indications.yaml", "concept: kawasaki-disease", "concept: kawasaki-typo",
     "unknown concept 'kawasaki-typo'"),
], ids=["wrong-icd-code", "wrong-icd-display", "non-ucum-unit", "unknown-concept-key"])
def test_bad_code_fails_naming_file_and_line(tmp_path: Path, file: str, old: str, new: str,
                                             message: str) -> None:
    source, line = _edited_copy(tmp_path, file, old, new)
    result = runner.invoke(app, ["terminology", "check", "--source", str(source)])
    assert result.exit_code == 2, result.output
    found = _line_naming(result.output, message)
    assert re.match(rf"{re.escape(str(source / file))}:{line}:\d+: error: ", found), found
    assert "Traceback" not in result.output


def test_unmapped_source_item_fails_coverage_naming_file_and_line(tmp_path: Path) -> None:
    anchor = "          - id: pooled-donors\n"
    source, line = _edited_copy(tmp_path, "sources.yaml", anchor,
                                "          - id: uncited-item\n            summary: An item no "
                                "fact cites.\n" + anchor)
    result = runner.invoke(app, ["coverage", "--source", str(source)])
    assert result.exit_code == 1, result.output
    found = _line_naming(result.output, "is carried by no fact")
    assert "uncited-item" in found
    assert found.startswith(f"{source / 'sources.yaml'}:{line}:"), found
    assert "MISSING" in result.output


def test_terminology_check_passes_and_lists_unverified_codes_as_warnings() -> None:
    result = runner.invoke(app, ["terminology", "check"])
    assert result.exit_code == 0, result.output
    warnings = [x for x in result.output.splitlines() if "is unverified:" in x]
    assert len(warnings) == 5 and all(": warning: " in x for x in warnings)
    assert "0 errors" in result.output


@pytest.fixture(scope="module")
def export() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "output" / "ivig-fhir-bundle.json").read_text())
    return data


def _resource(bundle: dict[str, Any], rtype: str, pred: Any = lambda r: True) -> dict[str, Any]:
    found: dict[str, Any] = next(e["resource"] for e in bundle["entry"]
                                 if e["resource"]["resourceType"] == rtype and pred(e["resource"]))
    return found


def _errors(bundle: dict[str, Any], layer: TerminologyLayer | None = None) -> list[str]:
    layer = layer or TerminologyLayer("R5")
    return [f"{p.field}: {p.message}" for p in layer(bundle, "bundle.json") if p.is_error]


def test_the_export_s_codes_all_check_out(export: dict[str, Any]) -> None:
    curated = load_source_data(SOURCE)
    found = TerminologyLayer("R5", curated)(export, "bundle.json")
    assert [p for p in found if p.is_error] == []
    # every code system of the export is one the layer can check (v3-RoleClass comes from THO)
    assert [p.message for p in found if "not checked" in p.message] == []


def _codings(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [c for item in node for c in _codings(item)]
    if not isinstance(node, dict):
        return []
    here = [node] if "system" in node and "code" in node else []
    return here + [c for value in node.values() for c in _codings(value)]


@pytest.mark.parametrize(("system", "code", "display", "message"), [
    ("http://hl7.org/fhir/interaction-type", "drug-drug", None, ""),
    ("http://hl7.org/fhir/interaction-type", "drug-potion", None,
     "drug-potion is not defined in the FHIR code system"),
    ("https://ivig-fhir.org/fhir/CodeSystem/undesirable-effect-frequency", "sometimes", None,
     "sometimes is not defined in the export's CodeSystem"),
    ("https://ivig-fhir.org/fhir/CodeSystem/use-regulatory-status", "fda-approved", "Approved!",
     "differs from the CodeSystem's"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "D80.1", "Hypogammaglobulinemia",
     "display must be the official description"),
    ("http://snomed.info/sct", "123456780", None, "not a valid SNOMED CT concept id"),
    ("urn:iso:std:iso:3166", "XX", None, "not an ISO 3166-1 alpha-2 country code"),
], ids=["fhir-ok", "fhir-undefined", "local-undefined", "local-display", "icd-display",
        "snomed-check-digit", "iso3166"])
def test_a_wrong_code_in_the_export_is_an_error(export: dict[str, Any], system: str, code: str,
                                                display: str | None, message: str) -> None:
    bundle = copy.deepcopy(export)
    target = _codings(_resource(bundle, "ClinicalUseDefinition"))[0]
    target.clear()
    target.update({"system": system, "code": code} | ({"display": display} if display else {}))
    errors = _errors(bundle)
    if not message:
        assert errors == []
    else:
        assert len(errors) == 1 and message in errors[0], errors
        assert errors[0].startswith("Bundle.entry[")


def test_an_external_code_not_in_the_concept_table_is_an_error(export: dict[str, Any]) -> None:
    bundle = copy.deepcopy(export)
    # outside a ValueSet: its expansion entries are not judged as codes
    sct = next(c for e in bundle["entry"] if e["resource"]["resourceType"] != "ValueSet"
               for c in _codings(e["resource"]) if c["system"] == "http://snomed.info/sct")
    sct["code"] = "38341003"  # a well-formed SNOMED CT id (hypertensive disorder) never checked
    curated = load_source_data(SOURCE)
    recorded = {c.code for k in curated.concepts for c in k.codings}
    assert "38341003" not in recorded
    errors = _errors(bundle, TerminologyLayer("R5", curated))
    assert any("not recorded as checked in the concept table" in e for e in errors), errors


def test_build_refuses_an_invalid_export_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A mapping bug that emits an invalid resource: build exits 1 and leaves --out alone."""
    real = pipeline.map_curated

    def buggy(*args: Any, **kwargs: Any) -> Any:
        mapped = real(*args, **kwargs)
        mapped[0].resource["status"] = "retired-ish"  # not in the required publication-status set
        return mapped

    monkeypatch.setattr(pipeline, "map_curated", buggy)
    out = tmp_path / "out"
    shutil.copytree(ROOT / "output", out)  # a previous export, which must survive
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = runner.invoke(app, ["build", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "retired-ish" in result.output and "nothing was written" in result.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_icd10cm_table_is_the_package_release_and_is_cached(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ivig_fhir.terminology import icd10cm

    monkeypatch.setenv("IVIG_FHIR_CACHE", str(tmp_path))
    icd10cm.release.cache_clear()
    try:
        fresh = icd10cm.release()
        assert [p.name for p in tmp_path.iterdir()] == [
            f"icd10cm-{fresh.name.split()[1]}-v{icd10cm.LAYOUT}-{sys.implementation.cache_tag}"
            ".marshal"]
        icd10cm.release.cache_clear()
        cached = icd10cm.release()
        assert cached == fresh
    finally:
        icd10cm.release.cache_clear()
    assert cached.description("B20") == "Human immunodeficiency virus [HIV] disease"
    assert "B20" not in cached.categories  # a category with no children is billable
    assert cached.description("M31.3") is not None and "M31.3" in cached.categories
    assert cached.description("A00-A09") is None  # a block is not a code
    assert cached.description("G610") is None  # codes are written with the dot
    assert "April 1, 2026" in cached.name


def test_icd10cm_cache_is_read_a_category_at_a_time_and_a_corrupted_one_rebuilt(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ivig_fhir.terminology import icd10cm

    monkeypatch.setenv("IVIG_FHIR_CACHE", str(tmp_path))
    icd10cm.release.cache_clear()
    try:
        fresh = icd10cm.release()  # from the package, then stored
        icd10cm.release.cache_clear()
        cached = icd10cm.release()
        assert cached.descendants("G61") == fresh.descendants("G61") == [
            "G61.0", "G61.1", "G61.8", "G61.81", "G61.82", "G61.89", "G61.9"]
        assert cached.ancestors("G61.81") == ["G61.8", "G61"]
        assert set(cached._read) == {"G61"}  # read: the one category asked about
        path = next(tmp_path.iterdir())
        raw = bytearray(path.read_bytes())
        start, end = cached._index["M31"]
        raw[cached._start + start:cached._start + end] = b"\xff" * (end - start)
        path.write_bytes(bytes(raw))
        icd10cm.release.cache_clear()
        broken = icd10cm.release()
        assert broken.description("G61.0") == "Guillain-Barre syndrome"
        assert broken.descendants("M31.3") == fresh.descendants("M31.3") != []
        assert broken == fresh
        icd10cm.release.cache_clear()
        rewritten = icd10cm.release()
        assert rewritten.tabular_notes("M31.3") == fresh.tabular_notes("M31.3")
        assert set(rewritten._read) == {"M31"}  # read from the file written anew
    finally:
        icd10cm.release.cache_clear()


# Each edit breaks one ICD-10-CM convention or the scope rule in the concept table: (code line
# that anchors it, text after the anchor to replace, replacement, line the error must name,
# message). The line is given as the text it starts with, searched from the anchor back/on.
CONVENTION_EDITS = [
    # anchored on the concept: T88.6 also codes the IG-hypersensitivity contraindication
    ("  - key: anaphylaxis\n", "        code: T88.6\n", "        code: T88.6XXA\n",
     "        code: T88.6XXA", "carries a 7th character (initial encounter)"),
    ("        code: G70.0\n", "        descendants: true\n", "        descendants: false\n",
     "        code: G70.0", "is a category (not billable)"),
    ("        code: '75053002'\n", "        scope: equivalent\n", "        scope: broader\n",
     "        scope: broader", "broader than the concept, which a use names"),
    ("        code: G35\n", "        code: G35\n", "        code: G35.D\n",
     "        code: G35.D", "is an 'unspecified' leaf"),
    ("        code: B20\n", "        scope: narrower\n", "        scope: equivalent\n",
     "        scope: equivalent", "sends Z21 elsewhere"),
    ("        code: G61.82\n", "        scope: equivalent\n", "",
     "      - system:", "record its scope against the concept"),
    ("        code: G61.0\n", "        code: G61.0\n", "        code: T30.0\n",
     "        code: T30.0", "not for inpatient use"),
    # A code listed twice in one concept (what a careless merge leaves behind).
    ("        code: H46.1\n", "        code: H46.1\n", "        code: H46.0\n",
     "        code: H46.0", "is listed twice"),
    # Review R1 (R8): D80 less D80.1 and D80.2 is not equivalent to primary immunodeficiency.
    ("        code: D80\n        display: Immunodeficiency with predominantly antibody defects\n"
     "        version: '2026'\n        scope: narrower\n        why: \"Review R1",
     "        scope: narrower\n", "        scope: equivalent\n",
     "        scope: equivalent", "excludes D80.1, D80.2 below it"),
]


def test_icd10cm_conventions_and_scope_are_checked_at_the_line(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(SOURCE, source)
    path = source / "terminology.yaml"
    text = path.read_text()
    expected = []
    # top to bottom, so an edit never moves the lines of one already placed
    for anchor, old, new, marker, message in sorted(CONVENTION_EDITS,
                                                    key=lambda e: text.index(e[0])):
        assert text.count(anchor) == 1, anchor
        at = text.index(anchor)
        where = text.index(old, at)
        text = text[:where] + new + text[where + len(old):]
        # the marker line: after the anchor, or (a coding's first line) the last one before it
        hit = text.find(marker, at) if marker.strip() != "- system:" else text.rfind(marker, 0, at)
        expected.append((text[:hit].count("\n") + 1, message))
    path.write_text(text)
    result = runner.invoke(app, ["terminology", "check", "--source", str(source)])
    assert result.exit_code == 2, result.output
    for line, message in expected:
        found = [x for x in result.output.splitlines() if message in x]
        assert any(x.startswith(f"{path}:{line}:") and ": error: " in x for x in found), (
            line, message, found)


def test_tabular_notes_are_shown_against_the_concept() -> None:
    result = runner.invoke(app, ["terminology", "check"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    excludes = _line_naming(result.output, "anaphylaxis: ICD-10-CM T88.6: tabular Excludes1")
    assert ": information: " in excludes and "(T80.5-)" in excludes
    assert any("hiv-infection: ICD-10-CM B20: tabular Use additional code" in x for x in lines)
    assert not any(": error: " in x for x in lines)


def test_snomed_expressions_and_value_set_expansions_are_not_false_errors() -> None:
    """Two false errors the official R5 examples showed: a post-coordinated SNOMED CT
    expression is a warning (not checkable offline), and a ValueSet's expansion entries are
    what a server found, not codes to judge."""
    obs = {"resourceType": "Observation", "code": {"coding": [
        {"system": "http://snomed.info/sct", "code": "397956004 |Prosthetic arthroplasty of the "
         "hip| : 363704007 |Procedure site| = 24136001 |Hip joint structure|"}]}}
    found = TerminologyLayer("R5")(obs, "o.json")
    assert [(p.severity, "expression" in p.message) for p in found] == [("warning", True)]
    vs = {"resourceType": "ValueSet", "expansion": {"contains": [
        {"system": "http://hl7.org/fhir/publication-status", "code": "no-such-code"}]}}
    assert TerminologyLayer("R5")(vs, "vs.json") == []
    bad = {"resourceType": "Observation", "code": {"coding": [
        {"system": "http://snomed.info/sct", "code": "123456789"}]}}
    assert [p.severity for p in TerminologyLayer("R5")(bad, "b.json")] == ["error"]
