"""ivig-fhir: curated IVIG knowledge as validated HL7 FHIR resources.

The pipeline, one subpackage or module per stage:

    load      source_data/*.yaml (with line marks) -> JSON Schema -> typed curated facts
    terminology  concept table, offline code checks
    mapping   curated facts -> fhir.resources models, one module per resource family
    bundle    ids, ordering, the transaction Bundle, deterministic JSON
    validate  layered validation of any FHIR JSON
    write     atomic output
    upload    a FHIR server over HTTP

Only `cli` prints or exits; every stage returns problems as data.
"""

__version__ = "0.1.0"
