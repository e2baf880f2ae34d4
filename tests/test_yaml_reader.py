"""The YAML reader types plain scalars by YAML 1.2 (the rules ruamel.yaml applied before libyaml
read the curated files), keeps every value's line and column, and refuses what hides a line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivig_fhir.load.yaml_files import read_yaml


def _read(tmp_path: Path, text: str) -> tuple[object, list[tuple[int | None, str]]]:
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    yf, problems = read_yaml(path, "x.yaml")
    return (yf.data if yf else None), [(p.line, p.message) for p in problems]


@pytest.mark.parametrize(("text", "value"), [
    # YAML 1.1 (PyYAML's own resolver) would make these booleans, ints or sexagesimals
    ("yes", "yes"), ("no", "no"), ("on", "on"), ("Off", "Off"), ("y", "y"), ("1:30", "1:30"),
    ("190:20:30.15", "190:20:30.15"), ("tRue", "tRue"), ("nUll", "nUll"), ("0o8", "0o8"),
    ("true", True), ("FALSE", False), ("~", None), ("", None), ("Null", None),
    ("1_000", 1000), ("017", 17), ("0o17", 15), ("0x1F", 31), ("0b101", 5), ("-0", 0),
    ("20260101", 20260101), ("1e5", 100000.0), ("1.", 1.0), (".5", 0.5), ("1_0e2", 1000.0),
    ("2026-01-01", "2026-01-01"), ("2026-1-1", "2026-1-1"),
    ("2026-01-01 10:00:00", "2026-01-01T10:00:00"),
    ("2026-01-01t10:00:00.5+02:00", "2026-01-01T10:00:00.500000+02:00"),
    ("'2026-02-30'", "2026-02-30"), ("'yes'", "yes"), ("!!str 123", "123"), ("!!int '5'", 5),
    ("=", "="), ("<<", "<<"),
])
def test_plain_scalars_are_typed_by_yaml_1_2(tmp_path: Path, text: str, value: object) -> None:
    data, problems = _read(tmp_path, f"a: {text}\n")
    assert problems == []
    assert data == {"a": value}
    assert type(data["a"]) is type(value)  # type: ignore[index]


def test_every_value_keeps_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("a:\n  b: [1, 2]\n  c:\n    - d: é–x\n      e: 3\n", encoding="utf-8")
    yf, problems = read_yaml(path, "x.yaml")
    assert problems == [] and yf is not None
    assert yf.locations == {(): (1, 1), ("a",): (1, 1), ("a", "b"): (2, 3),
                            ("a", "b", 0): (2, 7), ("a", "b", 1): (2, 10), ("a", "c"): (3, 3),
                            ("a", "c", 0): (4, 7), ("a", "c", 0, "d"): (4, 10),
                            ("a", "c", 0, "e"): (5, 10)}


@pytest.mark.parametrize(("text", "line", "says"), [
    ("a: 1\nb: 2\na: 3\n", 3, 'duplicate key "a" (first at line 1)'),
    ("1: a\n'1': b\n", 2, 'duplicate key "1"'),
    ("a: &x 1\nb: *x\n", 2, "YAML alias *x refused"),
    ("a:\n  <<: {b: 1}\n", 2, "YAML merge key '<<' refused"),
    ("a: !custom x\n", 1, "YAML tag !custom refused"),
    ("a: !!binary aGVsbG8=\n", 1, "YAML tag tag:yaml.org,2002:binary refused"),
    ("? [a]\n: b\n", 1, "a list or mapping as a key refused"),
    ("%YAML 1.1\n---\na: yes\n", 1, "%YAML 1.1 refused"),
    ("--- 1\n--- 2\n", 2, "expected a single document"),
    ("a: 1\nb: 2026-02-30\n", 2, "impossible date 2026-02-30"),
    ("a: 1\nb: !!int 1.5\n", 2, "'1.5' is not a valid !!int"),
    ("a:\n\tb: 1\n", 2, "found character '\\t' that cannot start any token"),
    ("a: [1,\n", 2, "malformed YAML"),
])
def test_refused_at_its_line(tmp_path: Path, text: str, line: int, says: str) -> None:
    data, problems = _read(tmp_path, text)
    assert data is None
    assert len(problems) == 1
    assert problems[0][0] == line
    assert says in problems[0][1]
