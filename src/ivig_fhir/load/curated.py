"""The typed curated facts: what the sources say, with no FHIR in sight.

Field names follow the YAML (see source_data.schema.json); every fact carries `at`, the file
and line it came from, so later stages can point a curator at it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class At(BaseModel):
    model_config = ConfigDict(frozen=True)
    file: str
    line: int | None = None
    column: int | None = None
    path: str = ""
    # line/column of each direct field and list item ("cite", "cite[1]") for precise messages
    fields: dict[str, tuple[int, int]] = Field(default_factory=dict, repr=False)

    def of(self, field: str) -> tuple[int | None, int | None]:
        line, column = self.fields.get(field, (self.line, self.column))
        return line, column


class Fact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    at: At = Field(default_factory=lambda: At(file="?"))


def walk(node: Any) -> Iterator[Fact]:
    """Every Fact inside `node`, depth first."""
    if isinstance(node, Fact):
        yield node
        for name in type(node).model_fields:
            if name != "at":
                yield from walk(getattr(node, name))
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


class Range(Fact):
    low: int | float
    high: int | float
    unit: str
    note: str | None = None


class Release(Fact):
    content_version: str
    date: str
    canonical_base: str
    publisher: str
    jurisdiction: str | None = None


class OutlineItem(Fact):
    id: str
    summary: str
    excluded: str | None = None


class Section(Fact):
    id: str
    heading: str
    items: list[OutlineItem]


class Source(Fact):
    key: str
    title: str
    seed_file: str | None = None
    sha256: str | None = None
    url: str | None = None
    publisher: str | None = None
    kind: Literal["source-page", "prescribing-information", "immunization-guidance",
                  "label-summary", "regulatory-document"] = "source-page"
    read_on: str | None = None
    document_date: str | None = None
    description: str
    audience: str | None = None
    sections: list[Section]

    def locators(self) -> dict[str, tuple[Section, OutlineItem]]:
        return {f"{self.key}#{s.id}.{i.id}": (s, i) for s in self.sections for i in s.items}


class Verification(Fact):
    status: Literal["release", "checked", "unverified"]
    source: str
    checked_on: str | None = None


Scope = Literal["equivalent", "narrower", "broader"]


class Coding(Fact):
    system: str
    code: str
    display: str
    version: str | None = None
    # The code's meaning against the concept's: only `equivalent` codes go into the concept's
    # CodeableConcept; `equivalent` and `narrower` ones into its ValueSet; `broader` never.
    scope: Scope | None = None
    why: str | None = None
    # ICD-10-CM: the ValueSet takes every code below this one in the tabular hierarchy.
    descendants: bool = False
    # An "unspecified" leaf whose category has other codes: which of them the concept covers.
    siblings: str | None = None
    verified: Verification


class Uncoded(Fact):
    system: str
    reason: str


class Excluded(Fact):
    code: str
    why: str


class Concept(Fact):
    key: str
    display: str
    codings: list[Coding]
    uncoded: list[Uncoded] = []
    # ICD-10-CM codes a `descendants` coding would take that the concept does not cover.
    exclude: list[Excluded] = []
    note: str | None = None


class QuantityValue(Fact):
    value: int | float
    unit: str
    comparator: Literal[">", ">=", "<", "<="] | None = None


class Characteristic(Fact):
    key: str
    type: str
    text: str
    quantity: QuantityValue | None = None
    cite: list[str]
    note: str | None = None


class Mechanism(Fact):
    key: str
    text: str
    applies_to: list[str] = []
    cite: list[str]
    note: str | None = None


class Product(Fact):
    key: str
    name: str
    concept: str
    substance: str
    dose_form: str
    route: str
    classification: list[str]
    description: str
    characteristics: list[Characteristic]
    mechanisms: list[Mechanism]
    cite: list[str]


class Agent(Fact):
    concept: str
    route: str | None = None
    text: str | None = None


class Premedication(Fact):
    before_infusion: Range
    agents: list[Agent]
    purpose: str
    cite: list[str]


class Setting(Fact):
    key: str
    concept: str | None = None
    when: str
    text: str
    cite: list[str]


class Cost(Fact):
    low: int | float
    high: int | float
    currency: str
    per: str
    population: str | None = None
    cite: list[str]
    note: str | None = None


class Supervision(Fact):
    text: str
    cite: list[str]


class Regimen(Fact):
    """One dosing statement as its source gives it: never merged with another source's."""

    key: str
    title: str
    context: str
    indications: list[str] = []
    qualifiers: list[Literal["no-consensus", "typical", "general-statement", "conditional"]] = []
    dose: Range | None = None
    duration: Range | None = None
    interval: Range | None = None
    text: str
    note: str | None = None
    cite: list[str]


class Response(Fact):
    onset: Range
    condition: str
    repeat: str
    cite: list[str]


class Dosing(Fact):
    regimens: list[Regimen]
    response: Response
    premedication: Premedication
    settings: list[Setting]
    cost: Cost
    supervision: Supervision
    note: str | None = None
    cite: list[str]


