"""Layer `binding`: codes at elements with a *required* binding come from the value set.

Value sets come from the offline extract; those it cannot expand (UCUM, BCP-47 languages,
MIME types, currencies) are checked with `_codes`, and so is the unit of every Quantity whose
system is UCUM.

One rule is HAPI FHIR's, not the specification's (`_hapi_system`): at any binding to one of
those five value sets, whatever its strength, a coding from another code system is an error.
"""

from __future__ import annotations

from typing import Any

from ivig_fhir.definitions import Binding, Definitions, ValueSetCodes
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


def _hapi_system(loc: str, type_code: str, value: Any, binding: Binding, file: str,
                 line: int | None) -> list[Problem]:
    """HAPI's CommonCodeSystemsTerminologyService (HAPI FHIR 8.8.0, in the validation chain of
    HAPI's FhirInstanceValidator and so of a HAPI server validating uploads) answers for the
    value sets languages, all-languages, ucum-units, mimetypes and currencies, and refuses any
    code system but the one it assumes for each (its message: 'Inappropriate CodeSystem URL',
    key mismatchCodeSystem). The HL7 engine asks it at every binding but an example one, and
    reports what it says as an error whatever the strength: a preferred binding, which lets
    other codes in (https://hl7.org/fhir/terminologies.html#preferred), fails the same way.
    Where, as the referee shows: every coding of a CodeableConcept that has a system (one coding
    from another system fails the concept even next to a right one, and one without a code
    fails too); a Coding element only when it has both a system and a code (the engine asks
    about nothing else); the value of an extension whose definition binds it."""
    vs = binding.value_set.split("|", 1)[0]
    known = _codes.CHECKS.get(vs)
    if known is None or binding.strength == "example" or not isinstance(value, dict):
        return []
    expected = known[0]
    if type_code == "CodeableConcept":
        codings = _codings(type_code, value) or []
    elif type_code == "Coding" and value.get("code") is not None:
        codings = [value]
    else:
        return []
    allowed = "" if binding.strength == "required" else (
        f"; FHIR itself allows other codes at a {binding.strength} binding")
    return [Problem(file, line, None, loc, f"code system {system!r} at a binding to {vs}: HAPI "
                    f"FHIR's validation, as a HAPI server applies it, accepts only {expected} "
                    f"there ('Inappropriate CodeSystem URL'){allowed}", "error", LAYER,
                    "hapi-code-system")
            for c in codings if isinstance(system := c.get("system"), str) and system.strip()
            and system != expected]


def _extension_binding(node: Node, defs: Definitions) -> Binding | None:
    """The binding a core extension's definition puts on its value. (No nested extension of
    the core binds its value to a value set `_hapi_system` knows.)"""
    url = node.value.get("url") if isinstance(node.value, dict) else None
    d = defs.extension(url) if isinstance(url, str) else None
    return d.rules.binding if d is not None else None


def check(walk: Walk, defs: Definitions, *, file: str, line: int | None = None) -> list[Problem]:
    out = _units(walk, file, line)
    for node in walk.nodes:
        if node.type == "Extension" and (bound := _extension_binding(node, defs)) is not None:
            for key in ("valueCodeableConcept", "valueCoding"):
                out += _hapi_system(f"{node.loc}.{key}", key[5:], node.value.get(key), bound,
                                    file, line)
        el = node.elem
        if el is None or el.binding is None:
            continue
        out += _hapi_system(node.loc, node.type, node.value, el.binding, file, line)
        if el.binding.strength != "required":
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
