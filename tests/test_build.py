"""The build end to end, run in-process through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fhir.resources.bundle import Bundle
from typer.testing import CliRunner

from ivig_fhir.cli import app
from ivig_fhir.validate import validate_paths
from ivig_fhir.write import read_tree

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source_data"
runner = CliRunner()


def _build(source: Path, out: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["build", "--source", str(source), "--out", str(out)])
    return result.exit_code, result.output


def test_build_writes_a_valid_transaction_bundle(tmp_path: Path) -> None:
    code, output = _build(SOURCE, tmp_path / "out")
    assert code == 0, output
    raw = (tmp_path / "out" / "ivig-fhir-bundle.json").read_text()
    bundle = json.loads(raw)
    Bundle.model_validate(bundle)
    assert bundle["type"] == "transaction"
    ids = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
    for entry in bundle["entry"]:
        assert entry["request"] == {"method": "PUT", "url": entry["fullUrl"].split("/fhir/")[1]}
        for ref in _references(entry["resource"]):
            assert ref in ids, ref
    errors = [p for p in validate_paths([tmp_path / "out" / "ivig-fhir-bundle.json"])
              if p.is_error]
    assert errors == []


def test_export_holds_the_key_facts_in_structured_elements(tmp_path: Path) -> None:
    _build(SOURCE, tmp_path / "out")
    bundle = json.loads((tmp_path / "out" / "ivig-fhir-bundle.json").read_text())
    by_type: dict[str, list[dict]] = {}
    for e in bundle["entry"]:
        by_type.setdefault(e["resource"]["resourceType"], []).append(e["resource"])
    mk = by_type["MedicationKnowledge"][0]
    assert any(c["code"] == "J06BA02" for c in mk["code"]["coding"])
    # Two dosing statements, each with its own source context; none fuses dose and interval.
    per_course, interval = mk["indicationGuideline"][:2]
    assert per_course["indication"][0]["reference"]["reference"] == (
        "ClinicalUseDefinition/ind-infantile-spasms")
    course = per_course["dosingGuideline"][0]["dosage"][0]["dosage"][0]
    dose = course["doseAndRate"][0]["doseRange"]
    assert (dose["low"]["value"], dose["high"]["value"], dose["low"]["code"]) == (0.4, 2.0, "g/kg")
    assert course["timing"]["repeat"]["boundsRange"]["high"]["value"] == 5
    assert "period" not in course["timing"]["repeat"]
    qualifiers = {e["valueCodeableConcept"]["coding"][0]["code"]
                  for e in per_course["dosingGuideline"][0]["extension"]}
    assert qualifiers == {"no-consensus", "typical"}
    assert "indication" not in interval
    repeat = interval["dosingGuideline"][0]["dosage"][0]["dosage"][0]["timing"]["repeat"]
    assert (repeat["period"], repeat["periodMax"], repeat["periodUnit"]) == (3, 4, "wk")
    assert "doseAndRate" not in interval["dosingGuideline"][0]["dosage"][0]["dosage"][0]
    assert sorted(c["costMoney"]["value"] for c in mk["cost"]) == [3000, 5000]
    indications = [c for c in by_type["ClinicalUseDefinition"] if c["type"] == "indication"]
    approved = [c for c in indications
                if any(cc.get("coding", [{}])[0].get("code") == "fda-approved"
                       for cc in c["category"])]
    # Six from the IVIG-uses page (subject the generic IVIG) and the label approvals, each
    # with its product as subject and linked from that product's RegulatedAuthorization.
    page_approved = [c for c in approved if c["subject"][0]["reference"] == "Medication/ivig"]
    assert len(page_approved) == 6
    linked = {i["reference"]["reference"].split("/")[1]
              for ra in by_type["RegulatedAuthorization"] for i in ra["indication"]}
    assert linked == {c["id"] for c in approved} - {c["id"] for c in page_approved}
    spasms = next(c for c in indications if c["id"] == "ind-infantile-spasms")
    codes = {cc["coding"][0]["code"] for cc in spasms["category"] if "coding" in cc}
    assert {"off-label", "no-recommendation"} <= codes
    assert all(ae["actuality"] == "potential" for ae in by_type["AdverseEvent"])
    assert len(mk["clinicalUseIssue"]) == len(by_type["ClinicalUseDefinition"])


def test_two_builds_are_byte_identical(tmp_path: Path) -> None:
    _build(SOURCE, tmp_path / "a")
    _build(SOURCE, tmp_path / "b")
    for name in ("ivig-fhir-bundle.json", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def _broken_copy(tmp_path: Path, file: str, old: str, new: str) -> Path:
    source = tmp_path / "src"
    shutil.copytree(SOURCE, source)
    text = (source / file).read_text()
    assert old in text
    (source / file).write_text(text.replace(old, new, 1))
    return source


def test_bad_input_exits_2_names_file_and_line_and_keeps_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(ROOT / "output", out)  # a previous export, which must survive
    before = read_tree(out)
    cases = [
        ("dosing.yaml", "low: 0.4", "low: 9.4", "range low 9.4 exceeds high 2"),
        ("indications.yaml", "concept: kawasaki-disease", "concept: kawasaki-typo",
         "unknown concept 'kawasaki-typo'"),
        ("release.yaml", "content_version:", "content_version: [\n", "malformed YAML"),
        ("dosing.yaml", "        high: 2.0\n", "        high: 2.0\n        high: 3.0\n",
         "duplicate key"),
        ("indications.yaml", "    status: fda-approved", "    status: approved-ish",
         "'approved-ish' is not one of"),
    ]
    for n, (file, old, new, message) in enumerate(cases):
        source = _broken_copy(tmp_path / str(n), file, old, new)
        code, output = _build(source, out)
        assert code == 2, output
        line = next(x for x in output.splitlines() if message in x)
        assert line.startswith(f"{source / file}:") and line.split(":")[1].isdigit(), line
        assert "Traceback" not in output
        assert read_tree(out) == before


def _references(node: object) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            found.append(ref)
        for value in node.values():
            found += _references(value)
    elif isinstance(node, list):
        for value in node:
            found += _references(value)
    return found


def test_validate_cli_on_the_export_and_a_broken_copy(tmp_path: Path) -> None:
    _build(SOURCE, tmp_path / "out")
    bundle_file = tmp_path / "out" / "ivig-fhir-bundle.json"
    ok = runner.invoke(app, ["validate", str(bundle_file), "--format", "json",
                             "--junit", str(tmp_path / "j.xml")])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["resourceType"] == "OperationOutcome"
    assert (tmp_path / "j.xml").read_text().startswith("<")
    bundle = json.loads(bundle_file.read_text())
    cud = next(e["resource"] for e in bundle["entry"]
               if e["resource"]["resourceType"] == "ClinicalUseDefinition")
    cud["warning"] = {"description": "two issue kinds in one resource"}
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(bundle))
    bad = runner.invoke(app, ["validate", str(broken)])
    assert bad.exit_code == 1
    assert "cud-1" in bad.output


def test_validate_on_the_export_folder_skips_its_manifest(tmp_path: Path) -> None:
    """`validate output/` is what a newcomer types: the manifest is no FHIR and no finding."""
    out = ROOT / "output"
    result = runner.invoke(app, ["validate", "--strict", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(x.startswith(f"{out / 'manifest.json'}: information: ") and "skipped" in x
               for x in lines), lines
    assert lines[-1].startswith("1 file(s) validated against FHIR R5: 0 errors")
    # a manifest alone is nothing validated; a look-alike from another tool is still judged
    alone = runner.invoke(app, ["validate", str(out / "manifest.json")])
    assert alone.exit_code == 2 and "nothing was validated" in alone.output
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"tool": {"name": "not-ivig-fhir"}}))
    judged = runner.invoke(app, ["validate", str(other)])
    assert judged.exit_code == 1 and "resourceType" in judged.output


def test_checked_in_output_is_the_golden_export() -> None:
    """output/ is committed and reviewed in diffs; refresh it with `ivig-fhir build`.
    `build --check` compares every file byte for byte (the formats come from its manifest)."""
    result = runner.invoke(app, ["build", "--check", "--source", str(SOURCE),
                                 "--out", str(ROOT / "output")])
    assert result.exit_code == 0, (
        f"output/ is stale: run `ivig-fhir build` and review the diff\n{result.output}")


def test_the_build_knows_the_fhir_versions_convert_writes() -> None:
    # the pipeline names them itself so that an R5 build does not import convert
    from ivig_fhir import pipeline
    from ivig_fhir.convert import R4_FHIR_VERSION, R4B_FHIR_VERSION

    assert pipeline.FHIR_VERSIONS == {"R5": "5.0.0", "R4B": R4B_FHIR_VERSION,
                                      "R4": R4_FHIR_VERSION}


def test_the_build_finds_in_its_bundle_what_validate_finds_in_the_file(tmp_path: Path) -> None:
    """The build validates the Bundle it serialised, not the bytes parsed back: same findings,
    same lines and columns (each the field's own), for an export with mistakes in entries far
    apart (a code, an empty array, a language, the narrative status)."""
    from ivig_fhir import pipeline
    from ivig_fhir.bundle import dumps
    from ivig_fhir.terminology import TerminologyLayer
    from ivig_fhir.validate import validate_bytes

    settings = pipeline.BuildSettings(SOURCE, tmp_path)
    curated, _ = pipeline.load_checked(settings)
    resources = pipeline.map_curated(curated)
    resources[3].resource["status"] = "retired-ish"
    resources[40].resource["text"]["status"] = "x"
    resources[100].resource["identifier"] = []
    resources[200].resource["language"] = "xx-nope"
    bundle = pipeline.build_bundle(curated, resources)
    written = dumps(bundle)
    path = tmp_path / "ivig-fhir-bundle.json"
    found = validate_bytes(written, file=str(path), fhir_version="R5",
                           extra_layers=[TerminologyLayer("R5", curated)])
    assert len([p for p in found if p.is_error]) >= 4
    lines = written.decode().splitlines()
    at = {lines[p.line - 1][p.column - 1:].split(":")[0] for p in found
          if p.is_error and p.line and p.column}
    assert at >= {'"status"', '"identifier"', '"language"'}, at
    with pytest.raises(pipeline.FindingsError) as refused:
        pipeline.validate_export(curated, bundle, path)
    assert refused.value.problems == pipeline.FindingsError("", found).problems


def test_the_export_must_carry_what_it_references(tmp_path: Path) -> None:
    """A transaction of someone else's may reference what their server holds (a warning in
    `validate`); ours is uploaded to servers that hold none of it: the build refuses it."""
    from ivig_fhir import pipeline
    from ivig_fhir.bundle import dumps
    from ivig_fhir.validate import validate_bytes

    settings = pipeline.BuildSettings(SOURCE, tmp_path)
    curated, _ = pipeline.load_checked(settings)
    resources = pipeline.map_curated(curated)
    cud = next(r.resource for r in resources if r.resource["resourceType"] ==
               "ClinicalUseDefinition")
    cud["subject"] = [{"reference": "Medication/not-in-the-export"}]
    bundle = pipeline.build_bundle(curated, resources)
    path = tmp_path / "ivig-fhir-bundle.json"
    found = [p for p in validate_bytes(dumps(bundle), file=str(path), fhir_version="R5")
             if p.code == "unresolved-reference"]
    assert [p.severity for p in found] == ["warning"], found
    with pytest.raises(pipeline.FindingsError) as refused:
        pipeline.validate_export(curated, bundle, path)
    carried = [p for p in refused.value.problems if p.code == "unresolved-reference"]
    assert [(p.severity, p.field) for p in carried] == [("error", found[0].field)]
    assert "the export must carry every resource it references" in carried[0].message
    assert not any(tmp_path.iterdir())
