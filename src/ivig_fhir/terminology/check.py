"""Offline checks of every code in the concept table and every unit in the curated data.

- ICD-10-CM: the code exists in the release simple-icd-10-cm ships, and the display is its
  official description, word for word. A category (non-billable) code is a warning.
- SNOMED CT: no release can be shipped. The id's structure is checked (partition and Verhoeff
  check digit: a mistyped id is an error); a code whose pairing with its name was never seen in
  a published source is a warning that names the reason.
- ATC, RxNorm, EDQM: format checked; verification record required, unverified is a warning.
- UCUM: every unit parses with ucumvert's UCUM grammar.
"""

from __future__ import annotations

import re

from ivig_fhir.load.curated import At, Coding, Concept, Curated, QuantityValue, Range, walk
from ivig_fhir.problems import Problem
from ivig_fhir.terminology import icd10cm
from ivig_fhir.terminology.systems import ATC, EDQM, ICD10CM, NAMES, RXNORM, SNOMED
from ivig_fhir.validate._codes import ucum_problem

LAYER = "terminology"


def check_concepts(curated: Curated) -> list[Problem]:
    problems: list[Problem] = []
    for concept in curated.concepts:
        problems += check_concept(concept)
    return problems


def check_concept(concept: Concept) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for coding in concept.codings:
        if coding.system in seen and coding.system != RXNORM:
            problems.append(_at(coding.at, "system", f"{concept.key}: two "
                                f"{NAMES[coding.system]} codes; one concept takes one code per "
                                "system"))
        seen.add(coding.system)
        problems += _check_coding(concept.key, coding)
    coded = {c.system for c in concept.codings}
    for uncoded in concept.uncoded:
        if uncoded.system in coded:
            problems.append(_at(uncoded.at, "system", f"{concept.key}: marked uncoded in "
                                f"{uncoded.system} but also has a code there"))
    return problems


Finding = tuple[str, str, str]  # (field, message, severity)


def code_findings(system: str, code: str, display: str | None) -> list[Finding]:
    """What is wrong with one code of an external system, judged offline: the one rule set
    behind the concept table check and the export's terminology layer."""
    name = NAMES.get(system, system)
    label = f"{name} {code}"
    if system == ICD10CM:
        return _icd10cm_findings(label, code, display)
    if system == SNOMED and not snomed_id_is_wellformed(code):
        return [("code", f"{label} is not a valid SNOMED CT concept id (partition or Verhoeff "
                         "check digit wrong)", "error")]
    if system == ATC and not re.fullmatch(r"[A-Z](\d{2}([A-Z]([A-Z](\d{2})?)?)?)?", code):
        return [("code", f"{label} is not an ATC code of any level (e.g. J06BA02, H02A)",
                 "error")]
    if system == RXNORM and not code.isdigit():
        return [("code", f"{label}: an RxCUI is all digits", "error")]
    if system == EDQM and not code.isdigit():
        return [("code", f"{label}: an EDQM standard term code is numeric", "error")]
    return []


def _icd10cm_findings(label: str, code: str, display: str | None) -> list[Finding]:
    cm = icd10cm.release()
    official = cm.description(code)
    if official is None:
        return [("code", f"{label} is not in the ICD-10-CM release ({cm.name}); codes are "
                         "written with the dot", "error")]
    found = []
    if display is not None and display != official:
        found.append(("display", f"{label}: display must be the official description "
                                 f"'{official}'", "error"))
    if code in cm.categories:
        found.append(("code", f"{label} is a category, not a billable code; use a more "
                              "specific code where one fits", "warning"))
    return found


def _check_coding(key: str, coding: Coding) -> list[Problem]:
    name = NAMES.get(coding.system, coding.system)
    label = f"{key}: {name} {coding.code}"
    problems = [_at(coding.at, field, f"{key}: {message}", severity)
                for field, message, severity in code_findings(coding.system, coding.code,
                                                              coding.display)]
    verified = coding.verified
    if coding.system == ICD10CM:
        if verified.status != "release":
            problems.append(_at(verified.at, "status", f"{label}: ICD-10-CM is checked against "
                                                       "the shipped release; status should be "
                                                       "'release'", "warning"))
    elif verified.status == "release":
        problems.append(_at(verified.at, "status", f"{label}: no {name} release ships with the "
                                                   "tool; record where the code was checked"))
    elif verified.status == "unverified":
        problems.append(_at(verified.at, "status", f"{label} '{coding.display}' is unverified: "
                                                   f"{verified.source}", severity="warning"))
    elif not verified.checked_on:
        problems.append(_at(verified.at, "source", f"{label}: a checked code needs checked_on "
                                                   "(when it was checked)"))
    return problems


def snomed_id_is_wellformed(sctid: str) -> bool:
    """SNOMED CT ids: 6-18 digits, no leading zero, a concept partition ('00' or '10' in the
    two digits before the check digit) and a valid Verhoeff check digit."""
    if not re.fullmatch(r"[1-9]\d{5,17}", sctid):
        return False
    if sctid[-3:-1] not in ("00", "10"):
        return False
    return _verhoeff_valid(sctid)


_D = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
      [2, 3, 4, 0, 1, 7, 8, 9, 5, 6], [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
      [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
      [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
      [8, 7, 6, 5, 9, 3, 2, 1, 0, 4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
_P = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
      [5, 8, 0, 3, 7, 9, 6, 1, 4, 2], [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
      [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
      [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]


def _verhoeff_valid(number: str) -> bool:
    check = 0
    for i, digit in enumerate(reversed(number)):
        check = _D[check][_P[i % 8][int(digit)]]
    return check == 0


def check_units(curated: Curated) -> list[Problem]:
    problems = []
    for fact in walk(curated):
        if not isinstance(fact, Range | QuantityValue):
            continue
        reason = ucum_problem(fact.unit)
        if reason:
            problems.append(_at(fact.at, "unit", reason))
    return problems


def _at(at: At, field: str, message: str, severity: str = "error") -> Problem:
    from ivig_fhir.load.reader import problem_at

    return problem_at(at, field, message, LAYER, severity)
