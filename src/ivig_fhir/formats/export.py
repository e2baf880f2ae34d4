"""What every format writer takes: the built export, independent of the output format."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ivig_fhir.load.curated import Release

JsonDict = dict[str, Any]

# The core package each FHIR version's content depends on (FHIR package `dependencies`).
CORE_PACKAGES = {"5.0.0": "hl7.fhir.r5.core", "4.3.0": "hl7.fhir.r4b.core",
                 "4.0.1": "hl7.fhir.r4.core"}


@dataclass(frozen=True)
class Export:
    bundle: JsonDict  # the transaction Bundle, in the export's FHIR version
    release: Release
    fhir_version: str  # e.g. "5.0.0": the one place a writer learns the FHIR version
    ndjson_base_url: str = ""  # prefix of the URLs in the `$import` manifest; "" = relative
    withdrawn: tuple[str, ...] = ()  # "Type/id" of the previous release that this one drops

    def deleted_bundle(self) -> JsonDict:
        """The withdrawn resources as the Bulk Data `deleted` convention writes them: a
        transaction Bundle with one `DELETE Type/id` entry each."""
        return {"resourceType": "Bundle", "type": "transaction",
                "entry": [{"request": {"method": "DELETE", "url": key}}
                          for key in self.withdrawn]}

    @property
    def resources(self) -> list[JsonDict]:
        return [entry["resource"] for entry in self.bundle["entry"]]

    @property
    def core_package(self) -> tuple[str, str]:
        return CORE_PACKAGES[self.fhir_version], self.fhir_version
