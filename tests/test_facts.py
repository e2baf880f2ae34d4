"""Facts in their context (issue 11 item 4) and the label-current safety layer (item 5),
asserted on the built export: what a decision-support rule sees, and what it must not see."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ivig_fhir.cli import app

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source_data"
EXT = "https://ivig-fhir.org/fhir/StructureDefinition/"
runner = CliRunner()

Resources = dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Resources:
    out = tmp_path_factory.mktemp("facts") / "out"
    result = runner.invoke(app, ["build", "--source", str(SOURCE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    bundle = json.loads((out / "ivig-fhir-bundle.json").read_text())
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"]
            for e in bundle["entry"]}


def _codes(concept: dict[str, Any]) -> set[str]:
    return {c["code"] for c in concept.get("coding", [])}


def _categories(cud: dict[str, Any]) -> set[str]:
    return {c["coding"][0]["code"] for c in cud.get("category", []) if "coding" in c}


def _status(cud: dict[str, Any]) -> str:
    return str(cud["status"]["coding"][0]["code"])


def _ext(resource: dict[str, Any], name: str) -> list[Any]:
    return [next(v for k, v in e.items() if k.startswith("value"))
            for e in resource.get("extension", []) if e["url"] == EXT + name]


def _indications(export: Resources) -> list[dict[str, Any]]:
    return [r for k, r in export.items()
            if k.startswith("ClinicalUseDefinition/") and r["type"] == "indication"]


def test_general_statements_and_mechanisms_are_not_indications(export: Resources) -> None:
    ids = {r["id"] for r in _indications(export)}
    assert not {"ind-immunodeficiency", "ind-autoimmune-disease",
                "ind-immunosuppression-solid-organ-transplant",
                "ind-immunosuppression-bone-marrow-transplant"} & ids
    # No indication is coded D84.9 (any immunodeficiency) or targets a transplant status.
    for cud in _indications(export):
        assert not _codes(cud["indication"]["diseaseSymptomProcedure"]["concept"]) & {
            "D84.9", "234532001", "Z94.0", "Z94.84"}, cud["id"]
    mk = export["MedicationKnowledge/ivig-knowledge"]
    general = [c for c in mk["definitional"]["drugCharacteristic"]
               if c["type"]["coding"][0]["code"] == "general-use"]
    assert len(general) == 2 and all("Not an indication" in c["valueString"] for c in general)


def _members(export: Resources, concept: dict[str, Any]) -> set[str]:
    """The codes of the ValueSet a concept links (what a rule matches), else its codings."""
    links = [e["valueCanonical"].split("|")[0] for e in concept.get("extension", [])
             if e["url"].endswith("/concept-value-set")]
    if not links:
        return _codes(concept)
    value_set = export[f"ValueSet/{links[0].rsplit('/', 1)[1]}"]
    return {c["code"] for c in value_set["expansion"].get("contains", [])}


def test_a_primary_immunodeficiency_patient_sees_no_off_label_use(export: Resources) -> None:
    # The codes a rule matches are the concept's ValueSet expansion (D80 is narrower than the
    # concept since review R1, so the CodeableConcept carries no ICD-10-CM code).
    pi_codes = {c["code"] for c in export["ValueSet/primary-humoral-immunodeficiency"]
                ["expansion"]["contains"]}
    assert {"D80.0", "D83.9"} <= pi_codes and not {"D80.1", "D80.2"} & pi_codes

    def codes(cud: dict[str, Any]) -> set[str]:
        concept = cud["indication"]["diseaseSymptomProcedure"]["concept"]
        link = [e["valueCanonical"].split("|")[0].rsplit("/", 1)[1]
                for e in concept.get("extension", []) if e["url"].endswith("concept-value-set")]
        return ({c["code"] for c in export[f"ValueSet/{link[0]}"]["expansion"]["contains"]}
                if link else _codes(concept))

    hits = [c for c in _indications(export) if codes(c) & pi_codes]
    assert hits and all("fda-approved" in _categories(c) for c in hits)
    assert not any("off-label" in _categories(c) for c in hits)


def test_infection_prevention_in_cll_is_prevention_not_treatment(export: Resources) -> None:
    for id_ in ("ind-b-cell-chronic-lymphocytic-leukemia",
                "ind-gammagard-sd-cll-infection-prevention"):
        ind = export[f"ClinicalUseDefinition/{id_}"]["indication"]
        assert ind["intendedEffect"]["concept"]["coding"][0]["code"] == "prevention"
        assert "C91.1" in _codes(ind["comorbidity"][0]["concept"])
        assert "C91.1" not in _codes(ind["diseaseSymptomProcedure"]["concept"])


def test_myeloma_and_all_are_infection_prevention_not_treatment_of_the_cancer(
        export: Resources) -> None:
    """Pharmacist review P15: like CLL, the malignancy is the context, the status to confirm
    is the hypogammaglobulinaemia; the page's wording is kept in the description."""
    for id_, code in (("ind-multiple-myeloma", "C90.0"), ("ind-acute-lymphoblastic-leukemia",
                                                          "C91.0")):
        cud = export[f"ClinicalUseDefinition/{id_}"]
        ind = cud["indication"]
        assert ind["intendedEffect"]["concept"]["coding"][0]["code"] == "prevention"
        assert code in _codes(ind["comorbidity"][0]["concept"])
        assert not _codes(ind["diseaseSymptomProcedure"]["concept"])
        assert "hypogammaglobulinemia" in ind["diseaseStatus"]["concept"]["text"]
        assert "The page lists" in cud["text"]["div"]


