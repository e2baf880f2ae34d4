"""`build --fhir-version R4`: an R4 (4.0.1) export in which every R5 fact is in an R4 element or
in HL7's cross-version extension for it (ClinicalUseDefinition as Basic), as docs/r4-mapping.md
says; every format; and the HL7 engine (referee) finds no error in it."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class as r4b_model
from typer.testing import CliRunner

from ivig_fhir.bundle import build_bundle, dumps
from ivig_fhir.cli import app
from ivig_fhir.convert import NotConvertible, to_r4
from ivig_fhir.convert.r4 import AS_BASIC, XVER, convert
from ivig_fhir.definitions import load
from ivig_fhir.formats import FORMATS, Export, write_formats
from ivig_fhir.load import load_source_data
from ivig_fhir.mapping import map_curated

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source_data"
BUNDLE = "ivig-fhir-bundle.json"
R5_BUNDLE = ROOT / "output" / BUNDLE
runner = CliRunner()

JsonDict = dict[str, Any]
# Basic's elements in R4 (4.0.1): the R4B extract has no Basic, and Basic is unchanged in R4B.
BASIC = {"resourceType", "id", "meta", "implicitRules", "language", "text", "contained",
         "extension", "modifierExtension", "identifier", "code", "subject", "created", "author"}


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    """The R4 export's files as the build makes them (conversion, bundle, every format); the
    build's own validation step is `test_build_r4_validates_and_writes`."""
    curated = load_source_data(SOURCE)
    bundle = build_bundle(curated, to_r4(map_curated(curated, adverse_events=True)),
                          fhir_version="R4")
    return write_formats(Export(bundle, curated.release, "4.0.1"), tuple(FORMATS))


@pytest.fixture(scope="module")
def bundle(files: dict[str, bytes]) -> JsonDict:
    data: JsonDict = json.loads(files[BUNDLE])
    return data


def _resources(bundle: JsonDict, kind: str | None = None) -> list[JsonDict]:
    return [e["resource"] for e in bundle["entry"]
            if kind is None or e["resource"]["resourceType"] == kind]


def _r5() -> JsonDict:
    data: JsonDict = json.loads(R5_BUNDLE.read_text("utf-8"))
    return data


def test_build_r4_validates_and_writes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["build", "--source", str(SOURCE), "--out", str(out),
                                 "--fhir-version", "R4", *[f"--format={f}" for f in FORMATS]])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["fhirVersion"] == "4.0.1"
    result = runner.invoke(app, ["validate", "--fhir-version", "R4", str(out / BUNDLE)])
    assert result.exit_code == 0, result.output


def test_r4_and_r4b_define_the_same_elements() -> None:
    """What convert.r4 rests on (docs/r4-mapping.md): for every type the export writes, R4
    and R4B have the same elements, cardinalities and types."""
    r4, r4b = load("R4"), load("R4B")
    for kind in ("MedicationKnowledge", "Medication", "AdverseEvent", "Group",
                 "DocumentReference", "Provenance", "CodeSystem", "ValueSet",
                 "StructureDefinition", "Bundle"):
        a, b = r4.structure(kind), r4b.structure(kind)
        assert a is not None and b is not None, kind
        assert [(e.path, e.min, e.max, e.types) for e in a.elements] == [
            (e.path, e.min, e.max, e.types) for e in b.elements], kind


def test_every_resource_has_an_r4_structure(bundle: JsonDict) -> None:
    """R4 and R4B define the same elements for these types, so the R4B models parse R4."""
    r4b_model("Bundle").model_validate(bundle)
    assert bundle["identifier"]["value"].endswith("-transaction-r4")
    kinds = {r["resourceType"] for r in _resources(bundle)}
    assert "ClinicalUseDefinition" not in kinds and "Basic" in kinds
    r4b = load("R4B")
    for resource in _resources(bundle):
        rt = resource["resourceType"]
        if rt == "Basic":
            assert set(resource) <= BASIC, set(resource) - BASIC
            continue
        structure = r4b.structure(rt)
        assert structure is not None, rt
        names = {e.path.split(".")[1].removesuffix("[x]") for e in structure.elements[1:]}
        for key in resource:
            assert key == "resourceType" or any(key.startswith(n) for n in names), (rt, key)
    assert {sd["fhirVersion"] for sd in _resources(bundle, "StructureDefinition")} == {"4.0.1"}


