"""Review R3 (2026-12-07), final sign-off review of the export: each decision as what a
decision-support rule sees for a realistic patient (`ivig-fhir match` on the checked-in
export), or as the resource a rule author reads.

The codes of one tuple are one patient's problems (`ivig-fhir match` reads them together).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import exported

HEMOLYSIS = "warn-hemolysis"
TRANSFUSION_USE = "ind-hemolytic-transfusion-reaction"
CLL_USES = {"ind-b-cell-chronic-lymphocytic-leukemia", "ind-gammagard-sd-cll-infection-prevention"}
# The current (PLR) Gammagard S/D label on DailyMed, and the earlier PLR one with 1.4 Kawasaki.
DAILYMED = "setid=9ac2ccbf-1271-477c-9cc9-811838432506"
DAILYMED_EARLIER = "setid=84bf3b45-f329-408d-a971-55c098f92cb0"



def _hit(codes: tuple[str, ...], resource: str) -> dict[str, Any]:
    wanted = f"ClinicalUseDefinition/{resource}"
    found = [h for h in exported.hits(codes) if h["resource"] == wanted]
    assert len(found) == 1, found
    return found[0]



def _source_urls(bundle: dict[str, dict[str, Any]], resource: str) -> list[str]:
    """The addresses of the documents the resource's Provenance names."""
    refs = [e["what"]["reference"].split("/", 1)[1]
            for e in bundle[f"prov-{resource}"]["entity"] if "reference" in e["what"]]
    return [bundle[r]["content"][0]["attachment"]["url"] for r in refs
            if bundle[r]["resourceType"] == "DocumentReference"]


# S1: (patient's codes, Gammagard S/D approval, words its `needs` must hold)
GAMMAGARD_SD = [
    # PI: the label approves it from 2 years of age (like Gammagard Liquid).
    (("D80.0",), "ind-gammagard-sd-pi", ["Patients 2 years of age and older"]),
    # ITP: adult chronic ITP only; chronic is a status no code shows.
    (("D69.3",), "ind-gammagard-sd-itp", ["'chronic'", "'Adults'"]),
    # Kawasaki syndrome in pediatric patients (P32 reopened).
    (("M30.3",), "ind-gammagard-sd-kawasaki", ["'Pediatric patients'"]),
]


@pytest.mark.parametrize(("codes", "approval", "needs"), GAMMAGARD_SD,
                         ids=[a for _, a, _ in GAMMAGARD_SD])
def test_review_r3_gammagard_sd_approvals_are_partial_on_the_labels_restriction(
        codes: tuple[str, ...], approval: str, needs: list[str]) -> None:
    """S1: before, D80.0 was a complete match (any age), D69.3 asked only for a rapid platelet
    rise, and M30.3 reached no product approval."""
    hit = _hit(codes, approval)
    assert not hit["complete"], hit
    assert all(n in hit["needs"] for n in needs), hit["needs"]


@pytest.mark.parametrize("approval", [a for _, a, _ in GAMMAGARD_SD])
def test_review_r3_gammagard_sd_approvals_cite_the_plr_label_and_keep_the_old_words(
        approval: str) -> None:
    """S1: each approval is read in a DailyMed PLR label; where the earlier (pre-PLR) insert
    said more or less, its words stay in the note, marked superseded in part."""
    bundle = exported.resources()
    urls = _source_urls(bundle, approval)
    assert any(DAILYMED in u or DAILYMED_EARLIER in u for u in urls), urls
    if approval != "ind-gammagard-sd-kawasaki":  # the pre-PLR insert has no Kawasaki section
        assert "Superseded in part" in bundle[approval]["text"]["div"]
        assert any("globalrph.com" in u for u in urls), urls
    ra = bundle["ra-gammagard-sd"]
    assert f"ClinicalUseDefinition/{approval}" in {
        i["reference"]["reference"] for i in ra["indication"]}


