"""Read YAML files into plain data plus a map from each value's path to its line and column.

Plain data is what the JSON Schema checks and the typed model reads; the location map lets
every later problem point at the line a curator must edit.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from ivig_fhir.problems import Problem

JsonPath = tuple[str | int, ...]


@dataclass
class YamlFile:
    path: Path
    display: str  # the path as shown in messages
    data: Any
    locations: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: JsonPath) -> tuple[int | None, int | None]:
        """Line and column (1-based) of the value at `path`, or of its nearest ancestor."""
        for cut in range(len(path), -1, -1):
            found = self.locations.get(tuple(path[:cut]))
            if found:
                return found
        return None, None

    def problem(self, path: JsonPath, message: str, layer: str, severity: str = "error") -> Problem:
        line, column = self.where(path)
        return Problem(self.display, line, column, dotted(path), message, severity, layer)  # type: ignore[arg-type]


def dotted(path: JsonPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_yaml(path: Path, display: str) -> tuple[YamlFile | None, list[Problem]]:
    yaml = YAML(typ="rt")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(display, None, None, "", f"cannot read the file: {exc}",
                              layer="yaml")]
    try:
        raw = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        what = what.split("\nTo suppress")[0].replace("\n", " ")
        return None, [Problem(display, line, column, "", f"malformed YAML: {what}", layer="yaml")]
    result = YamlFile(path, display, None)
    result.data = _plain(raw, (), result.locations)
    return result, []


def _plain(node: Any, path: JsonPath, locations: dict[JsonPath, tuple[int, int]]) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key, value in node.items():
            line, column = node.lc.value(key) if not _is_collection(value) else node.lc.key(key)
            locations[(*path, str(key))] = (line + 1, column + 1)
            out[str(key)] = _plain(value, (*path, str(key)), locations)
        return out
    if isinstance(node, CommentedSeq):
        items: list[Any] = []
        for index, value in enumerate(node):
            line, column = node.lc.item(index)
            locations[(*path, index)] = (line + 1, column + 1)
            items.append(_plain(value, (*path, index), locations))
        return items
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, datetime.date):
        return node.isoformat()
    return node


def _is_collection(value: Any) -> bool:
    return isinstance(value, CommentedMap | CommentedSeq)
