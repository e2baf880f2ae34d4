"""Streaming and the process pool: bounded memory, and the same findings with one process as
with several. The user cache: sound entries read back, corrupt ones ignored and rebuilt."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest

import ivig_fhir.validate as validate
from ivig_fhir import _cache
from ivig_fhir.problems import Problem
from ivig_fhir.validate import _fhirpath

NARRATIVE = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}


def _basic(i: int, **extra: object) -> str:
    return json.dumps({"resourceType": "Basic", "id": f"b{i}", "code": {"text": "x"},
                       "text": NARRATIVE, **extra})


def _double(task: validate.Task) -> int:
    return int(task[1]) * 2


def test_the_pool_takes_at_most_a_window_of_tasks_ahead() -> None:
    pulled = 0

    def tasks() -> Iterator[validate.Task]:
        nonlocal pulled
        for i in range(50):
            pulled += 1
            yield ("lines", str(i), ())

    window = 3
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = []
        for n, (task, out) in enumerate(validate.bounded_map(_double, tasks(), pool, window),
                                        start=1):
            # what is held: tasks taken but not yet handed back
            assert pulled - n <= window
            results.append((task[1], out))
    assert results == [(str(i), 2 * i) for i in range(50)]


def _findings(problems: list[Problem]) -> list[tuple[object, ...]]:
    return [(p.file, p.line, p.field, p.severity, p.code, p.message) for p in problems]


def test_several_processes_find_what_one_finds(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "_BATCH_LINES", 7)  # many batches from a small file
    lines = [_basic(i) for i in range(60)]
    lines[5] = _basic(5, status="nonsense")
    lines[17] = '{"resourceType": "Basic", '  # malformed
    lines[31] = ""
    lines[44] = _basic(44, code={"text": ""})
    (tmp_path / "a.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "b.json").write_text(_basic(100, unknown=1), encoding="utf-8")
    (tmp_path / "c.json").write_text("[]", encoding="utf-8")
    one = validate.validate_files([tmp_path], workers=1)
    two = validate.validate_files([tmp_path], workers=2)
    assert _findings(two.problems) == _findings(one.problems)
    assert two.versions == one.versions == {"R5"}
    lines_with_errors = {p.line for p in one.problems if p.is_error and
                         p.file.endswith("a.ndjson")}
    assert {6, 18, 45} <= lines_with_errors
    assert any(p.file.endswith("b.json") and p.is_error for p in one.problems)


def test_the_problem_limit_holds_with_several_processes(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "_BATCH_LINES", 50)
    monkeypatch.setattr(validate, "MAX_PROBLEMS_PER_FILE", 120)
    f = tmp_path / "empties.ndjson"
    f.write_text("{}\n" * 5_000, encoding="utf-8")
    one = validate.validate_files([f], workers=1).problems
    two = validate.validate_files([f], workers=2).problems
    assert _findings(two) == _findings(one)
    limit = [p for p in one if p.code == "limit"]
    assert len(limit) == 1 and "MAX_PROBLEMS_PER_FILE" in limit[0].message
    assert max(p.line or 0 for p in one) < 200  # the rest of the file was not checked


def test_past_the_problem_limit_warnings_are_counted_not_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "MAX_PROBLEMS_PER_FILE", 50)
    f = tmp_path / "warned.ndjson"
    # no narrative: one dom-6 warning a line, and no error
    f.write_text("".join(json.dumps({"resourceType": "Basic", "code": {"text": "x"}}) + "\n"
                         for _ in range(300)), encoding="utf-8")
    problems = validate.validate_files([f], workers=1).problems
    assert not any(p.is_error for p in problems)
    unlisted = [p for p in problems if p.code == "problems-unlisted"]
    assert len(problems) <= 53 and len(unlisted) == 1
    assert unlisted[0].message.startswith("250 more warnings")
    f.write_text(f.read_text() + '{"resourceType": "Basic"}\n' + f.read_text(),
                 encoding="utf-8")
    problems = validate.validate_files([f], workers=1).problems
    limit = [p for p in problems if p.code == "limit"]
    assert len(limit) == 1 and limit[0].line == 301  # the first error past the limit
    assert max(p.line or 0 for p in problems) == 301


def test_a_batch_holds_a_bounded_number_of_bytes(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "_BATCH_BYTES", 1_000)
    f = tmp_path / "x.ndjson"
    f.write_bytes(b"".join(_basic(i).encode() + b"\n" for i in range(100)))
    with f.open("rb") as fh:
        batches = list(validate._batches(fh))
    longest = max(len(_basic(i)) + 1 for i in range(100))
    assert all(sum(len(c) for _, c in b) < 1_000 + longest for b in batches)
    assert [n for b in batches for n, _ in b] == list(range(1, 101))


# --- the user cache --------------------------------------------------------------------------

@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IVIG_FHIR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_cache_entry_reads_back(cache_dir: Path) -> None:
    key = _cache.key("content", "lib==1")
    built = []
    assert _cache.cached("t", key, lambda: built.append(1) or {"a": [1, 2]}) == {"a": [1, 2]}
    assert _cache.cached("t", key, lambda: built.append(1) or {"a": [0]}) == {"a": [1, 2]}
    assert built == [1]
    assert _cache.key("content", "lib==2") != key
    assert [p.name for p in cache_dir.iterdir()] == [f"t-{key}.marshal"]  # no temporaries


@pytest.mark.parametrize("damage", ["flip", "cut", "empty", "garbage"])
def test_a_corrupt_cache_entry_is_ignored_and_rebuilt(cache_dir: Path, damage: str) -> None:
    key = _cache.key("content")
    _cache.write("t", key, {"a": "sound"})
    entry = _cache.path("t", key)
    raw = entry.read_bytes()
    entry.write_bytes({"flip": raw[:-3] + bytes([raw[-3] ^ 0x40]) + raw[-2:],
                       "cut": raw[: len(raw) // 2], "empty": b"",
                       "garbage": b"\x00" * 200}[damage])
    assert _cache.read("t", key) is None
    assert _cache.cached("t", key, lambda: {"a": "rebuilt"}) == {"a": "rebuilt"}
    assert _cache.read("t", key) == {"a": "rebuilt"}


def test_a_sound_entry_of_the_wrong_shape_is_rebuilt(cache_dir: Path) -> None:
    key = _cache.key("content")
    _cache.write("t", key, ["not", "a", "dict"])
    assert _cache.cached("t", key, lambda: {"ok": 1}, lambda v: isinstance(v, dict)) == {"ok": 1}


def test_an_unwritable_cache_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("IVIG_FHIR_CACHE", str(blocker / "cache"))  # under a file: no folder
    assert _cache.cached("t", _cache.key("c"), lambda: {"v": 1}) == {"v": 1}


def test_cached_fhirpath_trees_are_what_the_parser_makes(cache_dir: Path) -> None:
    """The stored trees equal fresh parses after evaluation (fhirpathpy does not change them),
    and a corrupt store only means parsing again."""
    from fhirpathpy.parser import parse

    parsed = _fhirpath._Parsed()
    expression = "code.exists() or display.exists()"
    tree = parsed.get(expression)
    assert _fhirpath.evaluate(expression, {"code": "x"}, "Coding", resource={}, root={},
                              version="r5") == [True]
    parsed.save()
    stored = _cache.read("fhirpath", parsed.key())
    assert stored == {expression: parse(expression)} == {expression: tree}
    _cache.path("fhirpath", parsed.key()).write_bytes(b"ivig-fhir-cache 1\n" + b"\x01" * 40)
    again = _fhirpath._Parsed()
    assert again.get(expression) == tree
    assert again.new == 1


# --- start-up ---------------------------------------------------------------------------------

_MODULES = """
import sys
from typer.testing import CliRunner
from ivig_fhir.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
assert result.exit_code in (0, 1), result.output
print(" ".join(sorted(sys.modules)))
"""


@pytest.mark.parametrize("args", [["--help"], ["validate", "output/ivig-fhir-bundle.json"]])
def test_a_command_imports_only_what_it_needs(args: list[str]) -> None:
    """`validate` and `--help` load neither the FHIR models, nor the YAML reader and
    jsonschema, nor the curated models of `build`."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, "-c", _MODULES, *args], cwd=root, check=True,
                         capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(root / "src")})
    loaded = set(run.stdout.split())
    assert "ivig_fhir.cli" in loaded
    for heavy in ("fhir.resources", "jsonschema", "yaml", "ruamel", "ivig_fhir.mapping",
                  "ivig_fhir.load.curated", "ivig_fhir.load.reader"):
        assert heavy not in loaded, heavy
    if args == ["--help"]:
        assert "ivig_fhir.validate" not in loaded and "fhirpathpy" not in loaded
