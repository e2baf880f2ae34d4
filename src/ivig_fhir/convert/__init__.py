"""Conversion of the mapped R5 resources to another FHIR version: R4B (convert.r4b) or R4
(convert.r4), sharing the element moves (convert.common)."""

from __future__ import annotations

from ivig_fhir.convert import _models  # noqa: F401 - before any model is imported: see it
from ivig_fhir.convert.common import NotConvertible
from ivig_fhir.convert.r4 import FHIR_VERSION as R4_FHIR_VERSION
from ivig_fhir.convert.r4 import to_r4
from ivig_fhir.convert.r4b import FHIR_VERSION as R4B_FHIR_VERSION
from ivig_fhir.convert.r4b import NotInR4B, to_r4b

__all__ = ["R4B_FHIR_VERSION", "R4_FHIR_VERSION", "NotConvertible", "NotInR4B", "to_r4",
           "to_r4b"]
