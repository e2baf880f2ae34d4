"""Conversion of the mapped R5 resources to another FHIR version (today: R4B)."""

from __future__ import annotations

from ivig_fhir.convert.r4b import FHIR_VERSION as R4B_FHIR_VERSION
from ivig_fhir.convert.r4b import NotInR4B, to_r4b

__all__ = ["R4B_FHIR_VERSION", "NotInR4B", "to_r4b"]
