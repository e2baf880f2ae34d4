"""Canonical code system URIs (the only ones the concept table accepts)."""

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
EDQM = "http://standardterms.edqm.eu"
UCUM = "http://unitsofmeasure.org"
CVX = "http://hl7.org/fhir/sid/cvx"  # CDC vaccines administered (interactants)

NAMES = {SNOMED: "SNOMED CT", ICD10CM: "ICD-10-CM", ATC: "ATC", RXNORM: "RxNorm", EDQM: "EDQM",
         CVX: "CVX"}