def test_ids_and_references_follow_the_uses_to_basic(bundle: JsonDict) -> None:
    r5_ids = [(r["resourceType"], r["id"]) for r in _resources(_r5())]
    r4_ids = [(r["resourceType"], r["id"]) for r in _resources(bundle)]
    assert [i for _, i in r4_ids] == [i for _, i in r5_ids]
    assert [t for t, _ in r4_ids] == ["Basic" if t in AS_BASIC else t for t, _ in r5_ids]
    keys = {f"{t}/{i}" for t, i in r4_ids}
    refs = [v for r in _resources(bundle) for v in _strings(r, "reference")]
    assert refs and all(ref in keys for ref in refs if "/" in ref), [
        ref for ref in refs if ref not in keys]


def _strings(node: Any, key: str) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == key and isinstance(v, str)] + [
            s for v in node.values() for s in _strings(v, key)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v, key)]
    return []


# The export's own extensions that R5 places inside a backbone element (convert.r4 hoists
# them onto the Basic): where they go back.
NESTED_OWN = {"undesirable-effect-manifestation": "undesirableEffect"}


def _from_basic(basic: JsonDict) -> JsonDict:
    """The R5 resource a Basic stands for, read back from its extensions by the cross-version
    rules (the inverse of convert.r4)."""
    kind = basic["code"]["coding"][0]["code"]
    cud: JsonDict = {"resourceType": kind, "id": basic["id"]}
    if "identifier" in basic:
        cud["identifier"] = basic["identifier"]
    if "subject" in basic:
        cud["subject"] = [basic["subject"]]
    structure = load("R5").structure(kind)
    assert structure is not None
    own = []
    for ext in basic["extension"]:
        if not ext["url"].startswith(XVER):
            own.append(ext)
            continue
        path = ext["url"].removeprefix(XVER)
        name = path.split(".", 1)[1]
        element = structure.element(path)
        assert element is not None, path
        value = _read(ext)
        if element.is_array:
            cud.setdefault(name, []).append(value)
        else:
            cud[name] = value
    for ext in own:
        name = ext["url"].rsplit("/", 1)[-1]
        target = cud[NESTED_OWN[name]] if name in NESTED_OWN else cud
        target.setdefault("extension", []).append(ext)
    return cud


def _read(ext: JsonDict) -> Any:
    if "extension" not in ext:
        return next(v for k, v in ext.items() if k.startswith("value"))
    out: JsonDict = {}
    for part in ext["extension"]:
        value = _read(part)
        out.setdefault(part["url"], []).append(value)
    return out


def test_every_fact_of_a_type_r4_lacks_is_in_its_basic(bundle: JsonDict) -> None:
    """Nothing lost: each Basic's extensions give back its R5 ClinicalUseDefinition,
    RegulatedAuthorization or MedicinalProductDefinition exactly (narrative aside, which is
    carried unchanged; references to those types now name the Basic)."""
    r5 = {r["id"]: r for r in _resources(_r5()) if r["resourceType"] in AS_BASIC}
    basics = _resources(bundle, "Basic")
    kinds = {b["code"]["coding"][0]["code"] for b in basics}
    assert kinds == set(AS_BASIC)
    # Counted in the R5 export, so a new use (review R3: Gammagard S/D Kawasaki) needs no edit.
    assert len(basics) == len(r5) > 0
    products = {f"MedicinalProductDefinition/{r['id']}": r["identifier"][0]
                for r in r5.values() if r["resourceType"] == "MedicinalProductDefinition"}
    for basic in basics:
        want = copy.deepcopy(r5[basic["id"]])
        # Further subjects naming a product are logical references (its identifier).
        want["subject"] = want.get("subject", [])[:1] + [
            {"identifier": products[s["reference"]], "display": s["display"]}
            if s["reference"] in products else s for s in want.get("subject", [])[1:]]
        if not want["subject"]:
            del want["subject"]
        want = json.loads(json.dumps(want).replace('"ClinicalUseDefinition/', '"Basic/').replace(
            '"MedicinalProductDefinition/', '"Basic/'))
        assert basic["text"] == r5[basic["id"]]["text"]
        want.pop("text")
        if "subject" in want:  # the first is Basic.subject, any more are extensions
            assert basic["subject"] == want["subject"][0]
        got = _from_basic(basic)
        assert _normal(got) == _normal(want), basic["id"]


