"""mapping.dump gives what fhir_core's model_dump_json gives, parsed: on the whole export in
every FHIR version, and on the values the export does not hold (primitive extensions,
Decimals, bytes, comments), including the ones it hands back to fhir_core."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.attachment import Attachment
from fhir.resources.observation import Observation
from fhir.resources.resource import Resource

from ivig_fhir.convert import to_r4, to_r4b
from ivig_fhir.load import load_source_data
from ivig_fhir.mapping import map_curated
from ivig_fhir.mapping.dump import resource_json

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source_data"


def _slow(model: Any) -> Any:
    return json.loads(model.model_dump_json(exclude_none=True))


def _same(model: Any) -> None:
    fast = resource_json(model)
    # compared as text too: JSON objects compare equal in any key order, the export does not
    assert json.dumps(fast) == json.dumps(_slow(model))


@pytest.mark.parametrize("convert", [None, to_r4b, to_r4], ids=["R5", "R4B", "R4"])
def test_the_whole_export_dumps_as_fhir_core_dumps_it(convert: Any) -> None:
    resources = map_curated(load_source_data(SOURCE))
    if convert is not None:
        resources = convert(resources)
    assert len(resources) > 400
    for mapped in resources:
        _same(mapped.resource)


def test_primitive_extensions_decimals_and_comments() -> None:
    observation = Observation.model_validate({
        "resourceType": "Observation", "id": "o", "status": "final",
        "_status": {"extension": [{"url": "http://example.org/x", "valueString": "y"}]},
        "code": {"text": "t", "coding": [{"system": "http://loinc.org", "code": "1-8",
                                          "_code": {"id": "c"}}]},
        "valueQuantity": {"value": Decimal("2.50"), "unit": "g"},
        "referenceRange": [{"low": {"value": 3}, "high": {"value": Decimal("1E+2")}}],
        "effectiveDateTime": "2024-05-01T10:00:00+02:00",
        "issued": "2024-05-01T08:00:00Z",
        "fhir_comments": ["a comment"],
    })
    _same(observation)
    dumped = resource_json(observation)
    assert list(dumped)[:2] == ["resourceType", "id"]
    assert list(dumped)[-1] == "fhir_comments"
    assert dumped["_status"] == {"extension": [{"url": "http://example.org/x",
                                                "valueString": "y"}]}
    assert dumped["valueQuantity"]["value"] == 2.5
    assert dumped["referenceRange"][0]["high"]["value"] == 100


def test_a_value_it_does_not_know_goes_through_fhir_core() -> None:
    # base64Binary data is held as bytes: fhir_core encodes it, this module does not
    attachment = Attachment.model_validate({"contentType": "text/plain", "data": "aGVsbG8="})
    assert isinstance(attachment.data, bytes)
    resource = Resource.model_validate({"resourceType": "Resource", "id": "r"})
    _same(resource)
    _same(attachment)
    assert resource_json(attachment)["data"] == "aGVsbG8="


def test_models_build_their_validators_when_first_used() -> None:
    # in a fresh interpreter: in this one another test may have used the model already
    code = "\n".join([
        "import ivig_fhir.mapping",
        "from fhir.resources.medicationknowledge import MedicationKnowledgeMonitoringProgram as M",
        "assert not M.__pydantic_complete__, 'built on import'",
        "M.model_validate({'name': 'x', 'type': {'text': 'y'}})",
        "assert M.__pydantic_complete__",
    ])
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
