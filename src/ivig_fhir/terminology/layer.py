"""The terminology layer of the validator: every code in FHIR JSON, judged offline.

One pass over a resource or Bundle finds each code and checks it by system:

- external systems (ICD-10-CM, SNOMED CT, ATC, RxNorm, EDQM, UCUM): `code_findings`, the same
  rules as the concept table check;
- FHIR-defined code systems (http://hl7.org/fhir/..., terminology.hl7.org): the code is defined
  in the official definitions extract of the resource's FHIR version;
- code systems the Bundle itself carries (the export's local CodeSystems): the code is defined
  there and the display matches;
- with the concept table (inside `build` and `terminology check`): every SNOMED CT, ATC, RxNorm
  and EDQM code is one the table records as checked, so nothing unverified reaches an export.

Codes of required bindings to FHIR value sets (status and the like) are the binding layer's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ivig_fhir.definitions import Definitions, load
from ivig_fhir.problems import Problem
from ivig_fhir.terminology.check import code_findings
from ivig_fhir.terminology.systems import ATC, CVX, EDQM, ICD10CM, NAMES, RXNORM, SNOMED, UCUM

if TYPE_CHECKING:  # the curated models import pydantic: not needed by `validate`
    from ivig_fhir.load.curated import Curated

LAYER = "terminology"
_HL7_PREFIXES = ("http://hl7.org/fhir/", "http://terminology.hl7.org/CodeSystem/")
_EXTERNAL = frozenset({SNOMED, ICD10CM, ATC, RXNORM, EDQM, UCUM, CVX})
# ISO 3166 country codes (MedicationKnowledge.intendedJurisdiction): no FHIR definitions
# carry them, so pycountry's ISO 3166-1 table is the release they are checked against.
ISO3166 = "urn:iso:std:iso:3166"
# SNOMED CT compositional grammar: refinements, attribute groups, terms between pipes.
_SCT_EXPRESSION = re.compile(r"[:|+=(){},\s]")

Coded = tuple[str, str, str, str | None]  # (FHIRPath, system, code, display)


class TerminologyLayer:
    """A validator `Layer`: call with (resource or Bundle JSON, file name)."""

    def __init__(self, fhir_version: str | None = None, curated: Curated | None = None) -> None:
        self.fhir_version = fhir_version
        self.checked: set[tuple[str, str]] | None = None
        if curated is not None:
            self.checked = {(c.system, c.code) for concept in curated.concepts
                            for c in concept.codings if c.verified.status != "unverified"}

    def __call__(self, data: dict[str, Any], file: str) -> list[Problem]:
        from ivig_fhir.validate import detect_version

        defs = load(self.fhir_version or detect_version(data))
        local = dict(_local_code_systems(data))
        problems = []
        for path, system, code, display in sorted(set(_codes(data, data.get("resourceType",
                                                                              "")))):
            for field, message, severity in self._findings(defs, local, system, code, display):
                problems.append(Problem(file, None, None, f"{path}.{field}", message,
                                        severity, LAYER, "code-invalid"))  # type: ignore[arg-type]
        return problems

    def _findings(self, defs: Definitions, local: dict[str, dict[str, str | None]], system: str,
                  code: str, display: str | None) -> list[tuple[str, str, str]]:
        if system == UCUM:
            return []  # Quantity units are the validator's code check (validate._codes)
        if system in _EXTERNAL:
            if self.checked is not None and (system, code) in self.checked:
                return []  # judged by the same rules at the concept table, reported at its line
            if system == SNOMED and self.checked is None and _SCT_EXPRESSION.search(code):
                # Post-coordinated: valid in a Coding, but no offline release to check it with.
                return [("code", f"SNOMED CT expression {code!r}: not checked offline", "warning")]
            found = code_findings(system, code, display)
            if self.checked is not None and system != ICD10CM:
                found.append(("code", f"{NAMES[system]} {code} is not recorded as checked in the "
                                      "concept table", "error"))
            return found
        if system in local:
            if code not in local[system]:
                return [("code", f"{code} is not defined in the export's CodeSystem {system}",
                         "error")]
            defined = local[system][code]
            if display is not None and defined is not None and display != defined:
                return [("display", f"{system}#{code}: display '{display}' differs from the "
                                    f"CodeSystem's '{defined}'", "error")]
            return []
        if system.startswith(_HL7_PREFIXES):
            known = defs.in_code_system(system, code)
            if known is False:
                return [("code", f"{code} is not defined in the FHIR code system {system} "
                                 f"({defs.package_name} {defs.package_version})", "error")]
            if known is None:
                return [("system", f"{system}#{code}: the code system is not in the offline "
                                   "definitions extract; not checked", "warning")]
            official = defs.display(system, code)
            if display is not None and official is not None and display != official:
                return [("display", f"{system}#{code}: display '{display}' differs from the "
                                    f"official '{official}'", "warning")]
            return []
        if system == ISO3166:
            from ivig_fhir.validate._codes import iso_codes

            if code.lower() not in iso_codes()["country"]:
                return [("code", f"{code} is not an ISO 3166-1 alpha-2 country code", "error")]
            return []
        return [("system", f"{system}#{code}: unknown code system; not checked", "warning")]


def _local_code_systems(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, str | None]]]:
    """url -> {code: display} of every CodeSystem in a Bundle (or the resource itself)."""
    resources = [data] + [e.get("resource") for e in data.get("entry", []) or []
                          if isinstance(e, dict)]
    for res in resources:
        if isinstance(res, dict) and res.get("resourceType") == "CodeSystem" and res.get("url"):
            yield res["url"], dict(_concepts(res.get("concept", [])))


def _concepts(concepts: list[Any]) -> Iterator[tuple[str, str | None]]:
    for c in concepts:
        if isinstance(c, dict) and isinstance(c.get("code"), str):
            yield c["code"], c.get("display")
            yield from _concepts(c.get("concept", []))


def _codes(node: Any, path: str) -> Iterator[Coded]:
    """Every {system, code} pair (Coding, Quantity) below `node`, with its FHIRPath."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _codes(item, f"{path}[{i}]")
        return
    if not isinstance(node, dict):
        return
    system, code = node.get("system"), node.get("code")
    if isinstance(system, str) and isinstance(code, str):
        display = node.get("display")
        yield path, system, code, display if isinstance(display, str) else None
    for key, value in node.items():
        if key == "expansion" and node.get("resourceType") == "ValueSet":
            # An expansion lists what a server found at its time, in its code system versions
            # (the engine does not judge these entries as codes either).
            continue
        if isinstance(value, dict | list):
            yield from _codes(value, f"{path}.{key}")
