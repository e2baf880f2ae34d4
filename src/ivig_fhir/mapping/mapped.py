"""The hand-off from mappers to the bundle: a resource plus where its facts came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fhir.resources.resource import Resource

from ivig_fhir.load.curated import At

if TYPE_CHECKING:  # the R4B models load in a tenth of a second that an R5 build need not spend
    from fhir.resources.R4B.resource import Resource as R4BResource


@dataclass(frozen=True)
class Mapped:
    resource: Resource | R4BResource  # R4B model after convert.to_r4b, and R4 JSON (same
    # structures) after convert.to_r4
    cites: tuple[str, ...] = ()  # source outline items the resource carries
    at: At | None = None  # the curated fact it came from
    provenance: bool = field(default=True)  # clinical content gets a Provenance

    @property
    def id(self) -> str:
        if not self.resource.id:
            raise ValueError(f"a mapped {self.resource.get_resource_type()} has no id")
        return self.resource.id

    @property
    def key(self) -> str:
        return f"{self.resource.get_resource_type()}/{self.id}"
