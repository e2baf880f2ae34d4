"""Layer `binding`: codes at elements with a *required* binding come from the value set.

Value sets come from the offline extract; those it cannot expand (UCUM, BCP-47 languages,
MIME types, currencies) are checked with `_codes`, and so is the unit of every Quantity whose
system is UCUM.
"""

from __future__ import annotations

from typing import Any

from ivig_fhir.definitions import Definitions, ValueSetCodes
from ivig_fhir.problems import Problem

from . import _codes
from ._walk import Node, Walk

LAYER = "binding"
_STRING_TYPES = frozenset({"code", "string", "uri", "url", "canonical"})


def _allowed(vs: ValueSetCodes, limit: int = 12) -> str:
    codes = sorted({c for cs in vs.codes.values() for c in cs})
    shown = ", ".join(codes[:limit])
    return shown + (f", ... ({len(codes)} codes)" if len(codes) > limit else "")


def _codings(node_type: str, value: Any) -> list[dict[str, Any]] | None:
    """The codings to test, or None when the element has no coded value to test."""
    if node_type == "CodeableReference":
        value = value.get("concept") if isinstance(value, dict) else None
        node_type = "CodeableConcept"
        if value is None:
            return None  # a reference only
    if not isinstance(value, dict):
        return None
    if node_type == "Coding":
        return [value]
    if node_type == "CodeableConcept":
        codings = value.get("coding")
        return [c for c in codings if isinstance(c, dict)] if isinstance(codings, list) else []
    if node_type == "Quantity" and "code" in value:
        return [{"system": value.get("system"), "code": value["code"]}]
    return None


def _external(node: Node, url: str, file: str, line: int | None) -> list[Problem]:
    """A required binding to UCUM, BCP-47, ISO 4217 or MIME types, checked offline."""
    check = _codes.CHECKS.get(url.split("|", 1)[0])
    if check is None:
        return []
    system, problem = check
    if node.type in _STRING_TYPES:
        codes = [node.value] if isinstance(node.value, str) else []
        if node.elem is not None and (node.elem.path == "CapabilityStatement.format"
                                      or node.elem.path.startswith("TestScript.")):
            # "json", "xml" and "ttl" stand for their MIME types here (CapabilityStatement's
            # definition; the official TestScript examples use them, the engine accepts them).
            codes = [c for c in codes if c not in ("json", "xml", "ttl")]
    else:
        codes = [c["code"] for c in _codings(node.type, node.value) or ()
                 if c.get("system") == system and isinstance(c.get("code"), str)]
    return [Problem(file, line, None, node.loc, f"{reason} (required binding {url})", "error",
                    LAYER, "code-invalid") for code in codes if (reason := problem(code))]


def _units(walk: Walk, file: str, line: int | None) -> list[Problem]:
    """Every Quantity with system UCUM has a valid UCUM unit as its code."""
    out = []
    for node in walk.nodes:
        v = node.value
        if (node.type in _codes.QUANTITY_TYPES and isinstance(v, dict)
                and v.get("system") == _codes.UCUM and isinstance(v.get("code"), str)
                and (reason := _codes.ucum_problem(v["code"]))):
            out.append(Problem(file, line, None, f"{node.loc}.code", reason, "error", LAYER,
                               "ucum-invalid"))
    return out


def check(walk: Walk, defs: Definitions, *, file: str, line: int | None = None) -> list[Problem]:
    out = _units(walk, file, line)
    for node in walk.nodes:
        el = node.elem
        if el is None or el.binding is None or el.binding.strength != "required":
            continue
        url = el.binding.value_set
        vs = defs.value_set(url)
        if vs is None or not vs.expandable:
            out += _external(node, url, file, line)
            continue
        if node.type in _STRING_TYPES:
            if isinstance(node.value, str) and vs.contains(None, node.value) is False:
                out.append(Problem(file, line, None, node.loc, f"\"{node.value}\" is not a valid "
                                   f"code for {el.path}: the value set {url} (required) has "
                                   f"{_allowed(vs)}", "error", LAYER, "code-invalid"))
            continue
        codings = _codings(node.type, node.value)
        if codings is None:
            continue
        if not codings:
            out.append(Problem(file, line, None, node.loc, f"{el.path} needs a coding from the "
                               f"required value set {url} ({_allowed(vs)}); only text given",
                               "error", LAYER, "code-missing"))
            continue
        if any(isinstance(c.get("code"), str) and vs.contains(c.get("system"), c["code"])
               for c in codings):
            continue
        given = ", ".join(f"{c.get('system', '(no system)')}|{c.get('code')}" for c in codings)
        out.append(Problem(file, line, None, node.loc, f"{given} is not in the required value "
                           f"set {url} for {el.path}; allowed: {_allowed(vs)}", "error", LAYER,
                           "code-invalid"))
    return out
