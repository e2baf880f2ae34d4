"""`ivig-fhir review` without a browser: content, determinism, escaping, the changes page, and
what it refuses to overwrite. (In a real browser: test_review_browser.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.review.conftest import Exports, cli

from ivig_fhir.review import MARKER
from ivig_fhir.review.model import anchor

BUNDLE = "ivig-fhir-bundle.json"


def _cuds(folder: Path) -> list[dict[str, object]]:
    bundle = json.loads((folder / BUNDLE).read_text(encoding="utf-8"))
    return [e["resource"] for e in bundle["entry"]
            if e["resource"]["resourceType"] == "ClinicalUseDefinition"]


def test_the_pack_is_deterministic_and_self_contained(exports: Exports, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        code, _, stderr = cli("review", exports.approved / BUNDLE, "--out", out)
        assert code == 0, stderr
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted([MARKER, "index.html"])
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    html = (first / "index.html").read_text(encoding="utf-8")
    # nothing to fetch: no external or even local resource references
    assert not re.search(r"""(src|href)=["'](?!#|index\.html|changes\.html)""", html)
    assert "@import" not in html and "url(" not in html


def test_every_clinical_use_appears_with_its_codes_in_label_order(
        exports: Exports, tmp_path: Path) -> None:
    out = tmp_path / "pack"
    assert cli("review", exports.approved / BUNDLE, "--out", out)[0] == 0
    html = (out / "index.html").read_text(encoding="utf-8")
    for cud in _cuds(exports.approved):
        start = html.index(f'id="{anchor("ClinicalUseDefinition/" + str(cud["id"]))}"')
        card = html[start:html.index("</article>", start)]
        for code in re.findall(r'"code": "([^"]+)"', json.dumps(
                {k: v for k, v in cud.items() if k != "status"})):
            assert f'<td class="code">{code}</td>' in card, (cud["id"], code)
    order = [html.index(f'id="{a}"') for a in ("product", "dosing", "uses", "warnings",
                                                "interactions", "effects", "populations")]
    assert order == sorted(order)
    # official ICD-10-CM meaning, curation note, source and approval are on the page
    assert "simple-icd-10-cm" in html
    assert "Curation note:" in html
    assert 'href="#src-ivig-uses-' in html
    assert "Dr Ada Byron, PharmD" in html and "Not approved" not in html


def test_unapproved_export_says_so(exports: Exports, tmp_path: Path) -> None:
    out = tmp_path / "pack"
    assert cli("review", exports.edited / BUNDLE, "--out", out)[0] == 0
    assert "Not approved" in (out / "index.html").read_text(encoding="utf-8")


def test_export_text_is_escaped_and_unknown_marks_stand_out(
        exports: Exports, tmp_path: Path) -> None:
    bundle = json.loads((exports.approved / BUNDLE).read_text(encoding="utf-8"))
    cud = next(e["resource"] for e in bundle["entry"]
               if e["resource"]["resourceType"] == "ClinicalUseDefinition")
    cud["text"]["div"] = cud["text"]["div"].replace(
        "</div>", "<p><i>Curation note:</i> &lt;script&gt;alert(1)&lt;/script&gt;</p></div>")
    cud["extension"] = [{"url": "https://example.org/StructureDefinition/source-conflict",
                         "valueString": "the two sources disagree"}]
    cud["category"] = [*cud.get("category", []), {"coding": [{
        "system": "https://example.org/CodeSystem/curation-flag", "code": "superseded",
        "display": "Superseded source statement"}]}]
    hostile = tmp_path / "hostile.json"
    hostile.write_text(json.dumps(bundle), encoding="utf-8")
    out = tmp_path / "pack"
    assert cli("review", hostile, "--out", out)[0] == 0
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    start = html.index(f'id="{anchor("ClinicalUseDefinition/" + cud["id"])}"')
    card = html[html.rindex("<article", 0, start):html.index("</article>", start)]
    assert 'class="item alarm"' in card and 'data-flagged="1"' in card
    assert '<li class="alarm">source-conflict: the two sources disagree</li>' in card
    assert '<li class="alarm">category: Superseded source statement ' \
           '(https://example.org/CodeSystem/curation-flag)</li>' in card


