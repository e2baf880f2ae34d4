"""Offline checks of every code in the concept table and every unit in the curated data.

- ICD-10-CM: the code exists in the release simple-icd-10-cm ships, and the display is its
  official description, word for word. A category (non-billable) code is a warning.
- SNOMED CT: no release can be shipped. The id's structure is checked (partition and Verhoeff
  check digit: a mistyped id is an error); a code whose pairing with its name was never seen in
  a published source is a warning that names the reason.
- ATC, RxNorm, EDQM: format checked; verification record required, unverified is a warning.
- UCUM: every unit parses with ucumvert's UCUM grammar.

Scope (ICD-10-CM and SNOMED CT codes, see terminology.members): every code records its scope
against the concept and why; one equivalent code per system; a broader code is refused where
the concept names a use (it would widen the use) and left out everywhere else. ICD-10-CM codes
are further held to the tabular conventions of the release:

- no 7th-character encounter codes (A/D/S: initial, subsequent, sequela) in definitional
  content: the category without the 7th character, with its descendants, is the concept;
- a category (non-billable) code takes `descendants`, or no billed code would ever match it;
- an "unspecified" leaf whose category holds other codes records which of them the concept
  covers (`siblings`), unless the concept's ValueSet already holds them all;
- a code the release marks "not for inpatient use" is refused;
- the Excludes1, use-additional and code-first notes of each code and its ancestors are shown
  against the concept (information), and an Excludes1 that names another member of the same
  ValueSet is an error for an `equivalent` code: a code that sends part of the concept
  elsewhere is narrower than the concept;
- an `equivalent` code whose descendants the concept partly `exclude`s is an error: a consumer
  that reads the CodeableConcept's codings as equivalents and expands the hierarchy would
  match the excluded codes (D80 brought D80.2 IgA deficiency to the PI approvals).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ivig_fhir.problems import Problem
from ivig_fhir.terminology import icd10cm
from ivig_fhir.terminology.systems import ATC, CVX, EDQM, ICD10CM, NAMES, RXNORM, SNOMED
from ivig_fhir.validate._codes import ucum_problem

if TYPE_CHECKING:  # the curated models import pydantic: not needed by `validate`
    from ivig_fhir.load.curated import At, Coding, Concept, Curated

LAYER = "terminology"


# Systems whose codes record their scope against the concept. CVX is here because a group
# concept (measles- or varicella-containing vaccines) lists several products, each narrower.
SCOPED = (ICD10CM, SNOMED, CVX)
ENCOUNTER = {"A": "initial encounter", "D": "subsequent encounter", "S": "sequela"}


def check_concepts(curated: Curated) -> list[Problem]:
    from ivig_fhir.terminology.members import uses_of

    uses = uses_of(curated)
    problems: list[Problem] = []
    for concept in curated.concepts:
        problems += check_concept(concept, uses.get(concept.key, []))
    return problems


def check_concept(concept: Concept, uses: list[str] | None = None) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    listed: set[tuple[str, str]] = set()
    for coding in concept.codings:
        # Two merges of one fix can list a code twice; the ValueSet would hide it, a reviewer not.
        if (coding.system, coding.code) in listed:
            problems.append(_at(coding.at, "code", f"{concept.key}: {NAMES[coding.system]} "
                                f"{coding.code} is listed twice; keep one"))
        listed.add((coding.system, coding.code))
        if coding.system in SCOPED:
            if coding.scope == "equivalent":
                if coding.system in seen:
                    problems.append(_at(coding.at, "scope", f"{concept.key}: two equivalent "
                                        f"{NAMES[coding.system]} codes; one concept has one "
                                        "equivalent code per system (others are narrower)"))
                seen.add(coding.system)
        elif coding.system in seen and coding.system != RXNORM:
            problems.append(_at(coding.at, "system", f"{concept.key}: two "
                                f"{NAMES[coding.system]} codes; one concept takes one code per "
                                "system"))
        else:
            seen.add(coding.system)
        problems += _check_coding(concept.key, coding)
        problems += _check_scope(concept, coding, uses or [])
    problems += _check_icd10cm(concept)
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
    if system == CVX and not re.fullmatch(r"\d{1,3}", code):
        return [("code", f"{label}: a CVX code is one to three digits, as CDC writes it "
                         "(03, 94, 121)", "error")]
    return []


def _icd10cm_findings(label: str, code: str, display: str | None) -> list[Finding]:
    cm = icd10cm.release()
    official = cm.description(code)
    if official is None:
        return [("code", f"{label} is not in the ICD-10-CM release ({cm.name}); codes are "
                         "written with the dot", "error")]
    if display is not None and display != official:
        return [("display", f"{label}: display must be the official description "
                            f"'{official}'", "error")]
    return []


def is_encounter_code(code: str) -> bool:
    """An ICD-10-CM code with a 7th character for the encounter (T88.6XXA, S72.001D...)."""
    icd = code.replace(".", "")
    return len(icd) == 7 and icd[-1] in ENCOUNTER and code not in icd10cm.release().categories


def _check_scope(concept: Concept, coding: Coding, uses: list[str]) -> list[Problem]:
    if coding.system not in SCOPED or coding.verified.status == "unverified":
        return []
    label = f"{concept.key}: {NAMES[coding.system]} {coding.code}"
    if coding.scope is None or not coding.why:
        return [_at(coding.at, "scope", f"{label}: record its scope against the concept "
                                        "(scope: equivalent | narrower | broader) and why")]
    if coding.scope != "broader":
        return []
    named_by_use = sorted({u for u in uses if u.startswith("Indication.")})
    if named_by_use:
        return [_at(coding.at, "scope", f"{label} is broader than the concept, which a use "
                                        f"names ({', '.join(named_by_use)}): a broader code "
                                        "would widen the use; remove it (the note can say why)")]
    return [_at(coding.at, "scope", f"{label} is broader than the concept: left out of its "
                                    "CodeableConcept and ValueSet", "warning")]


def _check_icd10cm(concept: Concept) -> list[Problem]:
    from ivig_fhir.terminology.members import members

    icd = [c for c in concept.codings if c.system == ICD10CM]
    if not icd:
        return []
    cm = icd10cm.release()
    problems: list[Problem] = []
    member_codes = {m.code for m in members(concept) if m.system == ICD10CM}
    for coding in icd:
        code = coding.code
        if cm.description(code) is None:
            continue  # reported by code_findings
        label = f"{concept.key}: ICD-10-CM {code}"
        if is_encounter_code(code):
            problems.append(_at(coding.at, "code", f"{label} carries a 7th character "
                                f"({ENCOUNTER[code[-1]]}): definitional content names the "
                                f"condition, not an encounter; use {cm.parents[code]} with "
                                "descendants: true"))
        if code in cm.categories and not coding.descendants:
            problems.append(_at(coding.at, "code", f"{label} is a category (not billable): mark "
                                "it 'descendants: true', or no billed code would match it"))
        cut = sorted(ex.code for ex in concept.exclude
                     if coding.scope == "equivalent" and coding.descendants
                     and ex.code in cm.descendants(code))
        if cut:
            problems.append(_at(coding.at, "scope", f"{label} is equivalent, yet the concept "
                                f"excludes {', '.join(cut)} below it: a consumer expanding the "
                                "CodeableConcept's code would match them; the code is narrower"))
        if coding.descendants and code not in cm.categories:
            problems.append(_at(coding.at, "descendants", f"{label} has no codes below it",
                                "warning"))
        parent = cm.parents.get(code)
        siblings = [s for s in cm.children.get(parent or "", []) if s != code]
        if ("unspecified" in cm.descriptions[code].lower() and code not in cm.categories
                and siblings and not set(siblings) <= member_codes and not coding.siblings):
            problems.append(_at(coding.at, "code", f"{label} is an 'unspecified' leaf; its "
                                f"category {parent} also holds {', '.join(siblings)}: record in "
                                "'siblings' which of them the concept covers (and add those as "
                                "narrower codes), or use the category with descendants"))
        for at, label_, text in cm.tabular_notes(code):
            text = " ".join(text.split())  # the release breaks notes over lines
            where = f"{label}: tabular {label_} at {at}: {text}"
            if "not for inpatient" in text.lower():
                problems.append(_at(coding.at, "code", f"{where}; refused in definitional "
                                    "content"))
            elif label_ in ("Excludes1", "Use additional code", "Code first", "Note"):
                problems.append(_at(coding.at, "code", where, "information"))
            # Narrower codes may exclude each other (the concept is their union); a code
            # equal to the concept cannot send part of the concept elsewhere.
            if label_ == "Excludes1" and coding.scope == "equivalent":
                refs = _REF.findall(text)
                clash = sorted(c for c in member_codes if _names(refs, c))
                if clash:
                    problems.append(_at(coding.at, "scope", f"{label}: its Excludes1 ({text}) "
                                        f"sends {', '.join(clash[:5])} elsewhere, yet they are "
                                        "in the concept's ValueSet: the code is narrower than "
                                        "the concept, not equivalent"))
    return problems


# An ICD-10-CM code as an Excludes1 text names it.
_REF = re.compile(r"[A-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4})?")


def _names(refs: list[str], code: str) -> bool:
    """Whether the codes an Excludes1 text names (`_REF.findall` of it) take in `code`:
    '(T80.5-)' covers T80.5 and below, '(T88.6)' the code itself and below, ranges
    'A48.51-A48.52' their ends. The text is read once per note, not once per member code."""
    for ref in refs:
        if code == ref or code.startswith(ref + ("" if "." in ref else ".")) or (
                "." in ref and code.startswith(ref)):
            return True
    return False


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
    from ivig_fhir.load.curated import QuantityValue, Range, walk

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
