"""Stage 1: curated YAML in `source_data/` -> schema-checked, typed curated facts."""

from ivig_fhir.load.curated import Curated
from ivig_fhir.load.reader import load_source_data

__all__ = ["Curated", "load_source_data"]
