"""Codes from the code systems the definitions cannot expand offline: UCUM units, BCP-47
language tags, ISO 4217 currencies and MIME types (BCP-13).

UCUM units are parsed with ucumvert's grammar of the UCUM specification; languages and
currencies are looked up in pycountry's ISO 639 / 15924 / 3166 / 4217 tables (a BCP-47 tag
whose language, script and region subtags exist there; variants and extensions are checked for
form only); MIME types are checked for RFC 6838 form.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

UCUM = "http://unitsofmeasure.org"
# Quantity and the types derived from it, whose code is a UCUM unit when system is UCUM.
QUANTITY_TYPES = frozenset({"Quantity", "Age", "Count", "Distance", "Duration"})


@cache
def _ucum_grammar() -> str:
    from importlib.util import find_spec
    from pathlib import Path

    spec = find_spec("ucumvert")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("ucumvert is not installed")
    grammar = Path(next(iter(spec.submodule_search_locations))) / "ucum_grammar.lark"
    return grammar.read_text(encoding="utf-8")


@cache
def _ucum_parser() -> Any:
    # ucumvert's own grammar and parser settings (as ucumvert.get_ucum_parser), without
    # importing the package: its __init__ imports pint, a third of a second per start-up.
    from lark import Lark

    return Lark(_ucum_grammar(), start="main_term", strict=True)


_MAX_UNITS_KEPT = 10_000


class _UnitVerdicts:
    """What the grammar said of each unit seen, kept in the user cache (`ivig_fhir._cache`)
    under the grammar's text and lark's version: building the Earley parser costs about
    0.2 s a run, and a run meets the same few dozen units every time."""

    def __init__(self) -> None:
        self.seen: dict[str, str | None] | None = None
        self.new = 0

    def key(self) -> str:
        from ivig_fhir import _cache

        return _cache.key(_ucum_grammar(), _ANNOTATION.pattern, *_cache.versions("lark"))

    def __call__(self, unit: str) -> str | None:
        if self.seen is None:
            import atexit

            from ivig_fhir import _cache

            stored = _cache.read("ucum", self.key())
            self.seen = {u: v for u, v in stored.items()
                         if isinstance(u, str) and (v is None or isinstance(v, str))} \
                if isinstance(stored, dict) else {}
            atexit.register(self.save)
        if unit in self.seen:
            return self.seen[unit]
        verdict = _parse_unit(unit)
        if len(self.seen) < _MAX_UNITS_KEPT:  # memory stays bounded on any input
            self.seen[unit] = verdict
            self.new += 1
        return verdict

    def save(self) -> None:
        if self.new and self.seen is not None:
            from ivig_fhir import _cache

            _cache.write("ucum", self.key(), self.seen)
            self.new = 0


# An annotation's text: UCUM's reference implementation (ucum-java, which the HL7 engine runs)
# takes any printable ASCII but '{' and '}' in it, the space too (R5 Ingredient-example:
# `{delivered dose}`), while ucumvert's grammar stops at 33-126. The space is swapped for '_'
# before parsing: an annotation carries no meaning in UCUM, only its form is checked.
_ANNOTATION = re.compile(r"\{[ -z|~]*\}")


def _parse_unit(unit: str) -> str | None:
    try:
        _ucum_parser().parse(_ANNOTATION.sub(lambda m: m.group(0).replace(" ", "_"), unit))
    except Exception as exc:  # lark raises several error types; any of them means invalid
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"'{unit}' is not a valid UCUM unit ({first})"
    return None


ucum_problem = _UnitVerdicts()
"""None when a unit is a valid UCUM unit, else why not."""


@cache
def iso_codes() -> dict[str, frozenset[str]]:
    """pycountry's tables as sets of lowercase codes ('language2', 'language3', 'script',
    'country', 'currency'), kept in the user cache: importing pycountry and loading its ISO
    639-3 table costs about 0.1 s a run, for the one or two language tags of a file."""
    def build() -> dict[str, frozenset[str]]:
        import pycountry

        def codes(table: Any, field: str) -> frozenset[str]:
            return frozenset(str(getattr(r, field)).lower() for r in table if hasattr(r, field))

        return {"language2": codes(pycountry.languages, "alpha_2"),
                "language3": codes(pycountry.languages, "alpha_3"),
                "script": codes(pycountry.scripts, "alpha_4"),
                "country": codes(pycountry.countries, "alpha_2"),
                "currency": codes(pycountry.currencies, "alpha_3")}

    from ivig_fhir import _cache

    return _cache.cached("iso-codes", _cache.key(*_cache.versions("pycountry")), build,
                         lambda v: isinstance(v, dict) and all(
                             isinstance(v.get(k), frozenset) for k in (
                                 "language2", "language3", "script", "country", "currency")))


def currency_problem(code: str) -> str | None:
    if code.lower() not in iso_codes()["currency"] or code != code.upper():
        return f"'{code}' is not an ISO 4217 currency code"
    return None


_SUBTAG = re.compile(r"[A-Za-z0-9]{1,8}")


def language_problem(tag: str) -> str | None:
    iso = iso_codes()
    parts = tag.split("-")
    if not all(_SUBTAG.fullmatch(p) for p in parts):
        return f"'{tag}' is not a BCP-47 language tag (subtags of 1-8 letters or digits)"
    first = parts[0].lower()
    if first in ("x", "i"):
        return None  # private use / grandfathered
    if first not in (iso["language2"] if len(first) == 2 else iso["language3"]
                     if len(first) == 3 else ()):
        return f"'{tag}': '{parts[0]}' is not an ISO 639 language code"
    for p in parts[1:]:
        if p.lower() == "x":
            break  # private use from here on
        if len(p) == 4 and p.isalpha() and p.lower() not in iso["script"]:
            return f"'{tag}': '{p}' is not an ISO 15924 script code"
        if len(p) == 2 and p.isalpha() and p.lower() not in iso["country"]:
            return f"'{tag}': '{p}' is not an ISO 3166 region code"
    return None


# RFC 6838 restricted-name
_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
# A parameter's value is an RFC 2045 token or quoted-string; an unquoted value with inner
# spaces (R5 Bundle-b5711af0a-...: `application/dicom; variant=DICOM STOW-RS`) is read as one
# value as well, running to the next ';': the HL7 engine passes it (HAPI takes any BCP-13 code),
# so only the type/subtype is held to RFC 6838 strictly.
_VALUE_CHAR = r"[!#-:<-~]"  # printable ASCII but '"' and ';'
_MIME = re.compile(rf"{_NAME}/{_NAME}(\s*;\s*{_NAME}=(\"[^\"]*\"|{_VALUE_CHAR}"
                   rf"([ !#-:<-~]*{_VALUE_CHAR})?))*")


def mime_problem(code: str) -> str | None:
    if not _MIME.fullmatch(code):
        return f"'{code}' is not a MIME type (type/subtype[; parameter=value])"
    return None


# Value set -> (code system, check) for required bindings the extract cannot expand.
CHECKS: Mapping[str, tuple[str, Callable[[str], str | None]]] = {
    "http://hl7.org/fhir/ValueSet/ucum-units": (UCUM, ucum_problem),
    "http://hl7.org/fhir/ValueSet/currencies": ("urn:iso:std:iso:4217", currency_problem),
    "http://hl7.org/fhir/ValueSet/all-languages": ("urn:ietf:bcp:47", language_problem),
    "http://hl7.org/fhir/ValueSet/languages": ("urn:ietf:bcp:47", language_problem),
    "http://hl7.org/fhir/ValueSet/mimetypes": ("urn:ietf:bcp:13", mime_problem),
}
