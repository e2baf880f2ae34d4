"""ivig-fhir validate against the official HL7 engine (scripts/referee), on the export and on
hand-made broken variants of it (mutations.py).

One session fixture builds the export, writes every mutation to a file and runs the referee
ONCE over all of them (JVM start-up and the core package load are most of its cost).
Errors are counted per file as the issues (severity error/fatal) that the unmutated export does
not already have, so a known problem of the export itself does not make every mutation look
rejected.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mutations import MUTATIONS, NEEDS_DEFINITIONS, Mutation

from ivig_fhir.pipeline import BuildSettings, build
from ivig_fhir.problems import Problem
from ivig_fhir.validate import validate_paths
from ivig_fhir.write import write_tree

pytestmark = pytest.mark.java

ROOT = Path(__file__).resolve().parents[2]
REFEREE = ROOT / "scripts" / "referee"
EXPORT = "ivig-fhir-bundle.json"

# Mutations the HL7 engine (HAPI 8.8.0, org.hl7.fhir.validation 6.7.9, offline) does not reject,
# with why. Asserted exactly, so an engine upgrade or a changed mutation is noticed.
# (invalid-ucum-unit-syntax, "mg//kg", is rejected by the engine through rng-2, which it cannot
# evaluate with that unit, not by its UCUM check.)
ENGINE_ACCEPTS: dict[str, str] = {
    "bad-code-mime-type": "the engine does not check Attachment.contentType against BCP-13",
    "broken-reference": "a urn:uuid reference that no entry has: not even a warning, though "
                        "nothing but the Bundle can resolve it (bundle.html#references)",
    "empty-array": "an empty JSON array passes without an issue",
}

# Mutations ivig-fhir validate does not reject (should stay empty).
IVIG_ACCEPTS: dict[str, str] = {}


@dataclass(frozen=True)
class Verdicts:
    export: Path
    engine_export_errors: list[dict[str, Any]]  # error/fatal issues on the unmutated export
    engine_new: dict[str, list[dict[str, Any]]]  # mutation id -> its errors beyond the export's
    ivig_export_errors: list[Problem]
    ivig_new: dict[str, list[Problem]]


def _engine_errors(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in outcome.get("issue", []) if i.get("severity") in ("error", "fatal")]


def _message_id(issue: dict[str, Any]) -> str:
    for ext in issue.get("extension", []):
        if ext.get("url", "").endswith("operationoutcome-message-id"):
            return str(ext.get("valueString", ""))
    return ""


def _entry_free(text: str) -> str:
    # Entries move when a mutation adds or drops one; the resource's Type/id stays in the path.
    return re.sub(r"entry\[\d+\]", "entry[]", text)


def _engine_key(issue: dict[str, Any]) -> tuple[str, str, str]:
    where = _entry_free(" ".join(issue.get("expression", [])))
    return (_message_id(issue), where, _entry_free(issue.get("diagnostics", "")))


def _ivig_key(p: Problem) -> tuple[str, str, str]:
    return (p.layer, _entry_free(p.field), _entry_free(p.message))


def _beyond(found: Iterable[Any], baseline: Iterable[Any], key: Any) -> list[Any]:
    """Items of `found` whose key is not (as often) in `baseline`."""
    left = Counter(key(x) for x in baseline)
    out = []
    for x in found:
        k = key(x)
        if left[k] > 0:
            left[k] -= 1
        else:
            out.append(x)
    return out


def _ivig_errors(path: Path) -> list[Problem]:
    return [p for p in validate_paths([path]) if p.is_error]


@pytest.fixture(scope="session")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> Verdicts:
    tmp = tmp_path_factory.mktemp("referee")
    result = build(BuildSettings(ROOT / "source_data", tmp / "out"))
    write_tree(tmp / "out", result.files)
    export = tmp / "out" / EXPORT
    bundle = json.loads(export.read_text(encoding="utf-8"))
    lean = dict(bundle, entry=[e for e in bundle["entry"]
                               if e["resource"]["resourceType"] != "StructureDefinition"])
    files: dict[str, Path] = {}
    for m in MUTATIONS:
        f = tmp / "mutations" / f"{m.id}.json"
        f.parent.mkdir(exist_ok=True)
        f.write_text(m.apply(bundle if m.id in NEEDS_DEFINITIONS else lean), encoding="utf-8")
        files[m.id] = f
    # The mutations' baseline: the same file content without the definitions, where relevant.
    lean_file = tmp / "mutations" / "_unmutated-lean.json"
    lean_file.write_text(json.dumps(lean, indent=2, ensure_ascii=False), encoding="utf-8")
    run = subprocess.run(
        [str(REFEREE), str(export), str(lean_file), *map(str, files.values())],
        capture_output=True, text=True, check=False, timeout=1800,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    outcomes = {Path(r["file"]).resolve(): r["outcome"]
                for r in json.loads(run.stdout)["results"]}
    export_errors = _engine_errors(outcomes[export.resolve()])
    lean_errors = _engine_errors(outcomes[lean_file.resolve()])
    ivig_export = _ivig_errors(export)
    ivig_lean = _ivig_errors(lean_file)
    engine_new, ivig_new = {}, {}
    for mid, f in files.items():
        base_engine = export_errors if mid in NEEDS_DEFINITIONS else lean_errors
        base_ivig = ivig_export if mid in NEEDS_DEFINITIONS else ivig_lean
        engine_new[mid] = _beyond(_engine_errors(outcomes[f.resolve()]), base_engine,
                                  _engine_key)
        ivig_new[mid] = _beyond(_ivig_errors(f), base_ivig, _ivig_key)
    return Verdicts(export, export_errors, engine_new, ivig_export, ivig_new)


def _show_engine(issues: list[dict[str, Any]]) -> str:
    return "\n".join(f"  {i.get('severity')} {' '.join(i.get('expression', []))}: "
                     f"{i.get('diagnostics', '')[:300]}" for i in issues)


def test_export_has_no_errors_in_the_engine(verdicts: Verdicts) -> None:
    assert verdicts.engine_export_errors == [], (
        "the HL7 engine finds errors in the default export:\n"
        + _show_engine(verdicts.engine_export_errors))


def _entry_of(where: str) -> str:
    m = re.match(r"Bundle\.entry\[(\d+)\]", where)
    return m.group(1) if m else "Bundle"


def test_ivig_fhir_reports_nothing_on_the_export_that_the_engine_does_not(
    verdicts: Verdicts,
) -> None:
    # Clean-side parity: ivig-fhir's errors on the export are in entries where the engine
    # finds errors too (none at all when the engine finds none).
    engine = {_entry_of(" ".join(i.get("expression", [""]))) for i in
              verdicts.engine_export_errors}
    extra = [p for p in verdicts.ivig_export_errors if _entry_of(p.field) not in engine]
    assert extra == [], "\n".join(p.render() for p in extra)


def test_corpus_is_large_and_named_uniquely() -> None:
    ids = [m.id for m in MUTATIONS]
    assert len(ids) >= 30
    assert len(set(ids)) == len(ids)


def test_engine_acceptance_list_is_exact(verdicts: Verdicts) -> None:
    accepted = sorted(mid for mid, issues in verdicts.engine_new.items() if not issues)
    print("\nmutations the HL7 engine does not reject:", ", ".join(accepted) or "none")
    assert accepted == sorted(ENGINE_ACCEPTS)


@pytest.mark.parametrize("m", MUTATIONS, ids=[m.id for m in MUTATIONS])
def test_mutation(m: Mutation, verdicts: Verdicts) -> None:
    engine = verdicts.engine_new[m.id]
    ivig = verdicts.ivig_new[m.id]
    assert engine or ivig, f"{m.id} ({m.what}) breaks nothing either validator sees: fix the test"
    if engine:
        assert ivig, (f"{m.id} ({m.what}): the HL7 engine rejects it, ivig-fhir validate "
                      f"does not. Engine:\n{_show_engine(engine)}")
    if m.id not in IVIG_ACCEPTS:
        assert ivig, f"{m.id} ({m.what}): ivig-fhir validate does not reject it"