def test_intended_effect_population_and_uncoded_context(export: Resources) -> None:
    """P28 prevention of further loss; P29 adults as the population Group; P17 congenital heart
    block named, not coded (the newborn's Q24.6 would read as treating the newborn)."""
    miscarriage = export["ClinicalUseDefinition/ind-recurrent-miscarriage"]["indication"]
    assert miscarriage["intendedEffect"]["concept"]["coding"][0]["code"] == "prevention"
    ra = export["ClinicalUseDefinition/ind-rheumatoid-arthritis"]
    assert [p["reference"] for p in ra["population"]] == ["Group/pop-adults"]
    assert "diseaseStatus" not in ra["indication"]
    chb = export["ClinicalUseDefinition/ind-congenital-heart-block"]["indication"]
    concept = chb["diseaseSymptomProcedure"]["concept"]
    assert concept == {"text": "Congenital heart block"}
    assert "ValueSet/congenital-heart-block" not in json.dumps(export)


def test_conditions_restrictions_and_wording_are_kept(export: Resources) -> None:
    mk = export["MedicationKnowledge/ivig-knowledge"]
    onset = next(c for c in mk["definitional"]["drugCharacteristic"]
                 if c["type"]["coding"][0]["code"] == "onset-of-response")
    assert "thought to be effective" in _ext(onset, "fact-condition")[0]
    assert _ext(onset, "fact-qualifier")[0]["coding"][0]["code"] == "conditional"
    # Nonimmune thrombocytopenia: the unrestricted D69.6 is not the code of the use.
    thrombo = export["ClinicalUseDefinition/ind-thrombocytopenia"]["indication"]
    assert "D69.6" not in _codes(thrombo["diseaseSymptomProcedure"]["concept"])
    assert "nonimmune" in thrombo["diseaseSymptomProcedure"]["concept"]["text"]
    # Pediatric: a population Group with an age characteristic.
    epilepsy = export["ClinicalUseDefinition/ind-pediatric-intractable-epilepsy"]
    group = export[epilepsy["population"][0]["reference"]]
    assert any(c["code"]["coding"][0]["code"] == "age" for c in group["characteristic"])
    # "From multiple sclerosis": MS is a coded comorbidity of the optic neuritis use.
    optic = export["ClinicalUseDefinition/ind-optic-neuritis"]["indication"]
    assert optic["comorbidity"][0]["concept"]["text"] == "Multiple sclerosis"
    # "Should" stays "should"; the supervised setting is words, not SNOMED CT Hospital.
    for id_ in ("warn-physician-supervision", "warn-supervised-administration"):
        text = export[f"ClinicalUseDefinition/{id_}"]["warning"]["description"]
        assert "should" in text and " must " not in text
    setting = export["ClinicalUseDefinition/warn-setting-first-infusion-supervised-setting"]
    assert "code" not in setting["warning"]
    assert "22232009" not in json.dumps(export)


def test_a_use_that_is_also_an_adverse_reaction_is_held_for_review(export: Resources) -> None:
    use = export["ClinicalUseDefinition/ind-acute-kidney-failure"]
    reaction = export["ClinicalUseDefinition/ue-acute-kidney-failure"]
    assert _status(use) == "draft" and "conflict" in _categories(use)
    assert _ext(use, "conflicts-with") == [{"reference": reaction["resourceType"] + "/"
                                            + reaction["id"]}]
    # The safety fact stays in force and unflagged; its narrative names the held use.
    assert _status(reaction) == "active" and "conflict" not in _categories(reaction)
    assert use["id"] in reaction["text"]["div"]


