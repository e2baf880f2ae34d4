"""`ivig-fhir match`: realistic patient codes against the checked-in export, hits and non-hits.

Each case is what a decision-support rule keyed on the export's ValueSets would see for one
coded problem: the uses, warnings and reactions it must surface, and those it must not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ivig_fhir.cli import app
from ivig_fhir.match import parse_code
from ivig_fhir.problems import BadInput
from ivig_fhir.terminology.systems import ICD10CM, SNOMED

ROOT = Path(__file__).resolve().parents[1]
EXPORT = ROOT / "output" / "ivig-fhir-bundle.json"
runner = CliRunner()

PI = "ind-primary-humoral-immunodeficiency"
# code -> (resources it must match, resources it must not match)
CASES: dict[str, tuple[set[str], set[str]]] = {
    # Myasthenia gravis in crisis: the exacerbation axis must not shut the patient out.
    "G70.01": ({"ind-myasthenia-gravis"}, set()),
    "G70.00": ({"ind-myasthenia-gravis"}, set()),
    "http://snomed.info/sct|91637004": ({"ind-myasthenia-gravis"}, set()),
    # Seropositive RA (M05.-) is rheumatoid arthritis; adult-onset Still's disease is not.
    # (The adult RA use names the adults population: partial until age is confirmed, PARTIAL.)
    "M05.79": (set(), {"ind-juvenile-rheumatoid-arthritis"}),
    "M06.1": (set(), {"ind-rheumatoid-arthritis"}),
    "M08.00": ({"ind-juvenile-rheumatoid-arthritis"}, {"ind-rheumatoid-arthritis"}),
    # Rh isoimmunisation of the newborn is hemolytic disease of the newborn.
    "P55.0": ({"ind-hemolytic-disease-of-newborn"}, set()),
    # Refractory infantile spasms: intractable codes reach both the spasms and intractable use;
    # spasms coded 'not intractable' stay out of the intractable-epilepsy use.
    # Both uses are restricted (refractory; infants; pediatric), so they are partial (PARTIAL).
    "G40.822": (set(), {"ind-pediatric-intractable-epilepsy"}),
    # Primary immunodeficiency: antibody defects and CVID; never drug-induced or unspecified
    # immunodeficiency, never selective IgA deficiency (a warning, not the use).
    "D80.0": ({PI}, set()),
    # D80.1 carries "Hypogammaglobulinemia NOS", the code of secondary hypogammaglobulinaemia:
    # refused (P13); CVID stays reachable through D83. IgG-subclass deficiency stays a PI (P14).
    "D80.1": (set(), {PI, "ind-privigen-pi", "ind-gammagard-liquid-pi", "ind-gammagard-sd-pi"}),
    "D83.1": ({PI, "ind-privigen-pi"}, set()),
    "D80.3": ({PI}, set()),
    "D83.9": ({PI}, set()),
    "D84.821": (set(), {PI}),
    "D84.9": (set(), {PI}),
    "D80.2": ({"warn-iga-deficiency", "pop-iga-deficient-patients"}, {PI}),
    "http://snomed.info/sct|29260007": ({"warn-iga-deficiency"}, {PI}),
    # Kawasaki, ITP, CIDP, GBS, MMN: each its own use, no cross-talk.
    # Review R1 (R30): Kawasaki disease has its own use; not listed again as a vasculitis.
    "M30.3": ({"ind-kawasaki-disease"}, {"ind-systemic-vasculitis"}),
    # The page's "thrombocytopenia (nonimmune)" has no code (D69.6 is broader): ITP must not
    # reach it, and unspecified thrombocytopenia reaches neither use.
    "D69.3": ({"ind-immune-thrombocytopenic-purpura"}, {"ind-thrombocytopenia"}),
    "D69.6": (set(), {"ind-immune-thrombocytopenic-purpura", "ind-thrombocytopenia"}),
    "G61.81": ({"ind-cidp"}, {"ind-guillain-barre-syndrome",
                              "ind-multifocal-motor-neuropathy"}),
    "G61.0": ({"ind-guillain-barre-syndrome"}, {"ind-cidp"}),
    "G61.82": ({"ind-multifocal-motor-neuropathy"}, {"ind-cidp"}),
    # CLL (with or without remission; the hypogammaglobulinaemia code is not CLL).
    # CLL alone is only a partial hit (see PARTIAL); another leukaemia is none.
    "C91.11": (set(), {"ind-b-cell-chronic-lymphocytic-leukemia"}),
    "C91.00": (set(), {"ind-b-cell-chronic-lymphocytic-leukemia"}),
    # Anaphylaxis to a correctly given drug is the reaction; anaphylaxis NOS (T78.2, whose
    # Excludes1 sends drug reactions to T88.6) and anaphylaxis to a vaccine are not.
    "T88.6XXA": ({"ue-anaphylaxis"}, set()),
    "T88.6XXD": ({"ue-anaphylaxis"}, set()),
    "T78.2XXA": (set(), {"ue-anaphylaxis"}),
    "T80.52XA": (set(), {"ue-anaphylaxis"}),
    # A use that is also a reaction: a rule sees both and must not surface one unreviewed.
    "N17.9": ({"ue-acute-kidney-failure", "ind-acute-kidney-failure"}, set()),
    "G03.0": ({"ue-aseptic-meningitis"}, set()),
    "J45.909": ({"ind-asthma"}, set()),
    # The blood-borne infection warning is about transmitting infection to any recipient; its
    # examples (hepatitis C, HIV) are not conditions of the patient that trigger it.
    "B18.2": (set(), {"warn-blood-borne-infection"}),
    # HIV (asymptomatic status too) is the context of infection prophylaxis.
    "Z21": ({"ind-infection-prophylaxis-hiv-infection"}, {"warn-blood-borne-infection"}),
    "B20": ({"ind-infection-prophylaxis-hiv-infection"}, set()),
    # GPA has its own use (review R1, R30: not listed twice); TTP has no code narrow enough.
    "M31.31": ({"ind-granulomatosis-with-polyangiitis"}, {"ind-systemic-vasculitis"}),
    "M31.19": (set(), {"ind-thrombotic-thrombocytopenic-purpura", "ind-systemic-vasculitis"}),
    # Optic neuritis: the use names it with multiple sclerosis as comorbidity.
    "H46.9": (set(), {"ind-optic-neuritis"}),  # partial alone: needs MS (see PARTIAL)
    "G35.A": ({"ind-multiple-sclerosis"}, {"ind-optic-neuritis"}),
    # Pharmacist review 2026-12-06. IVIG is a plasma-derived blood product: an IVIG reaction
    # coded as anaphylaxis to a blood product is the same reaction.
    "T80.51XA": ({"ue-anaphylaxis"}, set()),
    # Paraneoplastic LEMS is filed at G73.1, outside G70.8-.
    "G73.1": ({"ind-lambert-eaton-syndrome"}, set()),
    # The PI label names SCID and Wiskott-Aldrich syndrome; ADA deficiency without SCID is not.
    # Gammagard S/D's PI approval is partial since review R3 (2 years and older): see PARTIAL.
    "D81.1": ({PI}, set()),
    "D82.0": ({PI}, set()),
    "D81.30": (set(), {PI}),
    # A DVT or PE reaches the thrombosis boxed warning and reaction, not the renal one.
    "I82.409": ({"warn-boxed-thrombosis", "ue-thrombosis"}, {"warn-boxed-renal-failure"}),
    "I26.99": ({"warn-boxed-thrombosis"}, set()),
    "I77.82": ({"ind-systemic-vasculitis"}, set()),
    # Octagam 10% is approved for dermatomyositis in adults: juvenile dermatomyositis must not
    # reach the approval.
    # (The adults population is for the record to confirm: partial, see PARTIAL.)
    "M33.10": ({"ind-dermatomyositis"}, set()),
    # ... but it keeps the page's off-label use, superseded only in part.
    "M33.00": ({"ind-dermatomyositis"}, {"ind-octagam-10-dermatomyositis"}),
    # Recurrent otitis media is coded on the recurrent axis; otitis media NOS is not recurrent.
    "H66.004": ({"ind-recurrent-otitis-media"}, set()),
    "H66.90": (set(), {"ind-recurrent-otitis-media"}),
    # Pharmacist review 2026-12-07. Boxed-warning risk factors (P10/P11): a patient in a risk
    # factor's Group reaches the warning (role "risk factor", see RISK); the other warning not.
    "N18.30": ({"warn-boxed-renal-failure", "pop-renal-risk-renal-insufficiency"},
               {"warn-boxed-thrombosis", "ind-acute-kidney-failure"}),
    "E11.9": ({"warn-boxed-renal-failure", "pop-renal-risk-diabetes"},
              {"warn-boxed-thrombosis", "ind-diabetes-mellitus"}),
    "E10.9": ({"warn-boxed-renal-failure"}, set()),
    "E86.0": ({"warn-boxed-renal-failure"}, set()),
    "A41.9": ({"warn-boxed-renal-failure"}, {"warn-boxed-thrombosis"}),
    "D47.2": ({"warn-boxed-renal-failure"}, set()),
    "Z86.718": ({"warn-boxed-thrombosis", "pop-thrombosis-risk-history"},
                {"warn-boxed-renal-failure", "ue-thrombosis"}),
    "D68.51": ({"warn-boxed-thrombosis"}, {"warn-boxed-renal-failure"}),
    "Z74.01": ({"warn-boxed-thrombosis"}, set()),
    # Gestational diabetes is not the label's diabetes mellitus; hypertension alone is not coded
    # (the label does not list the cardiovascular risk factors).
    "O24.410": (set(), {"warn-boxed-renal-failure"}),
    "I10": (set(), {"warn-boxed-thrombosis"}),
    # Myeloma and ALL: infection prevention, the malignancy only the context (P15, PARTIAL).
    "C90.00": ({"warn-boxed-renal-failure"}, {"ind-multiple-myeloma"}),
    "C91.02": (set(), {"ind-acute-lymphoblastic-leukemia"}),
    # Parvovirus (P16): the infection as the page names it and as coded beside its disease;
    # fifth disease of a healthy child is not the use.
    "B34.3": ({"ind-parvovirus-infection"}, set()),
    "B97.6": ({"ind-parvovirus-infection"}, set()),
    "B08.3": (set(), {"ind-parvovirus-infection"}),
    # The newborn's congenital heart block is not a use the page states (P17).
    "Q24.6": (set(), {"ind-congenital-heart-block"}),
    # Fever the tabular attributes to a vaccine or a transfusion is not IVIG's reaction (P26).
    "R50.9": ({"ue-fever"}, set()),
    "R50.83": (set(), {"ue-fever"}),
    "R50.84": (set(), {"ue-fever"}),
    # Review R1 2026-12-07. A fat or septic embolism is not a thrombosis (R6); thromboses the
    # tabular files outside I26/I74/I82, pregnancy DVT included, are (R7).
    "I26.04": (set(), {"warn-boxed-thrombosis", "ue-thrombosis"}),
    # Septic pulmonary embolism is an infected thrombus: it stays (review R1, R6 decision).
    "I26.90": ({"warn-boxed-thrombosis"}, set()),
    "O22.33": ({"warn-boxed-thrombosis", "ue-thrombosis"}, set()),
    "I67.6": ({"warn-boxed-thrombosis"}, set()),
    "I81": ({"warn-boxed-thrombosis"}, set()),
    "I63.30": ({"warn-boxed-thrombosis"}, set()),
    # A rejection code names the transplant: a complete hit alone (R2), pancreas too (R3).
    "T86.11": ({"ind-solid-organ-transplant-rejection"}, set()),
    "T86.890": ({"ind-solid-organ-transplant-rejection"}, set()),
    "Z94.0": (set(), {"ind-solid-organ-transplant-rejection"}),
    # Evans syndrome is autoimmune hemolytic anemia (R13); hydrops and kernicterus due to
    # isoimmunization are hemolytic disease of the newborn (R14).
    "D69.41": ({"ind-autoimmune-hemolytic-anemia"}, set()),
    "P56.0": ({"ind-hemolytic-disease-of-newborn"}, set()),
    "P57.0": ({"ind-hemolytic-disease-of-newborn"}, set()),
    # Not systemic vasculitis (R17), not an IVIG uveitis (R18), not a sign of meningitis (R23).
    "M31.2": (set(), {"ind-systemic-vasculitis"}),
    "I77.6": (set(), {"ind-systemic-vasculitis"}),
    "H20.031": (set(), {"ind-uveitis"}),
    "R11.16": (set(), {"ue-aseptic-meningitis"}),
    # Diabetes is a renal risk factor, not an IVIG use (R22), in either code system.
    "http://snomed.info/sct|73211009": ({"warn-boxed-renal-failure"}, {"ind-diabetes-mellitus"}),
    # Noninfectious ADEM is filed at G04.81, a broader code: a recorded false negative (R10).
    "G04.81": (set(), {"ind-acute-disseminated-encephalomyelitis"}),
    # A care setting is not a patient's condition (R28).
    "http://snomed.info/sct|264362003": (set(), {"warn-setting-subsequent-infusions-home"}),
    # Growth-restricted low birth weight is filed in P05 (P07 Excludes1); under 2,500 g it is
    # the low-birth-weight context, 2,500 g and over not (R24).
    "P05.14": ({"ind-infection-prophylaxis-low-birth-weight"}, set()),
    "P05.09": (set(), {"ind-infection-prophylaxis-low-birth-weight"}),
    # Psoriatic JIA and sarcoid uveitis, sent out of M08 and H20 by Excludes1 (R25).
    "L40.54": ({"ind-juvenile-rheumatoid-arthritis"}, set()),
    "D86.83": ({"ind-uveitis"}, set()),
    # Exercise-induced bronchospasm is not asthma (R38).
    "J45.990": (set(), {"ind-asthma"}),
    # Dermato(poly)myositis codes that take polymyositis too: recorded false negatives (R28).
    "M36.0": (set(), {"ind-octagam-10-dermatomyositis", "ind-dermatomyositis"}),
}

# code -> issues it reaches as a risk factor of their population (not as their condition)
RISK: dict[str, set[str]] = {
    "N18.30": {"warn-boxed-renal-failure"},
    "E11.9": {"warn-boxed-renal-failure"},
    "Z86.718": {"warn-boxed-thrombosis"},
}


@pytest.fixture(scope="module")
def answers() -> dict[str, dict[str, Any]]:
    """Each code as the only coded problem of its own patient."""
    found = {}
    for code in [*CASES, *PARTIAL]:
        result = runner.invoke(app, ["match", code, "--export", str(EXPORT), "--format", "json"])
        assert result.exit_code == 0, result.output
        found[code] = json.loads(result.stdout)[0]
    return found


def _ids(answer: dict[str, Any], complete: bool = True) -> set[str]:
    return {hit["resource"].split("/", 1)[1] for hit in answer["hits"]
            if hit["complete"] is complete}


@pytest.mark.parametrize("code", list(CASES))
def test_patient_code_matches_what_it_should_and_nothing_it_should_not(
        answers: dict[str, dict[str, Any]], code: str) -> None:
    must, must_not = CASES[code]
    ids = _ids(answers[code])
    assert must <= ids, f"{code}: missing {must - ids}; got {sorted(ids)}"
    assert not ids & must_not, f"{code}: must not match {ids & must_not}"


# code -> uses it reaches only in part: the use needs a condition or comorbidity this code is not.
# A rule firing on these alone would reach patients without the disease.
PARTIAL: dict[str, set[str]] = {
    # Multiple sclerosis alone is not optic neuritis in multiple sclerosis.
    "G35.A": {"ind-optic-neuritis"},
    # CLL alone: the approved use is infection prevention in CLL with hypogammaglobulinaemia
    # or recurrent infections, a disease status only the record can confirm.
    "C91.10": {"ind-b-cell-chronic-lymphocytic-leukemia",
               "ind-gammagard-sd-cll-infection-prevention"},
    # Restrictions in words or populations: the record must confirm them (review R1, R4/R5).
    "M05.79": {"ind-rheumatoid-arthritis"},
    "M05.A": {"ind-rheumatoid-arthritis"},
    "G40.824": {"ind-infantile-spasms", "ind-pediatric-intractable-epilepsy"},
    "G40.823": {"ind-infantile-spasms", "ind-pediatric-intractable-epilepsy"},
    "G40.822": {"ind-infantile-spasms"},
    "M33.10": {"ind-octagam-10-dermatomyositis"},
    "D69.3": {"ind-privigen-chronic-itp", "ind-octagam-10-chronic-itp", "ind-gammagard-sd-itp"},
    # Review R3 (S1): the Gammagard S/D PI approval is for patients 2 years and older.
    "D81.1": {"ind-gammagard-sd-pi"},
    "G61.81": {"ind-privigen-cidp"},
    "L44.0": {"ind-pityriasis-rubra-pilaris"},
    # A coded anaphylaxis or drug-allergy status reaches the contraindication, which asks the
    # record whether the agent was a human immune globulin (R16).
    "T80.51XA": {"ci-severe-hypersensitivity-to-human-ig"},
    "T88.6XXS": {"ci-severe-hypersensitivity-to-human-ig"},
    "Z88.8": {"ci-severe-hypersensitivity-to-human-ig"},
    "H46.9": {"ind-optic-neuritis"},
    # Myeloma or ALL alone: the use is infection prevention in their hypogammaglobulinaemia (P15).
    "C90.01": {"ind-multiple-myeloma"},
    "C91.01": {"ind-acute-lymphoblastic-leukemia"},
}


@pytest.mark.parametrize("code", list(PARTIAL))
def test_a_comorbidity_alone_is_a_partial_hit_that_says_what_the_use_needs(
        answers: dict[str, dict[str, Any]], code: str) -> None:
    partial = _ids(answers[code], complete=False)
    assert PARTIAL[code] <= partial, f"{code}: {sorted(partial)}"
    assert not PARTIAL[code] & _ids(answers[code])
    for hit in answers[code]["hits"]:
        if not hit["complete"]:
            assert hit["needs"], hit


@pytest.mark.parametrize("code", list(RISK))
def test_a_risk_factor_reaches_the_boxed_warning_labelled_as_a_risk_factor(
        answers: dict[str, dict[str, Any]], code: str) -> None:
    hits = [h for h in answers[code]["hits"]
            if h["resource"].split("/", 1)[1] in RISK[code]]
    assert hits and all(h["role"] == "risk factor" and h["complete"] for h in hits), hits
    assert all("Boxed warning" in h["status"] for h in hits)


def test_the_risk_factor_groups_carry_the_label_s_age_and_codes() -> None:
    bundle = json.loads(EXPORT.read_text())
    groups = {e["resource"]["id"]: e["resource"] for e in bundle["entry"]
              if e["resource"]["resourceType"] == "Group"}
    age = groups["pop-renal-risk-age-over-65"]["characteristic"][0]["valueQuantity"]
    assert (age["comparator"], age["value"], age["code"]) == (">", 65, "a")
    # "advanced age" has no bound in the label: it stays words
    assert "valueQuantity" not in groups["pop-thrombosis-risk-advanced-age"]["characteristic"][0]
    renal = next(e["resource"] for e in bundle["entry"]
                 if e["resource"]["id"] == "warn-boxed-renal-failure")
    # The boxed warning applies to every recipient: its risk factors are an extension, not
    # `population`, which FHIR reads as whom it applies to (review R2, Q1).
    assert "population" not in renal
    assert {e["valueReference"]["reference"] for e in renal["extension"]
            if e["url"].endswith("/risk-factor")} == {
        f"Group/pop-renal-risk-{k}" for k in ("renal-insufficiency", "diabetes", "age-over-65",
                                              "volume-depletion", "sepsis", "paraproteinemia",
                                              "nephrotoxic-drugs")}
    assert all(g["code"]["coding"][0]["code"] == "risk-factor"
               for k, g in groups.items() if "-risk-" in k)


@pytest.mark.parametrize(("codes", "complete", "never"), [
    # GVHD after a stem-cell transplant is coded with the transplant complication (R1).
    (["D89.811", "T86.09"], "ind-graft-versus-host-disease", None),
    (["D89.811", "Z94.84"], "ind-graft-versus-host-disease", None),
    # Toxic optic neuropathy in MS is not optic neuritis (R9); retrobulbar neuritis is.
    (["G35.A", "H46.11"], "ind-optic-neuritis", None),
    (["G35.A", "H46.3"], None, "ind-optic-neuritis"),
    # Streptococcal toxic shock: A48.3 with the streptococcal organism code (R11); with a
    # staphylococcus it is not the use.
    (["A48.3", "B95.0"], "ind-streptococcal-toxic-shock-syndrome", None),
    (["A48.3", "B95.61"], None, "ind-streptococcal-toxic-shock-syndrome"),
])
def test_two_codes_of_one_patient(codes: list[str], complete: str | None,
                                  never: str | None) -> None:
    result = runner.invoke(app, ["match", *codes, "--export", str(EXPORT), "--format", "json"])
    assert result.exit_code == 0, result.output
    hits = {h["resource"].split("/", 1)[1]: h["complete"]
            for answer in json.loads(result.stdout) for h in answer["hits"]}
    if complete:
        assert hits.get(complete) is True, hits
    if never:  # at most partial: the comorbidity alone is reached
        assert hits.get(never) is not True, hits


def test_the_codes_of_one_patient_complete_a_use_together() -> None:
    result = runner.invoke(app, ["match", "G35.A", "H46.9", "--export", str(EXPORT),
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    ms, optic = json.loads(result.stdout)
    assert "ind-optic-neuritis" in _ids(ms) and "ind-optic-neuritis" in _ids(optic)


def test_enough_realistic_codes_with_hits_and_non_hits() -> None:
    assert len(CASES) >= 25
    assert sum(1 for must, _ in CASES.values() if must) >= 20
    assert sum(1 for _, never in CASES.values() if never) >= 15


def test_a_hit_carries_status_evidence_role_and_the_value_set_it_matched_through(
        answers: dict[str, dict[str, Any]]) -> None:
    hit = next(h for h in answers["G70.01"]["hits"]
               if h["resource"] == "ClinicalUseDefinition/ind-myasthenia-gravis")
    assert hit["kind"] == "indication" and hit["role"] == "condition"
    assert "Off-label use" in hit["status"] and "Listed in a guideline resource" in hit["status"]
    assert hit["via"].startswith("https://ivig-fhir.org/fhir/ValueSet/myasthenia-gravis|")
    spasms = next(h for h in answers["G40.824"]["hits"]
                  if h["resource"].endswith("/ind-infantile-spasms"))
    assert "refractory" in spasms["disease_status"]
    optic = next(h for h in answers["G35.A"]["hits"]
                 if h["resource"].endswith("/ind-optic-neuritis"))
    assert optic["role"] == "comorbidity" and not optic["complete"]
    assert "Optic neuritis" in optic["needs"]
    assert answers["G70.01"]["display"] == "Myasthenia gravis with (acute) exacerbation"


def test_text_output_lists_each_code_with_its_matches() -> None:
    result = runner.invoke(app, ["match", "G7001", "D84.821", "--export", str(EXPORT)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{ICD10CM}|G70.01 Myasthenia gravis with (acute) exacerbation")
    assert any("ClinicalUseDefinition/ind-myasthenia-gravis" in x and "Off-label use" in x
               for x in lines)
    assert not any(PI in x for x in lines)


def test_bad_codes_and_a_missing_export_are_usage_errors(tmp_path: Path) -> None:
    assert runner.invoke(app, ["match", "not a code", "--export", str(EXPORT)]).exit_code == 2
    missing = runner.invoke(app, ["match", "G70.01", "--export", str(tmp_path / "none.json")])
    assert missing.exit_code == 2 and "cannot read the export" in missing.output
    assert parse_code("91637004").system == SNOMED
    with pytest.raises(BadInput):
        parse_code("|G70.01")


def test_match_reads_the_export_not_the_yaml(tmp_path: Path) -> None:
    """Drop the myasthenia ValueSet from a copy of the export: the rule sees no match, even
    though the curated YAML still lists the code."""
    bundle = json.loads(EXPORT.read_text())
    bundle["entry"] = [e for e in bundle["entry"] if not (
        e["resource"]["resourceType"] == "ValueSet"
        and e["resource"]["id"] == "myasthenia-gravis")]
    edited = tmp_path / "bundle.json"
    edited.write_text(json.dumps(bundle))
    result = runner.invoke(app, ["match", "G70.01", "--export", str(edited), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["hits"] == []


# Pharmacist review P12: a vaccine order, coded in CVX, against the current interval. Measles-
# and varicella-containing vaccines reach the ACIP interaction; mumps- or rubella-only vaccines
# do not, and no vaccine reaches the retired page statement ("several weeks") through CVX.
VACCINES: dict[str, bool] = {
    "CVX|03": True,  # MMR
    "CVX|04": True,  # measles/rubella
    "CVX|05": True,  # measles
    "CVX|21": True,  # varicella
    "http://hl7.org/fhir/sid/cvx|94": True,  # MMRV, by URI
    "CVX|06": False,  # rubella
    "CVX|07": False,  # mumps
    "CVX|38": False,  # rubella/mumps
}


@pytest.mark.parametrize("code", list(VACCINES))
def test_a_vaccine_order_reaches_the_current_interval_only_if_measles_or_varicella(
        code: str) -> None:
    result = runner.invoke(app, ["match", code, "--export", str(EXPORT), "--format", "json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)[0]
    assert answer["system"] == "http://hl7.org/fhir/sid/cvx"
    hits = _ids(answer)
    assert ("int-measles-varicella-vaccines-after-ivig" in hits) is VACCINES[code]
    assert "int-vaccines" not in hits
    if VACCINES[code]:
        hit = next(h for h in answer["hits"]
                   if h["resource"].endswith("/int-measles-varicella-vaccines-after-ivig"))
        assert hit["role"] == "interactant"
        assert hit["via"].endswith("/ValueSet/measles-varicella-containing-vaccine|1.0.0")


def test_a_system_may_be_named_by_its_short_name() -> None:
    assert parse_code("CVX|03").system == "http://hl7.org/fhir/sid/cvx"
    assert parse_code("snomed ct|91637004").system == SNOMED
    assert parse_code("urn:example|x").system == "urn:example"


@pytest.mark.parametrize("text", ["FOO|1", "G61.81|x", "SNOMED CT|abc", "ICD-10-CM|not-a-code"])
def test_a_careless_system_or_code_is_refused_not_answered_with_no_matches(text: str) -> None:
    result = runner.invoke(app, ["match", text, "--export", str(EXPORT)])
    assert result.exit_code == 2, result.output
    assert text in result.output and "Traceback" not in result.output


def test_a_system_the_export_never_uses_is_said_to_reach_nothing() -> None:
    result = runner.invoke(app, ["match", "http://example.org/codes|1", "G61.81",
                                 "--export", str(EXPORT)])
    assert result.exit_code == 0, result.output
    assert "no ValueSet of the export holds a code of http://example.org/codes" in result.output
    assert "no ValueSet of the export holds a code of http://hl7.org/fhir/sid/icd-10-cm" \
        not in result.output