def test_review_r3_page_kawasaki_use_is_superseded_in_part_by_the_pediatric_approval() -> None:
    """S1 (as Q8 for CIDP and MMN): the page's ageless "FDA-approved" Kawasaki use stays
    active, marked superseded in part by the one label approval read (pediatric)."""
    res = exported.resources()["ind-kawasaki-disease"]
    assert res["status"]["coding"][0]["code"] == "active"
    assert any(c["code"] == "superseded-in-part"
               for cat in res["category"] for c in cat.get("coding", []))
    assert {e["valueReference"]["reference"] for e in res["extension"]
            if e["url"].endswith("/superseded-by")} == {
        "ClinicalUseDefinition/ind-gammagard-sd-kawasaki"}
    assert "Superseded in part" in _hit(("M30.3",), "ind-kawasaki-disease")["status"]


@pytest.mark.parametrize(("codes", "warned"), [
    # S2: the incompatibility named (T80.91 Excludes1): ABO, Rh, non-ABO.
    (("T80.310A",), True),
    (("T80.410A",), True),
    (("T80.A10A",), True),
    (("T80.311D",), True),
    # An ABO incompatibility reaction with no hemolytic reaction is not hemolysis.
    (("T80.39XA",), False),
])
def test_review_r3_named_incompatibility_reaches_the_hemolysis_warning(
        codes: tuple[str, ...], warned: bool) -> None:
    """S2: before, a worked-up hemolysis after IVIG reached only the transfusion-reaction use,
    held in conflict with a warning the code never reached."""
    hits = exported.hits(codes)
    ids = {h["resource"].split("/", 1)[1] for h in hits}
    assert (HEMOLYSIS in ids) is warned, hits
    assert (TRANSFUSION_USE in ids) is warned, hits
    if warned:
        use = next(h for h in hits if h["resource"].endswith(f"/{TRANSFUSION_USE}"))
        assert "In conflict, held for review" in use["status"]
        res = exported.resources()[TRANSFUSION_USE]
        assert res["status"]["coding"][0]["code"] == "draft"
        assert {e["valueReference"]["reference"] for e in res["extension"]
                if e["url"].endswith("/conflicts-with")} == {
            f"ClinicalUseDefinition/{HEMOLYSIS}"}


@pytest.mark.parametrize("code", ["C83.00", "C83.07"])
def test_review_r3_small_lymphocytic_lymphoma_gap_is_recorded(code: str) -> None:
    """S3, accepted: C83.0 is broader than B-CLL (it also takes marginal zone and
    lymphoplasmacytic lymphomas), so it reaches no CLL use; the CLL ValueSet tells the rule
    author so, with what to do locally."""
    assert not {h["resource"].split("/", 1)[1] for h in exported.hits((code,))} & CLL_USES
    div = exported.resources()["b-cell-chronic-lymphocytic-leukemia"]["text"]["div"]
    assert "C83.0" in div and "committee call" in div
    # C91.1 still reaches both uses, partial until the hypogammaglobulinemia is confirmed.
    hits = exported.hits(("C91.10",))
    assert {h["resource"].split("/", 1)[1] for h in hits if not h["complete"]} >= CLL_USES


def test_review_r3_catheter_risk_factor_in_the_labels_words() -> None:
    """S4: the boxed warnings say "indwelling vascular catheters", not only central ones."""
    group = exported.resources()["pop-thrombosis-risk-central-catheter"]
    assert group["name"] == "At risk of thrombosis: indwelling vascular catheter"
    assert "central vascular catheter" not in json.dumps(group)


def test_review_r3_drug_induced_enzyme_deficiency_over_alert_is_recorded() -> None:
    """S5, accepted: D59.2 also takes G6PD-type hemolysis; the warning still fires (safe side)
    and the ValueSet says why."""
    assert HEMOLYSIS in {h["resource"].split("/", 1)[1] for h in exported.hits(("D59.2",))}
    div = exported.resources()["ivig-hemolysis"]["text"]["div"]
    assert "Drug-induced enzyme deficiency anemia" in div and "Review R3 (S5)" in div


def test_review_r3_drugs_com_source_says_its_indications_were_not_curated() -> None:
    """S6: the Drugs.com copy's description no longer suggests its indications were read."""
    doc = exported.resources()["src-label-gammagard-sd-drugs-com"]
    assert "Indications and Usage were not curated from this copy" in doc["description"]