def test_superseded_page_statements_point_to_the_current_fact(export: Resources) -> None:
    old = export["ClinicalUseDefinition/int-vaccines"]
    assert _status(old) == "retired" and "superseded" in _categories(old)
    new = export[_ext(old, "superseded-by")[0]["reference"]]
    assert _status(new) == "active"
    management = " ".join(m["text"] for m in new["interaction"]["management"])
    for months in ("8 months", "10 months", "11 months"):
        assert months in management
    assert "ACIP" in _ext(old, "supersession-reason")[0]
    # Superseded for adults on one product only: the page's off-label use still holds for
    # juvenile dermatomyositis and every other product, so it stays active.
    derm = export["ClinicalUseDefinition/ind-dermatomyositis"]
    assert _status(derm) == "active" and "superseded-in-part" in _categories(derm)
    approval = export[_ext(derm, "superseded-by")[0]["reference"]]
    assert "fda-approved" in _categories(approval)
    assert approval["subject"] == [{"reference": "MedicinalProductDefinition/mpd-octagam-10",
                                    "display": "Octagam 10%"}]


def test_label_layer_boxed_warnings_contraindications_and_approvals(export: Resources) -> None:
    for id_ in ("warn-boxed-thrombosis", "warn-boxed-renal-failure"):
        boxed = export[f"ClinicalUseDefinition/{id_}"]
        assert {"boxed-warning", "label-current"} <= _categories(boxed)
        assert boxed["subject"][0]["reference"] == "Medication/ivig"  # class-wide
    proline = export["ClinicalUseDefinition/ci-hyperprolinemia"]
    assert [s["reference"] for s in proline["subject"]] == ["MedicinalProductDefinition/"
                                                             "mpd-privigen"]
    iga = export["ClinicalUseDefinition/ci-iga-deficiency-with-anti-iga-antibodies"]
    assert "D80.2" in _codes(iga["contraindication"]["comorbidity"][0]["concept"])
    assert "coding" not in iga["contraindication"]["diseaseSymptomProcedure"]["concept"]
    authorizations = [r for k, r in export.items() if k.startswith("RegulatedAuthorization/")]
    assert len(authorizations) == 4
    for ra in authorizations:
        assert ra["region"][0]["coding"][0] == {"system": "urn:iso:std:iso:3166", "code": "US"}
        assert ra["subject"][0]["reference"] in export
        for use in ra["indication"]:
            cud = export[use["reference"]["reference"]]
            assert cud["subject"] == ra["subject"] and "fda-approved" in _categories(cud)
    sd = export["RegulatedAuthorization/ra-gammagard-sd"]
    assert {"value": "BLA103133"}.items() <= sd["identifier"][1].items()
    # Every label-layer fact names the document it was read in, with its address.
    prov = export["Provenance/prov-ci-hyperprolinemia"]
    docs = [export[e["what"]["reference"]] for e in prov["entity"] if "reference" in e["what"]]
    assert docs and all(d["content"][0]["attachment"]["url"].startswith("https://")
                        for d in docs)