def test_authorizations_keep_every_approved_use(bundle: JsonDict) -> None:
    """R4B keeps one `indication` per RegulatedAuthorization; R4's Basic keeps them all, as
    references to the uses' Basics, and the product is Basic.subject."""
    r5 = {r["id"]: r for r in _resources(_r5(), "RegulatedAuthorization")}
    for basic in _resources(bundle, "Basic"):
        if basic["id"] not in r5:
            continue
        uses = [x["valueReference"]["reference"] for x in basic["extension"]
                if x["url"] == XVER + "RegulatedAuthorization.indication"]
        assert uses == [i["reference"]["reference"].replace("ClinicalUseDefinition/", "Basic/")
                        for i in r5[basic["id"]]["indication"]]
        assert basic["subject"]["reference"].startswith("Basic/mpd-")


def test_value_sets_and_extension_contexts(bundle: JsonDict) -> None:
    """ValueSets are native R4 (compose and expansion unchanged); each extension's context is
    where the element it sits on is in R4."""
    r5 = {r["id"]: r for r in _resources(_r5(), "ValueSet")}
    value_sets = _resources(bundle, "ValueSet")
    assert len(value_sets) == len(r5) > 90
    assert all(vs == r5[vs["id"]] for vs in value_sets)
    contexts = {sd["id"]: [c["expression"] for c in sd["context"]]
                for sd in _resources(bundle, "StructureDefinition")}
    assert contexts["fact-qualifier"] == ["MedicationKnowledge.administrationGuidelines",
                                          "MedicationKnowledge.drugCharacteristic"]
    assert contexts["fact-condition"] == ["MedicationKnowledge.drugCharacteristic"]
    assert contexts["superseded-by"] == contexts["conflicts-with"] == ["Basic"]
    assert contexts["concept-value-set"] == ["CodeableConcept"]
    # On interaction.management (a CodeableConcept inside the cross-version extension's value).
    assert contexts["interval-dose"] == contexts["interval-duration"] == ["CodeableConcept"]
    mk = _resources(bundle, "MedicationKnowledge")[0]
    guidelines = mk["administrationGuidelines"]
    assert len(guidelines) == sum(len(ig["dosingGuideline"]) for ig in _resources(
        _r5(), "MedicationKnowledge")[0]["indicationGuideline"])
    assert any(g["indicationCodeableConcept"]["text"].startswith("For: ") for g in guidelines)


def test_approval_date_is_a_cross_version_extension() -> None:
    """R4 CodeSystem and ValueSet have no approvalDate (R4 4.0.1 definitions)."""
    for kind in ("CodeSystem", "ValueSet"):
        r4 = convert({"resourceType": kind, "id": "x", "status": "active",
                      "approvalDate": "2026-12-05"})
        assert "approvalDate" not in r4
        assert r4["extension"] == [{"url": XVER + f"{kind}.approvalDate",
                                    "valueDate": "2026-12-05"}]


def _normal(node: Any) -> Any:
    """Every value a list, CodeableReferences unwrapped and choice keys cut to their element
    name: the shape the cross-version extensions give both sides."""
    if isinstance(node, dict):
        if set(node) == {"concept"} or (set(node) == {"reference"}
                                        and isinstance(node["reference"], dict)):
            return _normal(next(iter(node.values())))
        return {("item" if key.startswith("item") else key): [
            _normal(v) for v in (value if isinstance(value, list) else [value])]
            for key, value in node.items()}
    return node