def test_changed_since_shows_the_changed_fact_field_by_field(
        exports: Exports, tmp_path: Path) -> None:
    out = tmp_path / "pack"
    code, _, stderr = cli("review", exports.edited / BUNDLE, "--out", out,
                          "--since", exports.approved / BUNDLE)
    assert code == 0, stderr
    html = (out / "changes.html").read_text(encoding="utf-8")
    start = html.index('id="change-ClinicalUseDefinition-ue-thrombosis"')
    card = html[start:html.index("</article>", start)]
    assert "undesirableEffect.frequencyOfOccurrence" in card
    assert "<del>Very rare [very-rare]</del>" in card
    assert "<ins>Rare [Rare]</ins>" in card
    assert 'href="index.html#ClinicalUseDefinition-ue-thrombosis"' in card
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'id="ClinicalUseDefinition-ue-thrombosis"' in index
    assert 'href="changes.html"' in index


def test_out_must_be_empty_or_a_previous_pack(exports: Exports, tmp_path: Path) -> None:
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "index.html").write_text("my own page", encoding="utf-8")
    code, _, stderr = cli("review", exports.approved / BUNDLE, "--out", mine)
    assert code == 2 and "holds no review pack" in stderr
    assert (mine / "index.html").read_text(encoding="utf-8") == "my own page"
    # a previous pack is replaced, files it did not write are left alone
    pack = tmp_path / "pack"
    assert cli("review", exports.edited / BUNDLE, "--out", pack, "--since",
               exports.approved / BUNDLE)[0] == 0
    (pack / "reviewer-notes.txt").write_text("keep me", encoding="utf-8")
    assert cli("review", exports.approved / BUNDLE, "--out", pack)[0] == 0
    assert not (pack / "changes.html").exists()  # the pack's own stale page goes
    assert (pack / "reviewer-notes.txt").read_text(encoding="utf-8") == "keep me"


def test_unreadable_export_is_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    code, _, stderr = cli("review", bad, "--out", tmp_path / "pack")
    assert code == 2 and "not JSON" in stderr
    assert not (tmp_path / "pack").exists()


def test_pdf_without_chromium_fails_clearly(exports: Exports, tmp_path: Path,
                                            monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium on it
    code, _, stderr = cli("review", exports.approved / BUNDLE, "--out", tmp_path / "pack",
                          "--pdf")
    assert code == 2
    assert "--pdf needs Chromium, and none is installed" in stderr


def test_codes_link_to_the_value_sets_of_the_export(exports: Exports, tmp_path: Path) -> None:
    bundle = json.loads((exports.approved / BUNDLE).read_text(encoding="utf-8"))
    value_set = {"resourceType": "ValueSet", "id": "ivig-fda-approved-conditions",
                 "url": "https://ivig-fhir.org/fhir/ValueSet/ivig-fda-approved-conditions",
                 "title": "Conditions of FDA-approved IVIG uses", "status": "active",
                 "compose": {"include": [{"system": "http://hl7.org/fhir/sid/icd-10-cm",
                                          "concept": [{"code": "M30.3"}]}]}}
    bundle["entry"].append({"resource": value_set})
    with_vs = tmp_path / "with-value-set.json"
    with_vs.write_text(json.dumps(bundle), encoding="utf-8")
    out = tmp_path / "pack"
    assert cli("review", with_vs, "--out", out)[0] == 0
    html = (out / "index.html").read_text(encoding="utf-8")
    assert 'id="ValueSet-ivig-fda-approved-conditions"' in html
    # Kawasaki's M30.3 is an equivalent coding of its CodeableConcept (the PI use has no ICD-10-CM
    # coding since review R1, R8: D80 is narrower than the concept).
    start = html.index('id="ClinicalUseDefinition-ind-kawasaki-disease"')
    card = html[start:html.index("</article>", start)]
    row = card[card.index('<td class="code">M30.3</td>'):]
    row = row[:row.index("</tr>")]
    assert '<a href="#ValueSet-ivig-fda-approved-conditions">Conditions of FDA-approved IVIG ' \
           'uses</a>' in row
