"""What every mapper shares: canonical URLs, ids, concept -> CodeableConcept, references.

Ids derive from curated keys (never all digits: HAPI refuses those), so a rebuild gives the
same ids and a re-upload updates the same resources.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ivig_fhir.load.curated import (
    Concept,
    Curated,
    OutlineItem,
    Range,
    Section,
    Source,
    UndesirableEffect,
)
from ivig_fhir.terminology.check import SCOPED
from ivig_fhir.terminology.members import Member, matchable_keys, members
from ivig_fhir.terminology.systems import UCUM

JsonDict = dict[str, Any]

# The extension that links a CodeableConcept to the ValueSet of every code that counts as it.
CONCEPT_VALUE_SET = "concept-value-set"

# Prefix per resource family: keeps ids short, unique across families, and readable in a diff.
PREFIX = {
    "indication": "ind",
    "undesirable-effect": "ue",
    "interaction": "int",
    "warning": "warn",
    "contraindication": "ci",
}


@dataclass(frozen=True)
class MapContext:
    curated: Curated

    @property
    def base(self) -> str:
        return self.curated.release.canonical_base

    @property
    def version(self) -> str:
        return self.curated.release.content_version

    @property
    def recorded(self) -> str:
        """Provenance time: the content's release date, never the wall clock."""
        return f"{self.curated.release.date}T00:00:00Z"

    def identifier(self, kind: str, value: str) -> JsonDict:
        return {"system": f"{self.base}/identifier/{kind}", "value": value}

    def canonical(self, resource_type: str, id_: str) -> str:
        return f"{self.base}/{resource_type}/{id_}"

    @cached_property
    def concepts(self) -> dict[str, Concept]:
        return {c.key: c for c in self.curated.concepts}

    def effect(self, key: str) -> UndesirableEffect:
        return {u.key: u for u in self.curated.undesirable_effects}[key]

    @cached_property
    def locators(self) -> dict[str, tuple[Source, Section, OutlineItem]]:
        return self.curated.locators()

    @cached_property
    def value_sets(self) -> dict[str, list[Member]]:
        """concept key -> the codes that count as it, for every concept a rule matches on
        (uses, reactions, interactions, warnings, populations) that has any."""
        out = {}
        for key in matchable_keys(self.curated):
            found = members(self.concepts[key])
            if found:
                out[key] = found
        return out

    def concept(self, key: str, text: str | None = None) -> JsonDict:
        """A CodeableConcept with the concept's verified codes that mean the same as it (FHIR
        reads the codings of one CodeableConcept as equivalents: narrower codes live only in
        the concept's ValueSet, linked by extension); the text is the curated display, so a
        reader sees the name even where no code exists."""
        concept = self.concepts[key]
        codings = [
            {k: v for k, v in (("system", c.system), ("version", c.version), ("code", c.code),
                               ("display", c.display)) if v is not None}
            for c in concept.codings
            if c.verified.status != "unverified"  # a candidate code is reported, never shipped
            and (c.system not in SCOPED or c.scope == "equivalent")
        ]
        out: JsonDict = {}
        if key in self.value_sets:
            out["extension"] = [{
                "url": self.canonical("StructureDefinition", CONCEPT_VALUE_SET),
                "valueCanonical": f"{self.canonical('ValueSet', key)}|{self.version}"}]
        if codings:
            out["coding"] = codings
        out["text"] = text or concept.display
        return out

    def concept_ref(self, key: str, text: str | None = None) -> JsonDict:
        """A CodeableReference holding a concept."""
        return {"concept": self.concept(key, text)}


def reference(resource_type: str, id_: str, display: str | None = None) -> JsonDict:
    out: JsonDict = {"reference": f"{resource_type}/{id_}"}
    if display:
        out["display"] = display
    return out


def ucum_quantity(value: int | float, unit: str) -> JsonDict:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def ucum_range(r: Range) -> JsonDict:
    return {"low": ucum_quantity(r.low, r.unit), "high": ucum_quantity(r.high, r.unit)}


def fmt_range(r: Range, unit_label: str | None = None) -> str:
    unit = unit_label or r.unit
    return f"{r.low:g}–{r.high:g} {unit}"
