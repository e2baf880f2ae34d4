"""Layer `json`: what FHIR JSON forbids that Python's json module and the models accept.

Well-formed UTF-8 JSON, no duplicate keys, no NaN/Infinity, no nulls (except the aligned
placeholders in primitive arrays with a `_name` twin), no empty strings, arrays or objects, and
a `resourceType` on every resource.
"""

from __future__ import annotations

import json
from typing import Any

from ivig_fhir.problems import Problem

from ._paths import member

LAYER = "json"


class _Pairs(dict[str, Any]):
    """A JSON object that remembers the keys it saw twice."""

    __slots__ = ("duplicates",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__()
        self.duplicates: list[str] = []
        for k, v in pairs:
            if k in self:
                self.duplicates.append(k)
            self[k] = v


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse(
    raw: bytes | str, *, file: str, line_offset: int = 0
) -> tuple[Any | None, list[Problem]]:
    """Parse one JSON document strictly. Returns (data or None, problems)."""
    found: list[Problem] = []
    if isinstance(raw, bytes):
        if raw.startswith(b"\xef\xbb\xbf"):
            # The HL7 engine reads past a BOM (the official examples have some); RFC 8259
            # says a parser may ignore one but a writer must not add one.
            raw = raw[3:]
            found.append(Problem(file, 1 + line_offset, 1, "", "JSON starts with a UTF-8 byte "
                                 "order mark: read past it, but JSON (RFC 8259) must not start "
                                 "with one", "warning", LAYER, "json-bom"))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1 + line_offset
            return None, [
                Problem(file, line, None, "", f"not UTF-8: byte 0x{raw[e.start]:02x} at offset "
                        f"{e.start}", "fatal", LAYER, "json-encoding")
            ]
    else:
        text = raw
    try:
        data = json.loads(text, object_pairs_hook=_Pairs, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        return None, [
            Problem(file, e.lineno + line_offset, e.colno, "", f"malformed JSON: {e.msg}",
                    "fatal", LAYER, "json-syntax")
        ]
    except ValueError as e:
        return None, [Problem(file, None, None, "", f"malformed JSON: {e}", "fatal", LAYER,
                              "json-syntax")]
    return data, found


def check(data: Any, *, file: str, line: int | None = None) -> list[Problem]:
    """Check a parsed document (from `parse`, or any dict) for what FHIR JSON forbids."""
    problems: list[Problem] = []
    if not isinstance(data, dict):
        problems.append(Problem(file, line, None, "", f"expected a JSON object (a FHIR resource),"
                                f" got {_kind(data)}", "fatal", LAYER, "json-not-object"))
        return problems
    rt = data.get("resourceType")
    if not isinstance(rt, str) or not rt:
        problems.append(Problem(file, line, None, "", "missing resourceType: a FHIR resource "
                                "needs \"resourceType\"", "fatal", LAYER, "json-no-resourcetype"))
        base = "$this"
    else:
        base = rt
    _walk(data, base, problems, file, line)
    return problems


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(v), "a number"
    )


def _walk(node: Any, loc: str, out: list[Problem], file: str, line: int | None) -> None:
    if isinstance(node, dict):
        if isinstance(node, _Pairs):
            for k in node.duplicates:
                out.append(Problem(file, line, None, member(loc, k), f"duplicate key \"{k}\" in "
                                   "one JSON object; the last one would win silently", "error",
                                   LAYER, "json-duplicate-key"))
        if not node:
            out.append(Problem(file, line, None, loc, "empty object {}: FHIR JSON leaves out an "
                               "element that has no content", "error", LAYER, "json-empty"))
        for k, v in node.items():
            here = member(loc, k)
            if v is None:
                out.append(Problem(file, line, None, here, "null value: FHIR JSON forbids null;"
                                   " leave the element out", "error", LAYER, "json-null"))
                continue
            if isinstance(v, list):
                twin = node.get(k[1:] if k.startswith("_") else "_" + k)
                twin_list = twin if isinstance(twin, list) else None
                if not v:
                    out.append(Problem(file, line, None, here, "empty array []: FHIR JSON leaves"
                                       " out an element that has no content", "error", LAYER,
                                       "json-empty"))
                for i, item in enumerate(v):
                    item_loc = f"{here}[{i}]"
                    if item is None:
                        # ["a", null] + "_x": [null, {...}] is how FHIR aligns primitive arrays.
                        if twin_list is not None and i < len(twin_list) and \
                                twin_list[i] is not None:
                            continue
                        out.append(Problem(file, line, None, item_loc, "null in an array: FHIR "
                                           "JSON allows it only as the placeholder of a primitive"
                                           " array with a matching _" + k.lstrip("_") + " entry",
                                           "error", LAYER, "json-null"))
                        continue
                    _walk_value(item, item_loc, k, out, file, line)
            else:
                _walk_value(v, here, k, out, file, line)


def _walk_value(v: Any, loc: str, key: str, out: list[Problem], file: str,
                line: int | None) -> None:
    if isinstance(v, dict):
        if key == "contained":
            # Other resource slots (Bundle.entry.resource, Parameters.parameter.resource) are
            # known from the definitions: the walk reports a resource without its type there
            # (a "resourceType" key alone proves nothing: R5 Consent.provision has one).
            rt = v.get("resourceType")
            if not isinstance(rt, str) or not rt:
                out.append(Problem(file, line, None, loc, "missing resourceType: a resource "
                                   f"inside \"{key}\" needs \"resourceType\"", "error", LAYER,
                                   "json-no-resourcetype"))
        _walk(v, loc, out, file, line)
    elif isinstance(v, str):
        if v == "":
            out.append(Problem(file, line, None, loc, "empty string \"\": FHIR JSON leaves out"
                               " an element that has no value", "error", LAYER, "json-empty"))
        elif not v.strip() and key != "div":
            out.append(Problem(file, line, None, loc, "string of only whitespace", "warning",
                               LAYER, "json-whitespace"))
