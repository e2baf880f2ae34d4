"""The export's bytes are those fhir_core would write without building its models:
mapping.order puts the mapping's dicts in the order fhir_core's model_dump_json gives (on the
whole export, and on elements the export does not hold: choice types, `_name` siblings,
contained resources, content references); convert.dump gives what model_dump_json gives,
parsed, for the R4B models convert parses with, including the values the export does not
hold (primitive extensions, Decimals, bytes, comments) and those it hands back to fhir_core.
An R5 build imports neither fhir.resources nor fhir_core."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fhir.resources import get_fhir_model_class
from fhir.resources.attachment import Attachment
from fhir.resources.observation import Observation
from fhir.resources.R4B import get_fhir_model_class as get_fhir_model_class_r4b
from fhir.resources.resource import Resource

from ivig_fhir.convert import to_r4, to_r4b
from ivig_fhir.convert.dump import model_json as resource_json
from ivig_fhir.load import load_source_data
from ivig_fhir.mapping import map_curated
from ivig_fhir.mapping.order import ordered

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source_data"


def _slow(model: Any) -> Any:
    return json.loads(model.model_dump_json(exclude_none=True))


def _same(model: Any) -> None:
    fast = resource_json(model)
    # compared as text too: JSON objects compare equal in any key order, the export does not
    assert json.dumps(fast) == json.dumps(_slow(model))


def _as_r5_model(resource: dict[str, Any]) -> Any:
    return get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_the_mapping_writes_each_resource_as_its_r5_model_dumps_it() -> None:
    resources = map_curated(load_source_data(SOURCE))
    assert len(resources) > 400
    for mapped in resources:
        # compared as text: JSON objects compare equal in any key order, the export does not
        assert json.dumps(mapped.resource) == json.dumps(_slow(_as_r5_model(mapped.resource)))


def test_elements_go_in_element_order_whatever_order_they_come_in() -> None:
    resource = {
        "status": "active",
        "item": [{"type": "group", "linkId": "1", "text": "t",
                  "item": [{"type": "string", "linkId": "1.1", "_text": {"id": "x"},
                            "text": "inner", "enableWhen": [{
                                "answerString": "yes", "operator": "=",
                                "question": "1"}]}]}],
        "contained": [{"status": "draft", "id": "vs", "resourceType": "ValueSet",
                       "name": "VS", "_status": {"extension": [{
                           "valueCode": "x", "url": "http://example.org/e"}]}}],
        "_status": {"id": "s"},
        "id": "q",
        "resourceType": "Questionnaire",
        "extension": [{"valueQuantity": {"unit": "g", "value": 2, "code": "g",
                                         "system": "http://unitsofmeasure.org"},
                       "url": "http://example.org/q"}],
    }
    mine = ordered(resource)
    assert list(mine) == ["resourceType", "id", "contained", "extension", "status", "_status",
                          "item"]
    assert list(mine["item"][0]["item"][0]) == ["linkId", "text", "_text", "type",
                                                "enableWhen"]
    assert list(mine["contained"][0]) == ["resourceType", "id", "name", "status", "_status"]
    assert json.dumps(mine) == json.dumps(_slow(_as_r5_model(resource)))


@pytest.mark.parametrize("convert", [to_r4b, to_r4], ids=["R4B", "R4"])
def test_the_converted_export_dumps_as_fhir_core_dumps_it(convert: Any) -> None:
    resources = convert(map_curated(load_source_data(SOURCE)))
    assert len(resources) > 400
    for mapped in resources:
        model = get_fhir_model_class_r4b(mapped.resource["resourceType"])
        _same(model.model_validate(mapped.resource))


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


def _in_a_fresh_interpreter(code: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_models_build_their_validators_when_first_used() -> None:
    # in a fresh interpreter: in this one another test may have used the model already
    code = "\n".join([
        "import ivig_fhir.convert",
        "from fhir.resources.medicationknowledge import MedicationKnowledgeMonitoringProgram as M",
        "assert not M.__pydantic_complete__, 'built on import'",
        "M.model_validate({'name': 'x', 'type': {'text': 'y'}})",
        "assert M.__pydantic_complete__",
    ])
    _in_a_fresh_interpreter(code)


def test_an_r5_build_builds_no_model() -> None:
    # in a fresh interpreter: the tests above import the models into this one
    code = "\n".join([
        "import sys",
        "from pathlib import Path",
        "from ivig_fhir.pipeline import BuildSettings, build",
        f"result = build(BuildSettings(Path({str(SOURCE)!r}), Path('unused')))",
        "assert result.counts['ClinicalUseDefinition'] > 100, result.counts",
        "loaded = sorted(m for m in sys.modules if m.startswith(('fhir.', 'fhir_core')))",
        "assert not loaded, loaded",
    ])
    _in_a_fresh_interpreter(code)