def test_r5_only_elements_of_other_resources_are_cross_version_extensions(
        bundle: JsonDict) -> None:
    r5 = _r5()
    mk5 = _resources(r5, "MedicationKnowledge")[0]
    mk = _resources(bundle, "MedicationKnowledge")[0]
    by_url: dict[str, list[Any]] = {}
    for ext in mk["extension"]:
        by_url.setdefault(ext["url"].removeprefix(XVER), []).append(
            next(v for k, v in ext.items() if k.startswith("value")))
    assert by_url["MedicationKnowledge.identifier"] == mk5["identifier"]
    assert by_url["MedicationKnowledge.author"] == [mk5["author"]]
    assert by_url["MedicationKnowledge.intendedJurisdiction"] == mk5["intendedJurisdiction"]
    assert [r["reference"] for r in by_url["MedicationKnowledge.clinicalUseIssue"]] == [
        r["reference"].replace("ClinicalUseDefinition/", "Basic/")
        for r in mk5["clinicalUseIssue"]]
    assert mk["synonym"] == mk5["name"] and mk["text"] == mk5["text"]
    assert mk["ingredient"][0]["isActive"] is True
    dose = mk["administrationGuidelines"][0]["dosage"][0]["dosage"][0]["doseAndRate"][0]
    assert (dose["doseRange"]["low"]["value"], dose["doseRange"]["high"]["value"]) == (0.4, 2.0)
    groups5 = {g["id"]: g for g in _resources(r5, "Group")}
    for group in _resources(bundle, "Group"):
        assert group["actual"] is False and "membership" not in group
        assert group["extension"] == [{"url": XVER + "Group.description",
                                       "valueMarkdown": groups5[group["id"]]["description"]}]
    events = _resources(bundle, "AdverseEvent")
    assert events and all("event" in e and isinstance(e["identifier"], dict) for e in events)
    manifestation = next(sd for sd in _resources(bundle, "StructureDefinition")
                         if sd["id"] == "undesirable-effect-manifestation")
    assert manifestation["context"] == [{"type": "element", "expression": "Basic"}]


def test_every_format_is_r4(files: dict[str, bytes]) -> None:
    for name in ("ivig-fhir-batch.json", "ivig-fhir-collection.json"):
        data = json.loads(files[name])
        assert data["identifier"]["value"].endswith(f"-{data['type']}-r4"), name
    assert b'"resourceType":"Basic"' in files["ndjson/Basic.ndjson"]
    assert "ndjson/ClinicalUseDefinition.ndjson" not in files
    with tarfile.open(fileobj=io.BytesIO(files["ivig-fhir-package.tgz"])) as tar:
        member = tar.extractfile("package/package.json")
        assert member is not None
        package = json.loads(member.read())
    assert package["fhirVersions"] == ["4.0.1"]
    assert package["dependencies"] == {"hl7.fhir.r4.core": "4.0.1"}


def test_r4_conversion_is_deterministic(files: dict[str, bytes]) -> None:
    curated = load_source_data(SOURCE)
    again = build_bundle(curated, to_r4(map_curated(curated, adverse_events=True)),
                         fhir_version="R4")
    assert dumps(again) == files[BUNDLE]


def test_what_cannot_convert_stops_the_conversion() -> None:
    with pytest.raises(NotConvertible, match="both a concept and a reference"):
        convert({"resourceType": "ClinicalUseDefinition", "id": "x", "type": "indication",
                 "indication": {"diseaseSymptomProcedure": {
                     "concept": {"text": "x"}, "reference": {"reference": "Group/g"}}}})
    with pytest.raises(NotConvertible, match="sideEffect"):
        convert({"resourceType": "ClinicalUseDefinition", "id": "x", "type": "indication",
                 "indication": {"sideEffect": {"text": "x"}}})
    with pytest.raises(NotConvertible, match="careteam"):
        convert({"resourceType": "Group", "id": "g", "type": "careteam",
                 "membership": "definitional"})


