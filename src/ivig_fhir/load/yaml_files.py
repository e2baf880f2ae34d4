"""Read YAML files into plain data plus a map from each value's path to its line and column.

Plain data is what the JSON Schema checks and the typed model reads; the location map lets
every later problem point at the line a curator must edit.

libyaml (PyYAML's C parser) turns the text into events with their marks; the data is built
from the events here, so aliases, merge keys, duplicate keys and the limits of
ivig_fhir.limits are refused before anything is built from them, and plain scalars are typed
by the YAML 1.2 core schema (plus timestamps), not PyYAML's YAML 1.1 one: `yes`, `on`, `1:30`
stay strings.
"""

from __future__ import annotations

import datetime
import math
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yaml import MarkedYAMLError, YAMLError
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

try:
    from yaml._yaml import CParser as _Parser
except ImportError:  # PyYAML built without libyaml: the same events, parsed in Python
    from yaml import SafeLoader as _Parser  # type: ignore[assignment]

from ivig_fhir.limits import MAX_SOURCE_FILE_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES
from ivig_fhir.problems import Problem

JsonPath = tuple[str | int, ...]
# libyaml's marks and events and PyYAML's own differ in type, not in what is read here
Mark = Any
Event = Any


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

# --- typing plain scalars: the YAML 1.2 core schema, plus timestamps -------------------------
# The same rules as ruamel.yaml's YAML 1.2 resolver, which read this data before: the export
# must not change with the parser.
_Y = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = _Y + "str", _Y + "int", _Y + "float", _Y + "bool", _Y + "null"
_TIMESTAMP, _MERGE, _MAP, _SEQ = _Y + "timestamp", _Y + "merge", _Y + "map", _Y + "seq"
_BOOL_RE = re.compile(r"true|True|TRUE|false|False|FALSE")
_FLOAT_RE = re.compile(r"""[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
    |[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN)""", re.X)
_INT_RE = re.compile(r"[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+")
_NULL_RE = re.compile(r"~|null|Null|NULL|")
_TIMESTAMP_RE = re.compile(r"""(?P<year>[0-9]{4})-(?P<month>[0-9][0-9]?)-(?P<day>[0-9][0-9]?)
    (?:(?:[Tt]|[\ \t]+)(?P<hour>[0-9][0-9]?):(?P<minute>[0-9][0-9]):(?P<second>[0-9][0-9])
       (?:\.(?P<fraction>[0-9]*))?
       (?:[\ \t]*(?P<tz>Z|(?P<tz_sign>[-+])(?P<tz_hour>[0-9][0-9]?)
                        (?::(?P<tz_minute>[0-9][0-9]))?))?
    )?""", re.X)
_SHORT_DATE = re.compile(r"[0-9]{4}-[0-9][0-9]-[0-9][0-9]")


def _resolve(value: str) -> str:
    """The tag of an untagged plain scalar."""
    first = value[:1]
    if first in "-+0123456789.":  # "" too: the empty scalar is null
        if first and _FLOAT_RE.fullmatch(value):
            return _FLOAT
        if first != "." and _INT_RE.fullmatch(value):
            return _INT
        long = _TIMESTAMP_RE.fullmatch(value) if first.isdigit() else None
        if _SHORT_DATE.fullmatch(value) or (long and long["hour"]):
            return _TIMESTAMP
    if _BOOL_RE.fullmatch(value):
        return _BOOL
    if _NULL_RE.fullmatch(value):
        return _NULL
    return _STR


class _Refused(Exception):
    """Input the loader will not take (an alias, a merge key, a limit reached), at `mark`."""

    def __init__(self, message: str, mark: Mark | None) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


