"""Review R2 (2026-12-07), sign-off review of the export: each fix as what a decision-support
rule sees for a realistic patient, a hit and a non-hit, on the checked-in export.

The codes of one tuple are one patient's problems (`ivig-fhir match` reads them together).
"""

from __future__ import annotations

from typing import Any

import pytest

import exported

BOXED_THROMBOSIS = "warn-boxed-thrombosis"
BOXED_RENAL = "warn-boxed-renal-failure"
MI = "ue-myocardial-infarction"
VASCULITIS = "ind-systemic-vasculitis"




def _ids(hits: list[dict[str, Any]], **where: Any) -> set[str]:
    return {h["resource"].split("/", 1)[1] for h in hits
            if all(h.get(k) == v for k, v in where.items())}



# (patient's codes) -> (issues reached as a current condition/reaction, issues it must not reach)
CONDITION: dict[tuple[str, ...], tuple[set[str], set[str]]] = {
    # Q2: coronary thrombosis is arterial thrombosis: MI reaches the boxed warning, not only the
    # very-rare MI reaction; type 2 and microvascular MI are not thrombotic.
    ("I21.4",): ({BOXED_THROMBOSIS, MI}, set()),
    ("I22.2",): ({BOXED_THROMBOSIS, MI}, set()),
    ("I24.0",): ({BOXED_THROMBOSIS}, set()),
    ("I21.A1",): ({MI}, {BOXED_THROMBOSIS}),
    ("I21.B",): ({MI}, {BOXED_THROMBOSIS}),
    # Q9: M31.8 includes septic vasculitis: broader, left out.
    ("M31.8",): (set(), {VASCULITIS}),
    ("M31.7",): ({VASCULITIS}, set()),
}

# (patient's codes) -> (warnings reached with role "risk factor", warnings it must not reach)
RISK: dict[tuple[str, ...], tuple[set[str], set[str]]] = {
    # Q3: history of thrombophlebitis, old MI.
    ("Z86.72",): ({BOXED_THROMBOSIS}, set()),
    ("I25.2",): ({BOXED_THROMBOSIS}, set()),
    # Q4: paraproteinemias by definition; plasmacytoma left out as broader.
    ("C90.10",): ({BOXED_RENAL}, set()),
    ("C88.20",): ({BOXED_RENAL}, set()),
    ("E85.81",): ({BOXED_RENAL}, set()),
    ("C90.30",): (set(), {BOXED_RENAL}),
    # Q5: obstetric sepsis codes that carry no A40/A41 code.
    ("O08.82",): ({BOXED_RENAL}, set()),
    ("O03.87",): ({BOXED_RENAL}, set()),
    ("O86.04",): (set(), {BOXED_RENAL}),
    # Q11 (accepted): CKD 1 stays a risk factor, on the safe side.
    ("N18.1",): ({BOXED_RENAL}, set()),
}


@pytest.mark.parametrize("codes", list(CONDITION), ids=" ".join)
def test_review_r2_condition_hits_and_non_hits(codes: tuple[str, ...]) -> None:
    must, must_not = CONDITION[codes]
    hits = exported.hits(codes)
    assert must <= _ids(hits, complete=True), hits
    assert not _ids(hits) & must_not, hits


@pytest.mark.parametrize("codes", list(RISK), ids=" ".join)
def test_review_r2_risk_factor_hits_and_non_hits(codes: tuple[str, ...]) -> None:
    must, must_not = RISK[codes]
    hits = exported.hits(codes)
    assert must <= _ids(hits, role="risk factor"), hits
    assert not _ids(hits) & must_not, hits


@pytest.mark.parametrize("warning", [BOXED_THROMBOSIS, BOXED_RENAL])
def test_review_r2_boxed_warnings_apply_to_every_recipient(warning: str) -> None:
    """Q1: FHIR reads `population` as whom the warning applies to; the risk factors are an
    extension, so a patient with no risk-factor code still gets the warning."""
    res = exported.resources()[warning]
    assert "population" not in res
    factors = [e["valueReference"]["reference"] for e in res["extension"]
               if e["url"] == "https://ivig-fhir.org/fhir/StructureDefinition/risk-factor"]
    assert factors and all(f.startswith("Group/pop-") for f in factors)


def test_review_r2_varicella_exposure_alone_is_partial_and_asks_about_vaccine() -> None:
    """Q6: a healthy exposed contact gets vaccine, not IVIG: the source read names no
    population, so the use is partial and asks the record to confirm."""
    hits = [h for h in exported.hits(("Z20.820",))
            if h["resource"].endswith("/ind-varicella-postexposure-prophylaxis")]
    assert hits and not any(h["complete"] for h in hits)
    assert all("confirm not eligible for vaccine" in h["needs"] for h in hits)


@pytest.mark.parametrize(("page_use", "label_use", "code"), [
    ("ind-cidp", "ind-privigen-cidp", "G61.81"),
    ("ind-multifocal-motor-neuropathy", "ind-gammagard-liquid-mmn", "G61.82"),
])
def test_review_r2_page_approvals_without_age_are_superseded_in_part(
        page_use: str, label_use: str, code: str) -> None:
    """Q8: every label approval read is for adults, so the page's ageless "FDA-approved" use
    is marked superseded in part by it (as P8 for dermatomyositis)."""
    res = exported.resources()[page_use]
    assert any(c["code"] == "superseded-in-part"
               for cat in res["category"] for c in cat.get("coding", []))
    assert {e["valueReference"]["reference"] for e in res["extension"]
            if e["url"].endswith("/superseded-by")} == {f"ClinicalUseDefinition/{label_use}"}
    hits = exported.hits((code,))
    assert label_use in _ids(hits, complete=False)
    assert page_use in _ids(hits)


@pytest.mark.parametrize(("codes", "warned", "use_flagged", "no_use"), [
    # Q7: hemolysis after IVIG is coded as a hemolytic transfusion reaction or as a drug-induced
    # hemolytic anemia: the warning fires, and the transfusion-reaction use is held (conflict).
    (("T80.910A",), True, "ind-hemolytic-transfusion-reaction", None),
    (("D59.0", "T45.8X5A"), True, None, "ind-autoimmune-hemolytic-anemia"),
    (("D59.11",), False, None, None),
])
def test_review_r2_hemolysis_is_a_warning_and_the_use_is_held(
        codes: tuple[str, ...], warned: bool, use_flagged: str | None,
        no_use: str | None) -> None:
    hits = exported.hits(codes)
    assert ("warn-hemolysis" in _ids(hits)) is warned, hits
    if use_flagged:
        res = exported.resources()[use_flagged]
        assert res["status"]["coding"][0]["code"] == "draft"
        assert {e["valueReference"]["reference"] for e in res["extension"]
                if e["url"].endswith("/conflicts-with")} == {
            "ClinicalUseDefinition/warn-hemolysis"}
    if no_use:
        assert no_use not in _ids(hits)


def test_review_r2_gammagard_sd_carries_the_package_ndc_read() -> None:
    """Q10: orders carry the package NDC; the product NDC stays for rules that strip it."""
    ndcs = {i["value"] for i in exported.resources()["mpd-gammagard-sd"]["identifier"]
            if i["system"] == "http://hl7.org/fhir/sid/ndc"}
    assert ndcs == {"0944-2658", "0944-2658-04"}
