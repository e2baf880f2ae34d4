"""Review R1, label layer (rows R15, R21, R23, R26, R32), read from the checked-in export.

Product subjects follow what each product's own label text read says; the post-exposure
prophylaxis uses are prevention and reach only the codes that name their exposure; the ACIP
intervals are computable (dose band as a Range, interval as a Duration, one row each).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ivig_fhir.match import match, parse_code

ROOT = Path(__file__).resolve().parents[1]
EXPORT = ROOT / "output" / "ivig-fhir-bundle.json"
BASE = "https://ivig-fhir.org/fhir/StructureDefinition/"
JsonDict = dict[str, Any]


@pytest.fixture(scope="module")
def bundle() -> JsonDict:
    data: JsonDict = json.loads(EXPORT.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def cuds(bundle: JsonDict) -> dict[str, JsonDict]:
    return {e["resource"]["id"]: e["resource"] for e in bundle["entry"]
            if e["resource"]["resourceType"] == "ClinicalUseDefinition"}


def _products(cud: JsonDict) -> set[str]:
    return {s["reference"].split("/", 1)[1] for s in cud.get("subject", [])
            if s["reference"].startswith("MedicinalProductDefinition/")}


def _generic(cud: JsonDict) -> bool:
    return any(s["reference"] == "Medication/ivig" for s in cud.get("subject", []))


# resource -> the product definitions whose label text read states it (exactly those)
SUBJECTS = {
    # R15: the Gammagard S/D label's boxed warning was read (Drugs.com copy, 2023).
    "warn-boxed-thrombosis": {"mpd-privigen", "mpd-gammagard-liquid", "mpd-gammagard-sd",
                              "mpd-octagam-10"},
    "warn-boxed-renal-failure": {"mpd-privigen", "mpd-gammagard-liquid", "mpd-gammagard-sd",
                                 "mpd-octagam-10"},
    # Section 4 of the Privigen and Gammagard S/D labels was not read: not subjects (recorded
    # as not verified), the class-wide contraindication stays on the generic IVIG.
    "ci-severe-hypersensitivity-to-human-ig": {"mpd-gammagard-liquid", "mpd-octagam-10"},
    # R32: a copy of the Privigen label states the anti-IgA contraindication.
    "ci-iga-deficiency-with-anti-iga-antibodies": {"mpd-privigen", "mpd-gammagard-liquid",
                                                   "mpd-octagam-10"},
    "ci-hyperprolinemia": {"mpd-privigen"},
    # R23: section 5, only for the labels whose text was read, none class-wide.
    "warn-hemolysis": {"mpd-privigen"},
    "warn-trali": {"mpd-privigen"},
    "warn-aseptic-meningitis-syndrome": {"mpd-privigen"},
    "warn-hyperproteinemia-pseudohyponatremia": {"mpd-privigen", "mpd-gammagard-liquid"},
    "warn-transmissible-infectious-agents": {"mpd-privigen", "mpd-gammagard-sd"},
}
CLASS_WIDE = {"warn-boxed-thrombosis", "warn-boxed-renal-failure",
              "ci-severe-hypersensitivity-to-human-ig",
              "ci-iga-deficiency-with-anti-iga-antibodies"}


@pytest.mark.parametrize("cud_id", list(SUBJECTS))
def test_product_subjects_follow_the_labels_read(cuds: dict[str, JsonDict], cud_id: str) -> None:
    cud = cuds[cud_id]
    assert _products(cud) == SUBJECTS[cud_id]
    assert _generic(cud) is (cud_id in CLASS_WIDE)


def test_section_5_warnings_are_label_current_and_cited(bundle: JsonDict,
                                                        cuds: dict[str, JsonDict]) -> None:
    targets = {p["target"][0]["reference"] for p in (e["resource"] for e in bundle["entry"])
               if p["resourceType"] == "Provenance"}
    for cud_id in ("warn-hemolysis", "warn-trali", "warn-aseptic-meningitis-syndrome",
                   "warn-hyperproteinemia-pseudohyponatremia",
                   "warn-transmissible-infectious-agents"):
        codes = {c["code"] for cat in cuds[cud_id]["category"] for c in cat.get("coding", [])}
        assert "label-current" in codes, cud_id
        assert f"ClinicalUseDefinition/{cud_id}" in targets, cud_id


def test_trali_warning_is_coded_and_matches(bundle: JsonDict) -> None:
    answers, _ = match(bundle, [parse_code("J95.84")])
    assert "ClinicalUseDefinition/warn-trali" in {h.resource for h in answers[0].hits}


# code -> (must match, must not match): one patient each.
PEP_CASES: dict[str, tuple[set[str], set[str]]] = {
    # Exposure to varicella: the prevention use is reached, but only in part until the record
    # confirms the contact cannot be vaccinated (review R2, Q6): never a complete hit alone.
    "Z20.820": (set(), {"ind-varicella-postexposure-prophylaxis",
                        "ind-measles-postexposure-prophylaxis"}),
    # Exposure to another viral disease (where measles exposure is coded): broader, refused
    # for a use, so neither post-exposure use fires.
    "Z20.828": (set(), {"ind-measles-postexposure-prophylaxis",
                        "ind-varicella-postexposure-prophylaxis"}),
    # The diseases themselves are not the exposure the prophylaxis is for.
    "B01.9": (set(), {"ind-varicella-postexposure-prophylaxis"}),
    "B05.9": (set(), {"ind-measles-postexposure-prophylaxis"}),
    # Another exposure code of the same category is not varicella.
    "Z20.821": (set(), {"ind-varicella-postexposure-prophylaxis"}),
}


@pytest.mark.parametrize("code", list(PEP_CASES))
def test_post_exposure_prophylaxis_hits_and_non_hits(bundle: JsonDict, code: str) -> None:
    answers, _ = match(bundle, [parse_code(code)])
    ids = {h.resource.split("/", 1)[1] for h in answers[0].hits if h.complete}
    must, must_not = PEP_CASES[code]
    assert must <= ids, f"{code}: missing {must - ids}"
    if code == "Z20.820":
        partial = {h.resource.split("/", 1)[1] for h in answers[0].hits if not h.complete}
        assert partial == {"ind-varicella-postexposure-prophylaxis"}, partial
    assert not ids & must_not, f"{code}: must not match {ids & must_not}"


@pytest.mark.parametrize("key", ["measles", "varicella"])
def test_post_exposure_uses_are_prevention_from_immunization_guidance(
        cuds: dict[str, JsonDict], key: str) -> None:
    cud = cuds[f"ind-{key}-postexposure-prophylaxis"]
    effect = cud["indication"]["intendedEffect"]["concept"]["coding"][0]["code"]
    assert effect == "prevention"
    codes = {c["code"] for cat in cud["category"] for c in cat.get("coding", [])}
    assert {"off-label", "immunization-guidance"} <= codes
    assert cud["status"]["coding"][0]["code"] == "active"


def test_measles_prophylaxis_names_the_population_the_table_names(
        bundle: JsonDict, cuds: dict[str, JsonDict]) -> None:
    cud = cuds["ind-measles-postexposure-prophylaxis"]
    assert [p["reference"] for p in cud["population"]] == ["Group/pop-immunocompromised-contacts"]
    group = next(e["resource"] for e in bundle["entry"]
                 if e["resource"]["id"] == "pop-immunocompromised-contacts")
    assert group["characteristic"][0]["valueCodeableConcept"]["text"] == "Immunocompromised"
    # The varicella row names no population: none is invented.
    assert "population" not in cuds["ind-varicella-postexposure-prophylaxis"]


def _interval_rows(cud: JsonDict) -> list[tuple[float, float, str, float, str]]:
    rows = []
    for m in cud["interaction"]["management"]:
        ext = {e["url"].removeprefix(BASE): e for e in m.get("extension", [])}
        if not ext:
            continue
        dose, wait = ext["interval-dose"]["valueRange"], ext["interval-duration"]["valueDuration"]
        assert dose["low"]["system"] == wait["system"] == "http://unitsofmeasure.org"
        assert dose["low"]["code"] == dose["high"]["code"]
        rows.append((dose["low"]["value"], dose["high"]["value"], dose["low"]["code"],
                     wait["value"], wait["code"]))
    return rows


def test_acip_intervals_are_computable_dose_bands_and_durations(
        cuds: dict[str, JsonDict]) -> None:
    rows = _interval_rows(cuds["int-measles-varicella-vaccines-after-ivig"])
    assert rows == [
        (300, 400, "mg/kg", 8, "mo"),  # replacement therapy for immune deficiencies
        (400, 400, "mg/kg", 8, "mo"),  # post-exposure measles, immunocompromised contacts
        (400, 400, "mg/kg", 8, "mo"),  # post-exposure varicella
        (400, 400, "mg/kg", 8, "mo"),  # ITP
        (1000, 1000, "mg/kg", 10, "mo"),  # ITP
        (2000, 2000, "mg/kg", 11, "mo"),  # Kawasaki disease
    ]


def _deferral(cud: JsonDict, dose_mg_per_kg: float) -> list[float]:
    """What a vaccine-deferral rule computes: the intervals whose dose band holds the dose."""
    return sorted({wait for low, high, _, wait, _ in _interval_rows(cud)
                   if low <= dose_mg_per_kg <= high})


def test_a_rule_reads_the_interval_by_dose_whatever_the_use(cuds: dict[str, JsonDict]) -> None:
    cud = cuds["int-measles-varicella-vaccines-after-ivig"]
    # A GBS patient given 2 g/kg: no row names GBS, the dose row answers.
    assert _deferral(cud, 2000) == [11]
    assert _deferral(cud, 1000) == [10]
    assert _deferral(cud, 350) == [8]
    # A dose between the table's rows gets no interval: the table is not interpolated.
    assert _deferral(cud, 1500) == []


def test_interval_text_reads_dose_first(cuds: dict[str, JsonDict]) -> None:
    texts = [m["text"] for m in cuds["int-measles-varicella-vaccines-after-ivig"]["interaction"]
             ["management"] if m.get("extension")]
    assert texts[-1].startswith("IVIG 2000 mg/kg (e.g. Kawasaki disease): wait 11 months")
    assert all(t.startswith("IVIG ") for t in texts)


def test_interval_extensions_are_defined_for_the_management_element(bundle: JsonDict) -> None:
    defs = {e["resource"]["id"]: e["resource"] for e in bundle["entry"]
            if e["resource"]["resourceType"] == "StructureDefinition"}
    for id_, value_type in (("interval-dose", "Range"), ("interval-duration", "Duration")):
        sd = defs[id_]
        assert [c["expression"] for c in sd["context"]] == [
            "ClinicalUseDefinition.interaction.management"]
        value = next(e for e in sd["differential"]["element"] if e["path"] == "Extension.value[x]")
        assert value["type"] == [{"code": value_type}]
