"""fhir.resources models build their pydantic validators when first used, not when imported.

Importing a resource's module built a validator for every backbone element of the resource,
used or not (MedicationKnowledge has two dozen, the export fills a few), and that was the
largest single share of a converting build's start-up. `defer_build` changes when a model's
schema is built, not what it checks or how it serialises. Set through fhir_core's hook, which
applies to the models defined after it: this module is imported by `ivig_fhir.convert` before
any of its modules imports a model (the package is initialised before any of its
submodules).
"""

from __future__ import annotations

from fhir_core.fhirabstractmodel import FHIRAbstractModel

FHIRAbstractModel.set_global_model_config(defer_build=True)
