"""Which codes count as a concept: the members of its ValueSet, computed from the concept table.

A decision-support rule matches a patient's coded problem against a set of codes, never against
the one code a CodeableConcept shows. For each concept the set is:

- every `equivalent` or `narrower` code the table records (never a `broader` one: it would widen
  the concept, e.g. a use, to patients it does not cover; never an unverified candidate);
- for an ICD-10-CM code marked `descendants`, every code below it in the tabular hierarchy of
  the release simple-icd-10-cm ships (so G70.0 brings G70.00 and G70.01), less the codes the
  concept `exclude`s and everything below them.

SNOMED CT codes are taken as listed: no SNOMED CT release ships with the tool, so their
descendants cannot be computed offline.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from ivig_fhir.load.curated import Concept, Curated, Fact, walk
from ivig_fhir.terminology import icd10cm
from ivig_fhir.terminology.systems import ICD10CM

MATCHED_SCOPES = ("equivalent", "narrower")

# Every curated field that names a concept (load.reader), less those that describe the product
# rather than a patient, and warning examples, which stay text (ClinicalUseDefinition.warning
# has no slot for them). A fact type added later is matchable by default.
_NOT_PATIENT = {"Product", "Mechanism", "Agent"}
_TEXT_ONLY = {("Warning", "examples")}


@cache  # asked once per curated fact
def _matchable() -> dict[str, tuple[str, ...]]:
    from ivig_fhir.load.reader import _CONCEPT_FIELDS as CONCEPT_FIELDS

    return {kind: tuple(f for f in fields if (kind, f) not in _TEXT_ONLY)
            for kind, fields in CONCEPT_FIELDS.items() if kind not in _NOT_PATIENT}


@dataclass(frozen=True, order=True)
class Member:
    system: str
    code: str
    display: str
    version: str | None = None


def members(concept: Concept) -> list[Member]:
    """The codes that count as `concept`, sorted by system and code, each once."""
    found: dict[tuple[str, str], Member] = {}
    excluded = _excluded(concept)
    for coding in concept.codings:
        if coding.scope not in MATCHED_SCOPES or coding.verified.status == "unverified":
            continue
        found.setdefault((coding.system, coding.code),
                         Member(coding.system, coding.code, coding.display, coding.version))
        if coding.system == ICD10CM and coding.descendants:
            cm = icd10cm.release()
            for code in cm.descendants(coding.code):
                if code not in excluded:
                    found.setdefault((ICD10CM, code), Member(
                        ICD10CM, code, cm.descriptions[code], coding.version))
    return sorted(m for (system, code), m in found.items()
                  if system != ICD10CM or code not in excluded)


def _excluded(concept: Concept) -> set[str]:
    if not concept.exclude:
        return set()
    cm = icd10cm.release()
    out = set()
    for ex in concept.exclude:
        out.add(ex.code)
        out.update(cm.descendants(ex.code))
    return out


def matchable_keys(curated: Curated) -> list[str]:
    """Keys of the concepts a rule matches on, in concept-table order."""
    used: set[str] = set()
    for fact in walk(curated):
        for field in _matchable().get(type(fact).__name__, ()):
            used.update(_keys(fact, field))
    return [c.key for c in curated.concepts if c.key in used]


def uses_of(curated: Curated) -> dict[str, list[str]]:
    """concept key -> the kinds of fact that name it (e.g. 'Indication.concept')."""
    out: dict[str, list[str]] = {}
    for fact in walk(curated):
        for field in _matchable().get(type(fact).__name__, ()):
            for key in _keys(fact, field):
                out.setdefault(key, []).append(f"{type(fact).__name__}.{field}")
    return out


def _keys(fact: Fact, field: str) -> Iterator[str]:
    value = getattr(fact, field, None)
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        yield from (v for v in value if isinstance(v, str))
