"""Read YAML files into plain data plus a map from each value's path to its line and column.

Plain data is what the JSON Schema checks and the typed model reads; the location map lets
every later problem point at the line a curator must edit.
"""

from __future__ import annotations

import datetime
import math
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent

from ivig_fhir.limits import MAX_SOURCE_FILE_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES
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


# C0 and C1 control characters (tab and line ends aside) and the bidirectional overrides that
# make text display differently from what it says: never meant in a curated text.
_CONTROL_IN_FILE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"


class _Refused(MarkedYAMLError):
    """Input the loader will not take (an alias, a merge key, a limit reached)."""


def _tag(node: Any) -> str:
    tag = node.tag  # a str in ruamel.yaml 0.19, a Tag object in 0.18
    return tag if isinstance(tag, str) else str(getattr(tag, "value", tag))


class _BoundedComposer(Composer):
    """ruamel.yaml's composer, refusing aliases and merge keys and bounding nodes and depth
    (see ivig_fhir.limits) before anything is built from them."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.nodes = 0
        self.level = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            raise _Refused(None, None, f"YAML alias *{event.anchor} refused: write the value "
                           "out (aliases hide where a value is curated)", event.start_mark)
        self.nodes += 1
        if self.nodes > MAX_YAML_NODES:
            raise _Refused(None, None, f"more than {MAX_YAML_NODES:,} values in one file "
                           "(limit MAX_YAML_NODES): split the file", event.start_mark)
        self.level += 1
        if self.level > MAX_YAML_DEPTH:
            raise _Refused(None, None, f"nested deeper than {MAX_YAML_DEPTH} levels (limit "
                           "MAX_YAML_DEPTH)", event.start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self.level -= 1

    def compose_mapping_node(self, anchor: Any) -> Any:
        node = super().compose_mapping_node(anchor)
        for key, _ in node.value:
            if _tag(key) == _MERGE:
                raise _Refused(None, None, "YAML merge key '<<' refused: write the fields out "
                               "(a merged field has no line of its own)", key.start_mark)
        return node

    def compose_scalar_node(self, anchor: Any) -> Any:
        node = super().compose_scalar_node(anchor)
        if _tag(node) == _TIMESTAMP:
            match = _DATE.match(node.value)
            try:
                if match:
                    datetime.date(*map(int, match.groups()))
            except ValueError as exc:
                raise _Refused(None, None, f"impossible date {node.value}: {exc}",
                               node.start_mark) from None
        return node


def _read_text(path: Path, display: str) -> tuple[str | None, list[Problem]]:
    def bad(message: str, line: int | None = None, column: int | None = None) -> tuple[
            None, list[Problem]]:
        return None, [Problem(display, line, column, "", message, layer="yaml")]

    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return bad("not a regular file")
        if info.st_size > MAX_SOURCE_FILE_BYTES:
            return bad(f"{info.st_size:,} bytes: larger than {MAX_SOURCE_FILE_BYTES:,} (limit "
                       "MAX_SOURCE_FILE_BYTES): split the file")
        with path.open("rb") as fh:
            raw = fh.read(MAX_SOURCE_FILE_BYTES + 1)
    except OSError as exc:
        return bad(f"cannot read the file: {exc.strerror or exc}")
    if len(raw) > MAX_SOURCE_FILE_BYTES:
        return bad(f"larger than {MAX_SOURCE_FILE_BYTES:,} bytes (limit MAX_SOURCE_FILE_BYTES)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return bad(f"not UTF-8: byte 0x{raw[exc.start]:02x}",
                   raw[: exc.start].count(b"\n") + 1)
    found = _CONTROL_IN_FILE.search(text)
    if found:
        line = text.count("\n", 0, found.start()) + 1
        column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
        return bad(f"control character U+{ord(found.group()):04X} in the text: delete it "
                   "(often pasted in invisibly)", line, column)
    return text, []


def read_yaml(path: Path, display: str) -> tuple[YamlFile | None, list[Problem]]:
    text, problems = _read_text(path, display)
    if text is None:
        return None, problems
    yaml = YAML(typ="rt")
    yaml.Composer = _BoundedComposer
    try:
        raw = yaml.load(text)
    except _Refused as exc:
        mark = exc.problem_mark
        return None, [Problem(display, mark.line + 1 if mark else None,
                              mark.column + 1 if mark else None, "", str(exc.problem),
                              layer="yaml")]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        what = what.split("\nTo suppress")[0].replace("\n", " ")
        return None, [Problem(display, line, column, "", f"malformed YAML: {what}", layer="yaml")]
    except (YAMLError, ValueError, RecursionError) as exc:  # no mark: name the file at least
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, [Problem(display, None, None, "", f"malformed YAML: {first}",
                              layer="yaml")]
    result = YamlFile(path, display, None)
    if hasattr(raw, "lc"):  # the top itself, for problems with the file as a whole
        result.locations[()] = (raw.lc.line + 1, raw.lc.col + 1)
    found: list[Problem] = []
    result.data = _plain(raw, (), result.locations, found, result)
    return (None, found) if found else (result, [])


def _plain(node: Any, path: JsonPath, locations: dict[JsonPath, tuple[int, int]],
           problems: list[Problem], yf: YamlFile) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key, value in node.items():
            line, column = node.lc.value(key) if not _is_collection(value) else node.lc.key(key)
            locations[(*path, str(key))] = (line + 1, column + 1)
            out[str(key)] = _plain(value, (*path, str(key)), locations, problems, yf)
        return out
    if isinstance(node, CommentedSeq):
        items: list[Any] = []
        for index, value in enumerate(node):
            line, column = node.lc.item(index)
            locations[(*path, index)] = (line + 1, column + 1)
            items.append(_plain(value, (*path, index), locations, problems, yf))
        return items
    if isinstance(node, str):
        found = _CONTROL_IN_TEXT.search(node)
        if found:
            problems.append(yf.problem(path, f"control character U+{ord(found.group()):04X} in "
                                       "the text: delete it", "yaml"))
        return str(node)
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        if not math.isfinite(node):
            problems.append(yf.problem(path, f"{float(node)} is not a number a source can give",
                                       "yaml"))
        return float(node)
    if isinstance(node, datetime.date):
        return node.isoformat()
    return node


def _is_collection(value: Any) -> bool:
    return isinstance(value, CommentedMap | CommentedSeq)
