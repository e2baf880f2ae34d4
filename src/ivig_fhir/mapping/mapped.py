"""The hand-off from mappers to the bundle: a resource plus where its facts came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ivig_fhir.load.curated import At


@dataclass(frozen=True)
class Mapped:
    # The resource's JSON: built by a mapper, in FHIR element order once map_curated returns
    # it (mapping.order); R4B or R4 JSON after convert.
    resource: dict[str, Any]
    cites: tuple[str, ...] = ()  # source outline items the resource carries
    at: At | None = None  # the curated fact it came from
    provenance: bool = field(default=True)  # clinical content gets a Provenance

    @property
    def resource_type(self) -> str:
        return str(self.resource["resourceType"])

    @property
    def id(self) -> str:
        found = self.resource.get("id")
        if not found:
            raise ValueError(f"a mapped {self.resource_type} has no id")
        return str(found)

    @property
    def key(self) -> str:
        return f"{self.resource_type}/{self.id}"
