"""Source coverage: every item of each source outline is carried by a resource, or excluded
with a reason. An item that is neither is a problem naming its line in sources.yaml."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ivig_fhir.load.curated import Curated, OutlineItem, Section, Source
from ivig_fhir.load.reader import problem_at
from ivig_fhir.mapping import Mapped
from ivig_fhir.problems import Problem


@dataclass(frozen=True)
class CoverageRow:
    locator: str
    source: Source
    section: Section
    item: OutlineItem
    resources: tuple[str, ...]

    @property
    def status(self) -> str:
        if self.item.excluded:
            return "excluded"
        return "mapped" if self.resources else "MISSING"


def coverage(curated: Curated, resources: Sequence[Mapped]) -> tuple[list[CoverageRow],
                                                                      list[Problem]]:
    carried: dict[str, set[str]] = defaultdict(set)
    for mapped in resources:
        for cite in mapped.cites:
            carried[cite].add(mapped.key)
    rows, problems = [], []
    for locator, (source, section, item) in curated.locators().items():
        row = CoverageRow(locator, source, section, item, tuple(sorted(carried.get(locator, ()))))
        rows.append(row)
        if row.status == "MISSING":
            problems.append(problem_at(item.at, "id", f"source item {locator} ('{item.summary}') "
                                       "is carried by no fact: cite it from a fact, or mark it "
                                       "excluded with a reason", layer="coverage"))
        elif item.excluded and row.resources:
            problems.append(problem_at(item.at, "excluded", f"source item {locator} is marked "
                                       f"excluded but {len(row.resources)} resource(s) cite it",
                                       layer="coverage", severity="warning"))
    return rows, problems