def test_a_supersession_naming_no_fact_is_refused_at_its_line(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(SOURCE, source)
    path = source / "indications.yaml"
    text = path.read_text()
    old = "by: indication/octagam-10-dermatomyositis"
    assert old in text
    path.write_text(text.replace(old, "by: indication/octagam-10-typo"))
    result = runner.invoke(app, ["build", "--source", str(source), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    line = next(x for x in result.output.splitlines() if "octagam-10-typo" in x)
    assert line.startswith(f"{path}:") and line.split(":")[1].isdigit(), line


def test_label_layer_review_findings_p12_p19_p20(export: Resources) -> None:
    # P12: the current vaccine interaction is coded (CVX, via its ValueSet); the interactant's
    # CodeableConcept carries no coding, since each CVX code is narrower than the group.
    current = export["ClinicalUseDefinition/int-measles-varicella-vaccines-after-ivig"]
    interactant = current["interaction"]["interactant"][0]["itemCodeableConcept"]
    assert "coding" not in interactant
    vs = export["ValueSet/measles-varicella-containing-vaccine"]
    assert {(c["system"], c["code"]) for c in vs["expansion"]["contains"]} == {
        ("http://hl7.org/fhir/sid/cvx", code) for code in ("03", "04", "05", "21", "94")}
    # P19: the Octagam 10% maltose warnings, on that product only, each with the document read.
    for id_, doc in (("warn-octagam-maltose-glucose-readings", "src-octagam-isi"),
                     ("warn-octagam-corn-allergy", "src-octagam-isi")):
        warning = export[f"ClinicalUseDefinition/{id_}"]
        assert warning["type"] == "warning" and "label-current" in _categories(warning)
        assert "boxed-warning" not in _categories(warning)
        assert [s["reference"] for s in warning["subject"]] == [
            "MedicinalProductDefinition/mpd-octagam-10"]
        prov = export[f"Provenance/prov-{id_}"]
        cited = [e["what"]["reference"] for e in prov["entity"] if "reference" in e["what"]]
        assert f"DocumentReference/{doc}" in cited
        assert export[f"DocumentReference/{doc}"]["content"][0]["attachment"]["url"] == (
            "https://octagamusa.com")
    glucose = export["ClinicalUseDefinition/warn-octagam-maltose-glucose-readings"]
    assert "glucose-specific" in glucose["warning"]["description"]
    # P20: Gammagard Liquid's CIDP approval is for adults, as its indication is worded.
    for id_ in ("ind-gammagard-liquid-cidp", "ind-privigen-cidp"):
        cidp = export[f"ClinicalUseDefinition/{id_}"]
        assert cidp["population"] == [{"reference": "Group/pop-adults", "display": "Adults"}]


def test_gammagard_liquid_carries_the_bla_an_fda_letter_gives(export: Resources) -> None:
    ra = export["RegulatedAuthorization/ra-gammagard-liquid"]
    assert {"value": "BLA125105"}.items() <= ra["identifier"][1].items()
    prov = export["Provenance/prov-ra-gammagard-liquid"]
    cited = [e["what"]["reference"] for e in prov["entity"] if "reference" in e["what"]]
    assert "DocumentReference/src-fda-approval-gammagard-liquid-2011" in cited
    # No document read gives Privigen's or Octagam 10%'s BLA: none is invented.
    for product in ("privigen", "octagam-10"):
        assert len(export[f"RegulatedAuthorization/ra-{product}"]["identifier"]) == 1


NDC = "http://hl7.org/fhir/sid/ndc"


def test_an_order_ndc_reaches_the_product_and_only_a_read_one_is_given(export: Resources) -> None:
    """Review R1 (R27): a rule fired by a US order joins on the product NDC."""
    mpd = export["MedicinalProductDefinition/mpd-gammagard-sd"]
    assert {"system": NDC, "value": "0944-2658"} in mpd["identifier"]
    # The product's boxed warnings are reachable from that identifier.
    boxed = [r for k, r in export.items() if k.startswith("ClinicalUseDefinition/warn-boxed")]
    assert boxed and all("MedicinalProductDefinition/mpd-gammagard-sd"
                         in [s["reference"] for s in r["subject"]] for r in boxed)
    for product in ("privigen", "gammagard-liquid", "octagam-10"):
        ids = export[f"MedicinalProductDefinition/mpd-{product}"]["identifier"]
        assert not [i for i in ids if i.get("system") == NDC], product


def test_a_product_code_citation_naming_nothing_is_refused_at_its_line(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(SOURCE, source)
    path = source / "labels.yaml"
    text = path.read_text()
    old = "      - openfda-ndc-gammagard-sd#listing.package-ndc\n"
    assert old in text
    path.write_text(text.replace(old, "      - openfda-ndc-gammagard-sd#listing.typo\n"))
    result = runner.invoke(app, ["build", "--source", str(source), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    line = next(x for x in result.output.splitlines() if "listing.typo" in x)
    assert line.startswith(f"{path}:") and "ndc_cite[0]" in line, line


def test_an_ndc_of_no_fda_segment_layout_is_refused_at_its_line(tmp_path: Path) -> None:
    """NDC product codes are 4-4, 5-3 or 5-4 digits; 4-3 is a typo (a digit lost)."""
    source = tmp_path / "src"
    shutil.copytree(SOURCE, source)
    path = source / "labels.yaml"
    text = path.read_text()
    assert text.count('      - "0944-2658"\n') == 1
    path.write_text(text.replace('      - "0944-2658"\n', '      - "0944-265"\n'))
    result = runner.invoke(app, ["build", "--source", str(source), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    line = next(x for x in result.output.splitlines() if "0944-265'" in x)
    assert line.startswith(f"{path}:") and "ndc_product[0]" in line, line
