"""Layer `binding`: codes at elements with a *required* binding come from the value set.

Value sets come from the offline extract; those it cannot expand (UCUM, BCP-47 languages,
MIME types, currencies) are left to the terminology layer.
"""

from __future__ import annotations

from typing import Any

from ivig_fhir.definitions import Definitions, ValueSetCodes
from ivig_fhir.problems import Problem

from ._walk import Walk

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


def check(walk: Walk, defs: Definitions, *, file: str, line: int | None = None) -> list[Problem]:
    out: list[Problem] = []
    for node in walk.nodes:
        el = node.elem
        if el is None or el.binding is None or el.binding.strength != "required":
            continue
        vs = defs.value_set(el.binding.value_set)
        if vs is None or not vs.expandable:
            continue
        url = el.binding.value_set
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