class Superseded(Fact):
    by: str  # kind/key of the fact carrying the current statement
    reason: str
    in_part: bool = False  # replaced for part of its scope only: the statement still holds


class Indication(Fact):
    key: str
    concept: str
    status: Literal["fda-approved", "off-label"]
    group: str
    intent: Literal["treatment", "prevention"] = "treatment"
    comorbidity: list[str] = []
    disease_status: str | None = None
    qualifier: str | None = None
    population: str | None = None
    evidence: (
        Literal["fda-approved-labeling", "guideline-listed", "reported-useful",
                "uncontrolled-reports", "immunization-guidance"] | None
    ) = None
    recommendation: Literal["none-made"] | None = None
    description: str | None = None
    conflicts_with: list[str] = []
    superseded: Superseded | None = None
    note: str | None = None
    cite: list[str]


class UndesirableEffect(Fact):
    key: str
    concept: str
    severity_text: str | None = None
    frequency: Literal["common", "uncommon", "rare", "very-rare", "not-known"] | None = None
    manifestations: list[str] = []
    description: str | None = None
    note: str | None = None
    cite: list[str]


class IntervalLength(Fact):
    value: int | float
    unit: Literal["d", "wk", "mo", "a"]


class DeferralInterval(Fact):
    """One row of an interval table: the antibody dose band given and the interval it sets
    before the interacting product (the ACIP table reads by dose; `indication` is the row's
    example use, not a condition of the row)."""

    dose: Range
    interval: IntervalLength
    indication: str
    cite: list[str]


class Interaction(Fact):
    key: str
    interactant: str
    type: Literal["drug-drug", "drug-food", "drug-test", "other"]
    effect: str
    effect_text: str | None = None
    management: str | list[str]
    intervals: list[DeferralInterval] = []
    products: list[str] = []
    superseded: Superseded | None = None
    note: str | None = None
    cite: list[str]

    @property
    def managements(self) -> list[str]:
        return [self.management] if isinstance(self.management, str) else self.management


class Warning(Fact):
    key: str
    kind: Literal["warning", "contraindication"]
    concept: str | None = None
    examples: list[str] = []
    population: str | None = None
    description: str
    mitigation: str | None = None
    boxed: bool = False
    comorbidity: list[str] = []
    products: list[str] = []
    class_wide: bool = False
    # Populations the label names as predisposed (risk factors), one per factor: a patient in
    # any of them is at risk, so each is its own Group (a Group's characteristics all hold).
    risk_factors: list[str] = []
    # A contraindication's restriction no code carries (e.g. which agent caused the reaction).
    disease_status: str | None = None
    note: str | None = None
    cite: list[str]


class AgeMin(Fact):
    value: int | float
    unit: Literal["a", "mo", "wk", "d"]


class PopulationCharacteristic(Fact):
    concept: str | None = None
    age: Range | None = None
    age_min: AgeMin | None = None
    # Strictly older than ("age greater than 65"): no lower bound is invented for it.
    age_above: AgeMin | None = None
    age_text: str | None = None


class Population(Fact):
    key: str
    name: str
    description: str
    characteristics: list[PopulationCharacteristic]


class Approval(Fact):
    """A use a US prescribing information approves for one product."""

    key: str
    concept: str
    intent: Literal["treatment", "prevention"] = "treatment"
    comorbidity: list[str] = []
    population: str | None = None
    disease_status: str | None = None
    text: str
    note: str | None = None
    cite: list[str]


class UsProduct(Fact):
    """An IVIG product licensed in the US, as its prescribing information describes it."""

    key: str
    name: str
    holder: str
    description: str
    application: str | None = None
    application_cite: list[str] = []
    ndc_product: list[str] = []
    ndc_package: list[str] = []
    ndc_cite: list[str] = []
    approvals: list[Approval]
    not_verified: list[str] = []
    cite: list[str]


class Curated(Fact):
    """Everything in source_data/, checked: the hand-off from loading to mapping."""

    release: Release
    sources: list[Source]
    concepts: list[Concept]
    product: Product
    dosing: Dosing
    indications: list[Indication]
    undesirable_effects: list[UndesirableEffect]
    interactions: list[Interaction] = []
    warnings: list[Warning] = []
    populations: list[Population] = []
    label_sources: list[Source] = []
    products: list[UsProduct] = []

    @property
    def all_sources(self) -> list[Source]:
        """The two source pages, then the label-current documents."""
        return [*self.sources, *self.label_sources]

    def us_product(self, key: str) -> UsProduct:
        return {p.key: p for p in self.products}[key]

    def population(self, key: str) -> Population:
        return {p.key: p for p in self.populations}[key]

    def locators(self) -> dict[str, tuple[Source, Section, OutlineItem]]:
        return {loc: (src, s, i) for src in self.all_sources
                for loc, (s, i) in src.locators().items()}
