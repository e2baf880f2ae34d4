"""The review pack in a real browser: Debian's headless Chromium driven by Playwright (the
system browser through executable_path; no browser download). Every ClinicalUseDefinition
appears with its codes, search and filters work, every in-page link lands on its anchor, no
console error, no request leaves file://, axe-core finds no serious or critical violation.
Artefacts (the pack, its PDF, a screenshot of the first page) go to tests/artifacts/."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.review.conftest import Exports, cli

from ivig_fhir.review.model import anchor

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
BUNDLE = "ivig-fhir-bundle.json"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
AXE = "axe-core@4"


def _axe_source() -> str:
    """axe-core's browser script, fetched once with `npm pack` into the user cache."""
    base = os.environ.get("IVIG_FHIR_CACHE") or str(Path.home() / ".cache" / "ivig-fhir")
    cache = Path(base) / "axe-core"
    script = cache / "axe.min.js"
    if not script.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["npm", "pack", AXE, "--silent", "--pack-destination", str(cache)],
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, f"npm pack {AXE} failed: {done.stderr}"
        tgz = cache / done.stdout.strip().splitlines()[-1]
        with tarfile.open(tgz, "r:gz") as tar:
            member = tar.extractfile("package/axe.min.js")
            assert member is not None
            script.write_bytes(member.read())
    return script.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def pack(exports: Exports) -> Path:
    """The pack of the edited export, with the changes since the approved one and its PDF,
    rendered by the CLI into tests/artifacts/review-pack (a previous pack there is replaced)."""
    out = ARTIFACTS / "review-pack"
    code, stdout, stderr = cli("review", exports.edited / BUNDLE, "--out", out, "--since",
                               exports.approved / BUNDLE, "--pdf")
    assert code == 0, stderr
    print(stdout)
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=shutil.which("chromium"), args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Watched:
    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.outside: list[str] = []


@pytest.fixture
def page(browser: Any, pack: Path) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watched = Watched(page)

    def route(r: Any) -> None:
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            watched.outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and watched.errors.append(m.text))
    page.on("pageerror", lambda e: watched.errors.append(str(e)))
    page.goto((pack / "index.html").as_uri())
    yield watched
    context.close()
    assert watched.errors == [], "console errors"
    assert watched.outside == [], "requests left file://"


def _codes(node: Any) -> set[str]:
    if isinstance(node, dict):
        here = {str(node["code"])} if "system" in node and "code" in node else set()
        return here.union(*(_codes(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_codes(v) for v in node))
    return set()


def _cud_codes(folder: Path) -> dict[str, set[str]]:
    bundle = json.loads((folder / BUNDLE).read_text(encoding="utf-8"))
    return {anchor(f"ClinicalUseDefinition/{e['resource']['id']}"): _codes(
                {k: v for k, v in e["resource"].items() if k != "status"})
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "ClinicalUseDefinition"}


def test_every_clinical_use_definition_appears_with_its_codes(
        page: Watched, exports: Exports) -> None:
    expected = _cud_codes(exports.edited)
    assert len(expected) > 100
    shown = page.page.evaluate("""() => Object.fromEntries(
        Array.from(document.querySelectorAll('article.item')).map(a => [a.id,
          Array.from(a.querySelectorAll('table.codes td.code')).map(td => td.textContent)]))""")
    for item_id, codes in expected.items():
        assert item_id in shown, item_id
        assert page.page.is_visible(f"#{item_id}")
        assert codes <= set(shown[item_id]), (item_id, codes - set(shown[item_id]))


def test_search_and_filters(page: Watched) -> None:
    p = page.page
    total = p.locator("article.item").count()
    assert p.inner_text("#shown") == f"{total} of {total} items shown"

    def visible() -> list[str]:
        return list(p.evaluate("""() => Array.from(document.querySelectorAll(
            'article.item')).filter(a => !a.hidden).map(a => a.id)"""))

    p.fill("#q", "kawasaki")
    hits = visible()
    # the page's use and the Gammagard S/D approval, and the few items that name it
    assert {"ClinicalUseDefinition-ind-kawasaki-disease",
            "ClinicalUseDefinition-ind-gammagard-sd-kawasaki"} <= set(hits)
    assert len(hits) < 10 < total
    assert all("kawasaki" in p.inner_text(f"#{h}").lower() for h in hits)
    assert p.inner_text("#shown") == f"{len(hits)} of {total} items shown"
    p.fill("#q", "G03.0")  # a code finds the item that carries it
    assert "ClinicalUseDefinition-ue-aseptic-meningitis" in visible()
    p.fill("#q", "")
    p.select_option("#f-section", "effects")
    assert sorted(visible()) == sorted(p.evaluate("""() => Array.from(document.querySelectorAll(
        '#effects article.item')).map(a => a.id)"""))
    assert len(visible()) == 8
    assert not p.is_visible("#uses")  # a section with nothing left is hidden
    p.select_option("#f-section", "")
    p.select_option("#f-status", "Off-label use")
    off = visible()
    assert off and all(p.get_attribute(f"#{i}", "data-status") == "Off-label use" for i in off)
    p.select_option("#f-status", "")
    p.check("#f-flagged")
    flagged = visible()
    assert all(p.get_attribute(f"#{i}", "data-flagged") == "1" for i in flagged)
    p.uncheck("#f-flagged")
    assert len(visible()) == total


def test_every_link_lands_on_its_anchor(page: Watched) -> None:
    missing = page.page.evaluate("""() => Array.from(document.querySelectorAll('a[href^="#"]'))
        .map(a => a.getAttribute('href').slice(1))
        .filter(id => !document.getElementById(id))""")
    assert missing == []
    # click every source link: its target scrolls into view below the sticky controls
    misses = page.page.evaluate("""() => {
        const out = [];
        const seen = new Set();
        for (const a of document.querySelectorAll('a.source-link')) {
          const id = a.getAttribute('href').slice(1);
          if (seen.has(id)) continue;
          seen.add(id);
          a.click();
          const r = document.getElementById(id).getBoundingClientRect();
          const bar = document.querySelector('.controls').getBoundingClientRect();
          if (location.hash !== '#' + id || r.top < bar.bottom - 1 || r.top > innerHeight)
            out.push(id);
        }
        return [seen.size, out];
    }""")
    assert misses[0] > 50
    assert misses[1] == []


def _serious(page: Any, axe: str) -> list[str]:
    page.add_script_tag(content=axe)
    result = page.evaluate("""async () => (await axe.run(document,
        {resultTypes: ['violations']})).violations.map(v => [v.id, v.impact, v.nodes.length,
        v.help])""")
    return [f"{v[0]} ({v[1]}, {v[2]} nodes): {v[3]}" for v in result
            if v[1] in ("serious", "critical")]


def test_accessibility_of_both_pages(page: Watched, pack: Path) -> None:
    axe = _axe_source()
    assert _serious(page.page, axe) == []
    page.page.goto((pack / "changes.html").as_uri())
    assert page.page.locator("del").count() > 0 and page.page.locator("ins").count() > 0
    assert _serious(page.page, axe) == []


def test_artefacts_screenshot_and_pdf(page: Watched, pack: Path) -> None:
    shot = ARTIFACTS / "review-first-page.png"
    page.page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pdf = pack / "review.pdf"
    data = pdf.read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert data[:5] == b"%PDF-" and pages > 50, pages  # every item, with its details open
    print(f"artefacts: {shot} {pdf}")