def test_unknown_fhir_version_is_bad_input(tmp_path: Path) -> None:
    result = runner.invoke(app, ["build", "--source", str(SOURCE), "--out", str(tmp_path / "x"),
                                 "--fhir-version", "R3"])
    assert result.exit_code == 2
    assert "R5, R4B or R4" in result.output
    assert not (tmp_path / "x").exists()


def _referee(*files: Path) -> list[JsonDict]:
    run = subprocess.run([str(ROOT / "scripts" / "referee"), "--fhir-version", "R4",
                          *map(str, files)], capture_output=True, text=True, check=False,
                         timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert report["fhirVersion"] == "4.0.1"
    return [r["outcome"] for r in report["results"]]


@pytest.mark.java
def test_referee_r4_finds_no_errors(files: dict[str, bytes], tmp_path: Path) -> None:
    export = tmp_path / BUNDLE
    export.write_bytes(files[BUNDLE])
    # The check has teeth: a wrong part name and a wrong value type inside a cross-version
    # extension are errors.
    broken = json.loads(files[BUNDLE])
    basic = next(e["resource"] for e in broken["entry"]
                 if e["resource"]["id"] == "ind-primary-humoral-immunodeficiency")
    indication = next(x for x in basic["extension"] if x["url"].endswith(".indication"))
    indication["extension"][0]["url"] = "diseaseSymptom"
    indication["extension"][1] = {"url": "intendedEffect", "valueString": "treatment"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(broken), "utf-8")
    good_outcome, bad_outcome = _referee(export, bad)
    issues = good_outcome["issue"]
    errors = [i for i in issues if i["severity"] in ("error", "fatal")]
    assert errors == [], json.dumps(errors[:5], indent=1)
    # The warnings are the ones docs/r4-mapping.md explains, nothing else.
    expected = ("ProvenanceActivityType", "Provenance activity type", "CodeSystem is unknown",
                "StructureDefinition not fully checked",
                "from FHIR version 5.0 is not allowed to be used at this point",
                "which has status 'not-present'")
    other = [i["diagnostics"] for i in issues
             if i["severity"] == "warning" and not any(e in i["diagnostics"] for e in expected)]
    assert other == []
    found = [i["diagnostics"] for i in bad_outcome["issue"] if i["severity"] == "error"]
    assert any("diseaseSymptom'" in d for d in found), found
    assert any("valueString" in d for d in found), found


def test_a_conversion_gap_stops_the_build_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ivig_fhir import pipeline

    def gap(resources: Any) -> Any:
        raise NotConvertible("Group.type 'careteam' has no R4B/R4 code")

    monkeypatch.setitem(pipeline.CONVERTERS, "R4", gap)
    result = runner.invoke(app, ["build", "--source", str(SOURCE), "--out", str(tmp_path / "x"),
                                 "--fhir-version", "R4"])
    assert result.exit_code == 1, result.output
    assert "careteam" in result.output and "cannot be written as FHIR R4" in result.output
    assert not (tmp_path / "x").exists()


def test_withdrawal_knows_every_identifier_system_of_the_r4_export(bundle: JsonDict,
                                                                    tmp_path: Path) -> None:
    """`upload --retire` on an R4 server searches Basic (not the R5 types R4 lacks) by the
    systems the R4 export uses, so a release that drops a whole type still finds it."""
    from ivig_fhir import upload as up

    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    export = up.read_export(tmp_path / "bundle.json", "4.0.1")
    ns = up.state.namespace(export)
    used = {(e.resource_type, ident[0].removeprefix(ns)) for e in export.entries
            if (ident := up.state.our_identifier(e.resource, ns))}
    known = {(t, kind) for t, kinds in up.state.OUR_SYSTEMS.items() for kind in kinds}
    assert ("Basic", "clinical-use") in used and used <= known
    searched = up.state.types_to_search(export)
    assert "Basic" in searched and "ClinicalUseDefinition" not in searched
