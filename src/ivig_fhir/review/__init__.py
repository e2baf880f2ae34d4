"""Stage: the export -> a static review pack (HTML, optionally PDF) a pharmacist can sign.

Reads the export only (what a server will import), never `source_data/`:

    model      export resources -> sections in label order, codes, sources, marks
    templates  Jinja2 (autoescaped) pages; CSS and JS inlined, so the pack needs no network
    print_pdf  the same page printed by headless Chromium

The pack is deterministic (same export, same bytes; the PDF excepted, Chromium stamps its
creation time). It is written only into an empty folder or over a previous pack, recognised by
its marker file, and replaces only files that pack listed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources as package_files
from pathlib import Path
from typing import Any

from ivig_fhir.diff import KINDS, FieldChange, diff_exports, read_export
from ivig_fhir.problems import BadInput, FindingsError, Problem
from ivig_fhir.review.model import Review, anchor, build_review

__all__ = ["MARKER", "build_pack", "print_pdf", "write_pack"]

MARKER = ".ivig-fhir-review.json"
INDEX, CHANGES, PDF = "index.html", "changes.html", "review.pdf"
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


@dataclass(frozen=True)
class _Field:
    field: str
    old: str | None
    new: str | None
    old_items: list[tuple[str, bool]] | None  # (value, removed)
    new_items: list[tuple[str, bool]] | None  # (value, added)


def _field(f: FieldChange) -> _Field:
    if isinstance(f.old, tuple) or isinstance(f.new, tuple):
        old = f.old if isinstance(f.old, tuple) else ((f.old,) if f.old else ())
        new = f.new if isinstance(f.new, tuple) else ((f.new,) if f.new else ())
        return _Field(f.field, None, None, [(v, v not in new) for v in old],
                      [(v, v not in old) for v in new])
    return _Field(f.field, f.old, f.new, None, None)


def _fhir_version(path: Path) -> str:
    """The export's FHIR version from the manifest beside it; R5 without one."""
    manifest = (path if path.is_dir() else path.parent) / "manifest.json"
    try:
        return str(json.loads(manifest.read_text(encoding="utf-8"))["fhirVersion"])
    except (OSError, ValueError, KeyError, TypeError):
        return "5.0.0"


def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("ivig_fhir.review", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True, keep_trailing_newline=True)


def _static(name: str) -> Any:
    """Our own stylesheet or script, inlined as is (escaping would break `&&` and `>`)."""
    from markupsafe import Markup

    text = package_files.files("ivig_fhir.review").joinpath("templates", name).read_text("utf-8")
    if "</" in text:
        raise ValueError(f"{name} must not contain '</' (it is inlined into the page)")
    return Markup(text)  # noqa: S704 - a file of this package, not data from the export


def build_pack(export: Path, since: Path | None = None) -> dict[str, bytes]:
    """The pages of the pack by file name. Raises BadInput for an unreadable export."""
    resources = read_export(export)
    review = build_review(resources, _fhir_version(export), "Intravenous immunoglobulin (IVIG)")
    env = _environment()
    common: dict[str, Any] = {"review": review, "export_name": export.name,
                              "css": _static("review.css"), "js": _static("review.js"),
                              "since_name": str(since) if since else "",
                              "has_changes": since is not None}
    statuses = sorted({it.regulatory for s in review.sections for g in s.groups
                       for it in g.items if it.regulatory})
    files = {INDEX: env.get_template("index.html.j2").render(statuses=statuses, **common)}
    if since is not None:
        files[CHANGES] = _changes(env, review, read_export(since), resources, common)
    return {name: text.encode("utf-8") for name, text in files.items()}


def _changes(env: Any, review: Review, old: dict[str, Any], new: dict[str, Any],
             common: dict[str, Any]) -> str:
    result = diff_exports(old, new)
    shown = {it.anchor for s in review.sections for g in s.groups for it in g.items}
    shown |= {it.anchor for it in review.other}
    groups = []
    for kind, heading in KINDS.items():
        changes = [{"change": c.change, "key": c.key, "title": c.title, "anchor": anchor(c.key),
                    "linked": c.change != "removed" and anchor(c.key) in shown,
                    "fields": [_field(f) for f in c.fields]}
                   for c in result.changes if c.kind == kind]
        if changes:
            groups.append((heading, changes))
    counts = result.as_json()["counts"]
    rendered: str = env.get_template("changes.html.j2").render(groups=groups, counts=counts,
                                                               **common)
    return rendered


def write_pack(out_dir: Path, files: dict[str, bytes]) -> None:
    """Write the pack into `out_dir`: an empty or new folder, or a previous pack (its marker
    lists what it wrote; only those files are replaced or removed). Anything else: BadInput."""
    marker = out_dir / MARKER
    previous: list[str] = []
    if out_dir.exists():
        if not out_dir.is_dir():
            raise _refuse(out_dir, "exists and is not a folder")
        if marker.is_file():
            try:
                previous = [str(n) for n in json.loads(marker.read_text("utf-8"))["files"]]
            except (OSError, ValueError, KeyError, TypeError):
                raise _refuse(out_dir, f"its {MARKER} is unreadable") from None
        elif any(out_dir.iterdir()):
            raise _refuse(out_dir, "is not empty and holds no review pack (no "
                                   f"{MARKER}); choose an empty or new folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in previous:
        if name not in files and "/" not in name and name != MARKER:
            (out_dir / name).unlink(missing_ok=True)
    for name, data in sorted(files.items()):
        tmp = out_dir / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(out_dir / name)
    listing = {"tool": "ivig-fhir review", "files": sorted(files)}
    marker.write_text(json.dumps(listing, indent=2) + "\n", encoding="utf-8")


def _refuse(out_dir: Path, why: str) -> BadInput:
    return BadInput(f"will not write the review pack into {out_dir}",
                    [Problem(str(out_dir), None, None, "--out", f"{out_dir} {why}",
                             layer="review")])


def find_chromium() -> str | None:
    return next((found for name in CHROMIUM if (found := shutil.which(name))), None)


def print_pdf(page: Path, timeout: float = 180.0) -> bytes:
    """`page` printed to PDF by headless Chromium, as the browser lays it out for print (the
    page opens every collapsed detail before printing). BadInput when no Chromium is
    installed; FindingsError when it fails to print."""
    browser = find_chromium()
    if browser is None:
        raise BadInput("--pdf needs Chromium, and none is installed (Debian: apt-get install "
                       "chromium); the HTML pack was written")
    with tempfile.TemporaryDirectory(prefix="ivig-fhir-chromium-") as profile:
        pdf = Path(profile) / PDF  # written into the pack only once it is a whole PDF
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu",
                   "--disable-background-networking", "--disable-component-update",
                   "--disable-sync", "--no-first-run",
                   f"--user-data-dir={Path(profile) / 'profile'}",
                   "--no-pdf-header-footer", f"--print-to-pdf={pdf.resolve()}",
                   page.resolve().as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)  # noqa: S603 - fixed arguments
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise FindingsError(f"Chromium did not print {page}: {exc}") from None
        data = pdf.read_bytes() if pdf.is_file() else b""
    if done.returncode != 0 or data[:5] != b"%PDF-":
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise FindingsError(f"Chromium did not print {page} (exit {done.returncode}): "
                            + " / ".join(tail))
    return data
