"""The bad-input corpus: one careless or hostile input per case, each run through the CLI.

Every case asserts the exit code (2 bad input or usage; 1 where the input was read and found
wanting, or the disk refused), that the message names the file and line (or the option), that
no traceback appears, and that `out/`, a previous export with its own folder mode, is
byte-identical afterwards with every mode unchanged. Cases run in-process (typer's CliRunner)
unless they need a real interpreter: a resource limit, or a traceback printed by Python itself.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ivig_fhir import limits
from ivig_fhir.cli import app

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
SOURCE = ROOT / "source_data"
OUT_MODE = 0o750  # not the umask default, so a changed mode shows


@dataclass
class Env:
    tmp: Path
    out: Path

    def source(self) -> Path:
        """A private copy of the curated data, to break."""
        copy = self.tmp / "src"
        if not copy.exists():
            shutil.copytree(SOURCE, copy)
        return copy

    def only(self, data_file: str, name: str = "zz-bad.yaml") -> Path:
        """A source folder holding just one (bad) file from data/."""
        folder = self.tmp / "only"
        folder.mkdir(exist_ok=True)
        shutil.copyfile(DATA / data_file, folder / name)
        return folder


Args = Callable[[Env], list[str]]


@dataclass
class Case:
    id: str
    args: Args
    code: int
    where: str  # what the message must name: "file:line:" or the option
    subprocess: bool = False
    fsize: int | None = None  # RLIMIT_FSIZE for the subprocess: a full disk


def build(*extra: str) -> Callable[[Env, Path], list[str]]:
    def args(env: Env, source: Path) -> list[str]:
        return ["build", "--source", str(source), "--out", str(env.out), *extra]
    return args


def yaml_case(data_file: str, line: int, code: int = 2) -> Case:
    """A curated YAML file that the loader refuses at `line`."""
    return Case(f"yaml-{data_file}", lambda env: build()(env, env.only(data_file)), code,
                f"zz-bad.yaml:{line}")


def mutated(case_id: str, file: str, old: str, new: str) -> Case:
    """The real curated data with one slip in `file`: the first line of `old` that `new`
    changes is where the error must be reported (found in the current file, so curation
    elsewhere in it does not break the case)."""
    text = (SOURCE / file).read_text(encoding="utf-8")
    at = text.find(old)
    changed = next(i for i, (a, b) in enumerate(zip(old.split("\n"), new.split("\n"),
                                                    strict=False)) if a != b)
    line = text.count("\n", 0, at) + 1 + changed

    def args(env: Env) -> list[str]:
        assert at >= 0, f"{file} no longer holds {old!r}: update this case"
        source = env.source()
        (source / file).write_text(text.replace(old, new, 1), encoding="utf-8")
        return build()(env, source)
    return Case(case_id, args, 2, f"{file}:{line}:")


def in_source(case_id: str, make: Callable[[Path], None], where: str) -> Case:
    """A source folder with something odd in it besides the curated files."""
    def args(env: Env) -> list[str]:
        source = env.source()
        make(source)
        return build()(env, source)
    return Case(case_id, args, 2, where)


def out_case(case_id: str, target: Callable[[Env], str]) -> Case:
    """An --out that build must refuse before doing anything."""
    return Case(case_id, lambda env: ["build", "--source", str(SOURCE), "--out", target(env)],
                2, "--out")


def cli(case_id: str, args: Args, code: int, where: str, **kw: object) -> Case:
    return Case(case_id, args, code, where, **kw)  # type: ignore[arg-type]


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def _sparse(path: Path, size: int) -> Path:
    """A file that claims `size` bytes without taking them on disk."""
    with path.open("wb") as fh:
        fh.truncate(size)
    return path


def _loop(path: Path) -> Path:
    path.symlink_to(path.name)
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _foreign(env: Env) -> str:
    (env.out / "notes.txt").write_text("a curator's notes, not part of any export\n")
    return str(env.out)


def _dosing(old: str, new: str, case_id: str) -> Case:
    return mutated(case_id, "dosing.yaml", old, new)


CASES: list[Case] = [
    # --- curated YAML: characters, dates, numbers, YAML features, limits -------------------
    yaml_case("nul.yaml", 3),
    yaml_case("bell.yaml", 3),
    yaml_case("escaped-control.yaml", 3),
    yaml_case("bidi-override.yaml", 3),
    yaml_case("c1-control.yaml", 3),
    yaml_case("impossible-date.yaml", 3),
    yaml_case("impossible-month.yaml", 3),
    yaml_case("inf.yaml", 4),
    yaml_case("nan.yaml", 3),
    yaml_case("minus-inf.yaml", 3),
    yaml_case("alias.yaml", 4),
    yaml_case("alias-bomb.yaml", 2),
    yaml_case("merge-key.yaml", 3),
    yaml_case("merge-key-alias.yaml", 5),
    yaml_case("deep.yaml", 2),
    yaml_case("deep-block.yaml", 32),
    yaml_case("not-utf8.yaml", 2),
    yaml_case("malformed.yaml", 3),
    yaml_case("duplicate-key.yaml", 3),
    yaml_case("tab-indent.yaml", 2),
    yaml_case("unknown-field.yaml", 3),
    Case("yaml-too-many-values", lambda env: build()(env, _values_file(env)), 2,
         "zz-bad.yaml:"),
    Case("yaml-too-large", lambda env: build()(env, _large_file(env)), 2, "zz-bad.yaml"),
    Case("yaml-empty", lambda env: build()(env, env.only("empty.yaml")), 2, "zz-bad.yaml"),
    Case("yaml-top-level-list", lambda env: build()(env, env.only("top-level-list.yaml")), 2,
         "zz-bad.yaml:1"),
    _dosing("low: 0.4", "low: 1.0e+308", "dose-1e308"),
    _dosing("high: 2.0", "high: 50", "dose-50-g-per-kg"),
    _dosing("low: 0.4", "low: 0.0001", "dose-too-small"),
    _dosing("high: 5\n        unit: d", "high: 5000\n        unit: d", "course-5000-days"),
    _dosing("high: 4\n        unit: wk", "high: 400\n        unit: wk", "interval-400-weeks"),
    _dosing("low: 30\n      high: 60", "low: 30\n      high: 600000", "premedication-min"),
    _dosing("low: 3000", "low: 0.5", "cost-too-small"),
    _dosing("high: 5000", "high: 5.0e+9", "cost-too-large"),
    mutated("donors-zero", "product.yaml", "value: 1000", "value: 0"),
    mutated("release-date-quoted", "release.yaml", 'date: "2026-12-03"', 'date: "2026-02-30"'),
    mutated("checked-on-impossible", "terminology.yaml", "checked_on: '2026-12-03'",
            "checked_on: '2026-02-31'"),
    in_source("source-symlink-loop", lambda s: _loop(s / "loop.yaml") and None, "loop.yaml"),
    in_source("source-folder-named-yaml", lambda s: (s / "folder.yaml").mkdir(),
              "folder.yaml"),
    in_source("source-fifo", lambda s: _fifo(s / "pipe.yaml") and None, "pipe.yaml"),
    # --- build options -----------------------------------------------------------------------
    cli("source-missing", lambda env: ["build", "--source", str(env.tmp / "nope"), "--out",
                                       str(env.out)], 2, "--source"),
    cli("seeds-missing", lambda env: ["build", "--source", str(SOURCE), "--out", str(env.out),
                                      "--seeds", str(env.tmp / "seeds-typo")], 2, "--seeds"),
    cli("seeds-a-file", lambda env: ["build", "--source", str(SOURCE), "--out", str(env.out),
                                     "--seeds", str(SOURCE / "release.yaml")], 2, "--seeds"),
    cli("format-unknown", lambda env: ["build", "--source", str(SOURCE), "--out", str(env.out),
                                       "--format", "xml"], 2, "--format"),
    cli("build-fhir-version-r3", lambda env: ["build", "--source", str(SOURCE), "--out",
                                              str(env.out), "--fhir-version", "R3"], 2,
        "--fhir-version"),
    # --- build --out refusals ------------------------------------------------------------------
    out_case("out-cwd", lambda env: "."),
    out_case("out-parent-of-cwd", lambda env: ".."),
    out_case("out-root", lambda env: "/"),
    out_case("out-is-the-source", lambda env: str(SOURCE)),
    out_case("out-contains-the-source", lambda env: str(SOURCE.parent)),
    out_case("out-is-a-file", lambda env: str(env.out / "ivig-fhir-bundle.json")),
    out_case("out-foreign-file", _foreign),
    out_case("out-no-manifest", lambda env: str(_write(env.tmp / "other" / "a.txt", "x").parent)),
    out_case("out-manifest-not-ours", lambda env: str(_write(
        env.tmp / "other" / "manifest.json", '{"tool": {"name": "sushi"}, "files": []}').parent)),
    out_case("out-broken-symlink", lambda env: str(_link(env.tmp / "dangling",
                                                        env.tmp / "nowhere"))),
    out_case("out-symlink-loop", lambda env: str(_loop(env.tmp / "loop"))),
    out_case("out-leftover-staging", lambda env: str(_staging(env))),
    Case("out-is-the-seeds", lambda env: ["build", "--source", str(SOURCE), "--out",
                                          str(env.out), "--seeds", str(env.out)], 2, "--out"),
    Case("disk-full", lambda env: ["build", "--source", str(SOURCE), "--out", str(env.out)], 1,
         "--out", subprocess=True, fsize=200_000),
    # --- validate ------------------------------------------------------------------------------
    cli("validate-empty-folder", lambda env: ["validate", str(_dir(env.tmp / "empty"))], 2,
        "empty"),
    cli("validate-no-json-in-folder", lambda env: ["validate", str(
        _write(env.tmp / "texts" / "a.txt", "x").parent)], 2, "texts"),
    cli("validate-missing-path", lambda env: ["validate", str(env.tmp / "nope.json")], 2,
        "nope.json"),
    cli("validate-fhir-version-r3", lambda env: ["validate", str(DATA / "array.json"),
                                                 "--fhir-version", "R3"], 2, "--fhir-version"),
    cli("validate-format-xml", lambda env: ["validate", str(DATA / "array.json"), "--format",
                                            "xml"], 2, "--format"),
    cli("validate-deep-100", lambda env: ["validate", str(DATA / "deep-100.json")], 2,
        "deep-100.json:1:"),
    cli("validate-deep-100000", lambda env: ["validate", str(_write(
        env.tmp / "deeper.json", '{"resourceType":"Basic","x":' + "[" * 100_000
        + "]" * 100_000 + "}"))], 2, "deeper.json:1:", subprocess=True),
    cli("validate-json-too-large", lambda env: ["validate", str(_sparse(
        env.tmp / "huge.json", limits.MAX_JSON_FILE_BYTES + 1))], 2, "huge.json"),
    cli("validate-ndjson-too-large", lambda env: ["validate", str(_sparse(
        env.tmp / "huge.ndjson", limits.MAX_NDJSON_FILE_BYTES + 1))], 2, "huge.ndjson"),
    cli("validate-ndjson-line-too-long", lambda env: ["validate", str(_write(
        env.tmp / "long.ndjson", b'{"resourceType":"Basic","id":"'
        + b"a" * limits.MAX_NDJSON_LINE_BYTES + b'"}\n'))], 2, "long.ndjson:1:"),
    cli("validate-junit-is-a-folder", lambda env: ["validate", str(DATA / "array.json"),
                                                   "--junit", str(env.tmp)], 2, "--junit"),
    cli("validate-too-many-problems", lambda env: ["validate", str(_write(
        env.tmp / "empties.ndjson", "{}\n" * limits.MAX_PROBLEMS_PER_FILE))], 2,
        "empties.ndjson:"),
    # No cap on resources per run: NDJSON is streamed with bounded memory (see
    # tests/validate/test_validate_streaming.py); 3,000 lines used to pass the old cap of 2,500.
    cli("validate-many-resources", lambda env: ["validate", str(_write(
        env.tmp / "many.ndjson", (json.dumps({
            "resourceType": "Basic", "code": {"text": "x"}, "text": {
                "status": "generated",
                "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}}) + "\n") * 3_000))],
        0, "1 file(s) validated"),
    cli("validate-symlink-loop", lambda env: ["validate", str(_loop(env.tmp / "loop.json"))],
        2, "loop.json"),
    cli("validate-fifo", lambda env: ["validate", str(_fifo(env.tmp / "pipe.json"))], 2,
        "pipe.json"),
    cli("validate-truncated-json", lambda env: ["validate", str(DATA / "truncated.json")], 1,
        "truncated.json:2:"),
    cli("validate-array", lambda env: ["validate", str(DATA / "array.json")], 1, "array.json"),
    cli("validate-strict-r4-shaped", lambda env: ["validate", "--strict", str(
        DATA / "r4-adverse-event.json")], 1, "r4-adverse-event.json"),
    cli("validate-strict-unknown-type", lambda env: ["validate", "--strict", str(
        DATA / "unknown-type.json")], 1, "unknown-type.json"),
    cli("validate-strict-unknown-profile", lambda env: ["validate", "--strict", str(
        DATA / "unknown-profile.json")], 1, "unknown-profile.json"),
    # --- diff ----------------------------------------------------------------------------------
    cli("diff-missing", lambda env: ["diff", str(env.tmp / "nope.json"), str(env.out)], 2,
        "nope.json"),
    cli("diff-deep", lambda env: ["diff", str(DATA / "deep-100.json"), str(env.out)], 2,
        "deep-100.json"),
    cli("diff-too-large", lambda env: ["diff", str(_sparse(
        env.tmp / "huge.json", limits.MAX_JSON_FILE_BYTES + 1)), str(env.out)], 2, "huge.json"),
    cli("diff-format-xml", lambda env: ["diff", str(env.out), str(env.out), "--format", "xml"],
        2, "--format"),
    cli("diff-entry-not-a-resource", lambda env: ["diff", str(_write(
        env.tmp / "odd.json", '{"resourceType": "Bundle", "entry": [{"resource": 5}]}')),
        str(env.out)], 2, "odd.json"),
    cli("diff-entry-not-a-list", lambda env: ["diff", str(_write(
        env.tmp / "odd.json", '{"resourceType": "Bundle", "entry": "x"}')), str(env.out)], 2,
        "odd.json"),
    cli("diff-resource-type-not-text", lambda env: ["diff", str(_write(
        env.tmp / "odd.json", '{"resourceType": 5}')), str(env.out)], 2, "odd.json"),
    # --- upload --------------------------------------------------------------------------------
    cli("upload-server-not-a-url", lambda env: _upload(env, "not a url"), 2, "--server"),
    cli("upload-server-no-host", lambda env: _upload(env, "http://"), 2, "--server"),
    cli("upload-server-port-99999", lambda env: _upload(env, "http://127.0.0.1:99999/fhir"), 2,
        "--server"),
    cli("upload-server-ftp", lambda env: _upload(env, "ftp://example.org/fhir"), 2, "--server"),
    cli("upload-server-no-scheme", lambda env: _upload(env, "example.org/fhir"), 2, "--server"),
    cli("upload-server-credentials", lambda env: _upload(env, "https://u:s3cret@example.org/"),
        2, "--server"),
    cli("upload-token-url-not-a-url", lambda env: _upload(
        env, "http://127.0.0.1:1/fhir", "--oauth-token-url", "token", "--client-id", "c"), 2,
        "--oauth-token-url"),
    cli("upload-fhir-version-r3", lambda env: _upload(env, "http://127.0.0.1:1/fhir",
                                                      "--fhir-version", "R3"), 2,
        "--fhir-version"),
    cli("upload-bundle-missing", lambda env: ["upload", str(env.tmp / "nope.json"), "--server",
                                              "http://127.0.0.1:1/fhir"], 2, "nope.json"),
    cli("upload-bundle-not-json", lambda env: ["upload", str(DATA / "truncated.json"),
                                               "--server", "http://127.0.0.1:1/fhir"], 2,
        "truncated.json"),
    cli("upload-entry-without-type", lambda env: ["upload", str(_write(
        env.tmp / "odd.json", '{"resourceType": "Bundle", "type": "transaction", "entry": '
        '[{"resource": {"id": "x"}}]}')), "--server", "http://127.0.0.1:1/fhir",
        "--fhir-version", "R5"], 2, "odd.json"),
    # --- the other commands ------------------------------------------------------------------
    cli("coverage-source-missing", lambda env: ["coverage", "--source", str(env.tmp / "nope")],
        2, "--source"),
    cli("terminology-source-missing", lambda env: ["terminology", "check", "--source",
                                                   str(env.tmp / "nope")], 2, "--source"),
]


def _values_file(env: Env) -> Path:
    folder = _dir(env.tmp / "many")
    items = ", ".join(["1"] * (limits.MAX_YAML_NODES + 1))
    _write(folder / "zz-bad.yaml", f"release:\n  x: [{items}]\n")
    return folder


def _large_file(env: Env) -> Path:
    folder = _dir(env.tmp / "large")
    line = "# " + "x" * 77 + "\n"
    _write(folder / "zz-bad.yaml", line * (limits.MAX_SOURCE_FILE_BYTES // len(line) + 1))
    return folder


def _dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _link(link: Path, target: Path) -> Path:
    link.symlink_to(target)
    return link


def _staging(env: Env) -> Path:
    (env.out / ".ivig-fhir-staging-abc").mkdir()
    return env.out


def _upload(env: Env, server: str, *extra: str) -> list[str]:
    return ["upload", str(env.out / "ivig-fhir-bundle.json"), "--server", server, *extra]


def snapshot(folder: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every entry under `folder` (itself included): its mode and, for files, its bytes."""
    found: dict[str, tuple[int, bytes | None]] = {".": (folder.stat().st_mode, None)}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        data = path.read_bytes() if stat.S_ISREG(info.st_mode) else None
        found[path.relative_to(folder).as_posix()] = (info.st_mode, data)
    return found


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    out = tmp_path / "out"
    shutil.copytree(ROOT / "output", out)  # a previous export, which must survive untouched
    out.chmod(OUT_MODE)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # "." and ".." are refused as --out from here
    return Env(tmp_path, out)


def _run(case: Case, args: list[str], cwd: Path) -> tuple[int, str]:
    if not case.subprocess:
        result = CliRunner().invoke(app, args)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"{type(result.exception).__name__}: {result.exception}\n{result.output}")
        return result.exit_code, result.output

    def limit() -> None:
        if case.fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (case.fsize, case.fsize))

    run = subprocess.run(
        [sys.executable, "-m", "ivig_fhir", *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, preexec_fn=limit,
        timeout=300, check=False)
    return run.returncode, run.stdout + run.stderr


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, env: Env) -> None:
    args = case.args(env)  # may add to out/ (a foreign file): that must survive too
    before = snapshot(env.out)
    code, output = _run(case, args, Path.cwd())
    assert "Traceback" not in output, output
    assert code == case.code, output
    assert case.where in output, f"message does not name {case.where!r}:\n{output}"
    if case.id == "upload-server-credentials":
        assert "s3cret" not in output
    assert snapshot(env.out) == before, "the previous export changed"


def test_the_corpus_is_large_and_distinct() -> None:
    assert len(CASES) >= 50
    assert len({c.id for c in CASES}) == len(CASES)