def _construct(tag: str, value: str, mark: Mark) -> Any:
    """The Python value of a scalar with `tag`; _Refused when the text is not one."""
    try:
        if tag == _STR:
            return value
        if tag == _INT:
            digits = value.replace("_", "")
            sign = -1 if digits.startswith("-") else 1
            digits = digits.lstrip("+-")
            base = {"0b": 2, "0o": 8, "0x": 16}.get(digits[:2].lower(), 10)
            return sign * int(digits[2:] if base != 10 else digits, base)
        if tag == _FLOAT:
            number = value.replace("_", "").lower()
            if number.lstrip("+-") in (".inf", ".nan"):
                return float(number.replace(".", ""))
            return float(number)
        if tag == _BOOL:
            if not _BOOL_RE.fullmatch(value):
                raise ValueError("not true or false")
            return value.lower() == "true"
        if tag == _NULL:
            return None
        if tag == _TIMESTAMP:
            return _timestamp(value, mark)
    except ValueError as exc:
        raise _Refused(f"malformed YAML: {value!r} is not a valid !!{tag.removeprefix(_Y)}: "
                       f"{exc}", mark) from None
    raise _Refused(f"YAML tag {tag} refused: curated data is plain text, numbers, true/false, "
                   "dates, lists and mappings", mark)


def _timestamp(value: str, mark: Mark) -> str:
    """A date or date-time as its ISO 8601 text; an impossible date is refused at its line."""
    found = _TIMESTAMP_RE.fullmatch(value)
    if not found:
        raise ValueError("not a date")
    parts = found.groupdict()
    try:
        day = datetime.date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
    except ValueError as exc:
        raise _Refused(f"impossible date {value}: {exc}", mark) from None
    if parts["hour"] is None:
        return day.isoformat()
    zone = None
    if parts["tz"] == "Z":
        zone = datetime.UTC
    elif parts["tz"]:
        offset = datetime.timedelta(hours=int(parts["tz_hour"]),
                                    minutes=int(parts["tz_minute"] or 0))
        zone = datetime.timezone(-offset if parts["tz_sign"] == "-" else offset)
    micro = int((parts["fraction"] or "")[:6].ljust(6, "0"))
    return datetime.datetime(day.year, day.month, day.day, int(parts["hour"]),
                             int(parts["minute"]), int(parts["second"]), micro,
                             zone).isoformat()


# --- reading -----------------------------------------------------------------------------------

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
    result = YamlFile(path, display, None)
    builder = _Builder(text, result.locations)
    try:
        result.data = builder.document()
    except _Refused as exc:
        mark = exc.mark
        return None, [Problem(display, mark.line + 1 if mark else None,
                              mark.column + 1 if mark else None, "", exc.message, layer="yaml")]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x).replace("\n", " ")
        if mark and "found character that" in what:  # libyaml does not say which
            row = text.split("\n")[mark.line] if text.count("\n") >= mark.line else ""
            char = row[mark.column:mark.column + 1]
            what = what.replace("found character", f"found character {char!r}")
        return None, [Problem(display, line, column, "", f"malformed YAML: {what}", layer="yaml")]
    except (YAMLError, ValueError, RecursionError) as exc:  # no mark: name the file at least
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, [Problem(display, None, None, "", f"malformed YAML: {first}",
                              layer="yaml")]
    found = [result.problem(p, message, "yaml") for p, message in builder.soft]
    return (None, found) if found else (result, [])


