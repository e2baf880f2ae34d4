"""The schema check of the curated files: jsonschema-rs decides valid or not, jsonschema words
the findings. Valid by jsonschema-rs must mean valid by jsonschema, or a finding would be
lost: checked on every curated file and on each of them broken in many places and ways."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ivig_fhir.load.reader import _schema_problem, _valid, schema, schema_problems
from ivig_fhir.load.yaml_files import YamlFile, read_yaml

SOURCE = Path(__file__).resolve().parents[1] / "source_data"
FILES = sorted(p for p in SOURCE.glob("*.yaml") if p.name != "approval.yaml")
# Values that break a field in the ways the schema can tell: type, pattern (also a trailing
# newline, which Python's `$` lets through and ECMA's does not), enum, minimum, minLength,
# minItems, required fields, unknown fields.
BREAKERS: tuple[Any, ...] = ("", "x\n", "Not-A-Key", -1, 0, 1.5, True, None, [], {},
                             ["dup", "dup"], {"unknown": 1})


def _file(path: Path) -> YamlFile:
    yf, problems = read_yaml(path, path.name)
    assert yf is not None, problems
    return yf


def _slow(yf: YamlFile) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema())
    return [_schema_problem(yf, e).message for e in validator.iter_errors(yf.data)]


def _places(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into the data, containers and leaves."""
    out = [path] if path else []
    if isinstance(data, dict):
        for key, value in data.items():
            out += _places(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += _places(value, (*path, index))
    return out


def _put(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    broken = copy.deepcopy(data)
    node = broken
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return broken


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_curated_file_is_valid_to_both(path: Path) -> None:
    yf = _file(path)
    assert _valid().is_valid(yf.data)
    assert _slow(yf) == []
    assert schema_problems(yf) == []


@pytest.mark.parametrize("name", ["adverse_reactions.yaml", "dosing.yaml", "product.yaml",
                                  "release.yaml"])
def test_broken_anywhere_never_laxer_and_findings_by_jsonschema(name: str) -> None:
    yf = _file(SOURCE / name)
    places = _places(yf.data)
    tried = broken_seen = 0
    for index, place in enumerate(places):
        # every place of the small files, each with a few of the breakers in turn
        for value in BREAKERS[index % 3::3]:
            broken = YamlFile(yf.path, yf.display, _put(yf.data, place, value))
            broken.locations.update(yf.locations)
            slow = _slow(broken)
            fast_valid = _valid().is_valid(broken.data)
            # the other way (stricter, e.g. 'x\n' for a key pattern) only costs time
            assert not fast_valid or slow == [], (place, value, slow)
            assert fast_valid or slow or value == "x\n", (place, value)
            assert [p.message for p in schema_problems(broken)] == slow
            tried += 1
            broken_seen += bool(slow)
    assert tried > 20
    assert broken_seen > tried // 3


def test_a_value_of_no_json_type_goes_to_jsonschema(tmp_path: Path) -> None:
    yf = _file(SOURCE / "release.yaml")
    broken = YamlFile(yf.path, yf.display, _put(yf.data, ("release", "date"), object()))
    broken.locations.update(yf.locations)
    found = schema_problems(broken)
    assert found and "is not of type 'string'" in found[0].message
