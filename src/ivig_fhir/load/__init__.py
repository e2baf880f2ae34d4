"""Stage 1: curated YAML in `source_data/` -> schema-checked, typed curated facts.

The names below are imported on first use: `ivig_fhir.load.curated` alone (what the terminology
layer of `validate` needs) must not pull in jsonschema and the YAML reader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ivig_fhir.load.curated import Curated
    from ivig_fhir.load.reader import load_source_data

__all__ = ["Curated", "load_source_data"]


def __getattr__(name: str) -> Any:
    if name == "Curated":
        from ivig_fhir.load.curated import Curated

        return Curated
    if name == "load_source_data":
        from ivig_fhir.load.reader import load_source_data

        return load_source_data
    raise AttributeError(name)