class _Builder:
    """Plain data from the parser's events, with the line and column of every value."""

    def __init__(self, text: str, locations: dict[JsonPath, tuple[int, int]]) -> None:
        self.parser: Any = _Parser(text)
        self.locations = locations
        self.nodes = 0
        self.soft: list[tuple[JsonPath, str]] = []  # reported with the data read in full

    def document(self) -> Any:
        parser = self.parser
        parser.get_event()  # stream start
        if parser.check_event(StreamEndEvent):
            return None
        start = parser.get_event()
        version = getattr(start, "version", None)
        if version not in (None, (1, 2)):
            raise _Refused(f"%YAML {'.'.join(map(str, version))} refused: curated files are "
                           "YAML 1.2 (delete the %YAML line)", start.start_mark)
        event = parser.get_event()
        if isinstance(event, MappingStartEvent | SequenceStartEvent):  # problems of the file
            top: Mark = event.start_mark
            self.locations[()] = (top.line + 1, top.column + 1)
        data = self.node(event, (), 1)
        parser.get_event()  # document end
        if not parser.check_event(StreamEndEvent):
            raise _Refused("malformed YAML: expected a single document in the stream but found "
                           "another document", parser.peek_event().start_mark)
        return data

    def count(self, event: Event, level: int) -> None:
        if isinstance(event, AliasEvent):
            raise _Refused(f"YAML alias *{event.anchor} refused: write the value out (aliases "
                           "hide where a value is curated)", event.start_mark)
        self.nodes += 1
        if self.nodes > MAX_YAML_NODES:
            raise _Refused(f"more than {MAX_YAML_NODES:,} values in one file (limit "
                           "MAX_YAML_NODES): split the file", event.start_mark)
        if level > MAX_YAML_DEPTH:
            raise _Refused(f"nested deeper than {MAX_YAML_DEPTH} levels (limit "
                           "MAX_YAML_DEPTH)", event.start_mark)

    def scalar(self, event: ScalarEvent) -> Any:
        tag = event.tag
        if tag is None:
            tag = _resolve(event.value) if event.implicit[0] else _STR
        elif tag == "!":
            tag = _STR
        return _construct(tag, event.value, event.start_mark)

    def node(self, event: Event, path: JsonPath, level: int) -> Any:
        self.count(event, level)
        if isinstance(event, ScalarEvent):
            value = self.scalar(event)
            if isinstance(value, str):
                found = _CONTROL_IN_TEXT.search(value)
                if found:
                    self.soft.append((path, f"control character U+{ord(found.group()):04X} in "
                                            "the text: delete it"))
            elif isinstance(value, float) and not math.isfinite(value):
                self.soft.append((path, f"{value} is not a number a source can give"))
            return value
        parser = self.parser
        locations = self.locations
        if isinstance(event, MappingStartEvent):
            self.tagged(event, _MAP)
            out: dict[str, Any] = {}
            first: dict[str, Mark] = {}
            while not parser.check_event(MappingEndEvent):
                key_event = parser.get_event()
                key = self.key(key_event, level + 1)
                if key in first:
                    raise _Refused(f'duplicate key "{key}" (first at line '
                                   f"{first[key].line + 1}): keep one", key_event.start_mark)
                first[key] = key_event.start_mark
                value_event = parser.get_event()
                mark: Mark = (value_event.start_mark if isinstance(value_event, ScalarEvent)
                        else key_event.start_mark)
                locations[(*path, key)] = (mark.line + 1, mark.column + 1)
                out[key] = self.node(value_event, (*path, key), level + 1)
            parser.get_event()
            return out
        # a sequence (an alias was refused by count)
        self.tagged(event, _SEQ)
        items: list[Any] = []
        while not parser.check_event(SequenceEndEvent):
            item_event = parser.get_event()
            mark = item_event.start_mark
            locations[(*path, len(items))] = (mark.line + 1, mark.column + 1)
            items.append(self.node(item_event, (*path, len(items)), level + 1))
        parser.get_event()
        return items

    def key(self, event: Event, level: int) -> str:
        self.count(event, level)
        if not isinstance(event, ScalarEvent):
            raise _Refused("a list or mapping as a key refused: keys are plain text",
                           event.start_mark)
        if event.tag == _MERGE or (event.tag is None and event.implicit[0]
                                   and event.value == "<<"):
            raise _Refused("YAML merge key '<<' refused: write the fields out (a merged field "
                           "has no line of its own)", event.start_mark)
        return str(self.scalar(event))

    @staticmethod
    def tagged(event: Any, allowed: str) -> None:
        if event.tag not in (None, "!", allowed):
            raise _Refused(f"YAML tag {event.tag} refused: curated data is plain text, numbers, "
                           "true/false, dates, lists and mappings", event.start_mark)
