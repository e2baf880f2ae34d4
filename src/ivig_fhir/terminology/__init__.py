"""The concept table's codes, checked offline against the releases the project can ship."""

from ivig_fhir.terminology.check import check_concepts, check_units
from ivig_fhir.terminology.layer import TerminologyLayer
from ivig_fhir.terminology.systems import ATC, CVX, EDQM, ICD10CM, RXNORM, SNOMED, UCUM

__all__ = ["ATC", "CVX", "EDQM", "ICD10CM", "RXNORM", "SNOMED", "UCUM", "TerminologyLayer",
           "check_concepts", "check_units"]
