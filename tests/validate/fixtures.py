"""Small hand-written R5 resources for the validation tests: valid ones, and a way to break them."""

from __future__ import annotations

import copy
import importlib.util
import json
import uuid
from pathlib import Path
from typing import Any

DIV = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Intravenous immunoglobulin</p></div>'
TEXT = {"status": "generated", "div": DIV}
BASE = "http://example.org/fhir"


def medication() -> dict[str, Any]:
    return {
        "resourceType": "Medication",
        "id": "ivig",
        "text": dict(TEXT),
        "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "J06BA02",
                             "display": "immunoglobulins, normal human, for intravascular adm."}]},
        "status": "active",
    }


def medication_knowledge() -> dict[str, Any]:
    return {
        "resourceType": "MedicationKnowledge",
        "id": "ivig-knowledge",
        "text": dict(TEXT),
        "status": "active",
        "code": {"text": "Immune globulin intravenous (human)"},
        "clinicalUseIssue": [{"reference": "ClinicalUseDefinition/ivig-pid"}],
        "intendedJurisdiction": [{"text": "United States"}],
    }


def group() -> dict[str, Any]:
    return {
        "resourceType": "Group",
        "id": "adults-pid",
        "text": dict(TEXT),
        "type": "person",
        "membership": "definitional",
        "characteristic": [{
            "code": {"text": "age"},
            "valueRange": {
                "low": {"value": 18, "unit": "a", "system": "http://unitsofmeasure.org",
                        "code": "a"},
                "high": {"value": 65, "unit": "a", "system": "http://unitsofmeasure.org",
                         "code": "a"},
            },
            "exclude": False,
        }],
    }


def clinical_use_definition() -> dict[str, Any]:
    return {
        "resourceType": "ClinicalUseDefinition",
        "id": "ivig-pid",
        "text": dict(TEXT),
        "type": "indication",
        "status": {"coding": [{"system": "http://hl7.org/fhir/publication-status",
                               "code": "active"}]},
        "subject": [{"reference": "Medication/ivig"}],
        "population": [{"reference": "Group/adults-pid"}],
        "indication": {
            "diseaseSymptomProcedure": {"concept": {"coding": [{
                "system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "D80.0",
                "display": "Hereditary hypogammaglobulinemia"}]}},
        },
    }


def adverse_event() -> dict[str, Any]:
    return {
        "resourceType": "AdverseEvent",
        "id": "ivig-thrombosis",
        "text": dict(TEXT),
        "status": "completed",
        "actuality": "potential",
        "subject": {"reference": "Group/adults-pid"},
        "code": {"text": "Thrombosis"},
        "suspectEntity": [{"instanceReference": {"reference": "Medication/ivig"}}],
    }


def resources() -> list[dict[str, Any]]:
    return [medication(), medication_knowledge(), group(), clinical_use_definition(),
            adverse_event()]


def transaction(res: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    res = resources() if res is None else res
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"{BASE}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in res
        ],
    }


def big_transaction(n: int = 150) -> dict[str, Any]:
    """About `n` resources like the project's: CUDs and AEs pointing at one Medication and
    shared Groups, linked from one MedicationKnowledge; urn:uuid fullUrls."""
    res: list[dict[str, Any]] = [medication(), group()]
    cuds = []
    for i in range((n - 3) // 2):
        cud = clinical_use_definition()
        cud["id"] = f"ivig-ind-{i}"
        cud["indication"]["durationRange"] = {"low": {"value": 1, "unit": "d"},
                                              "high": {"value": 5, "unit": "d"}}
        cuds.append(cud)
        ae = adverse_event()
        ae["id"] = f"ivig-ae-{i}"
        res += [cud, ae]
    mk = medication_knowledge()
    mk["clinicalUseIssue"] = [{"reference": f"ClinicalUseDefinition/{c['id']}"} for c in cuds]
    res.append(mk)
    bundle = transaction(res)
    for e in bundle["entry"]:
        r = e["resource"]
        e["fullUrl"] = "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{r['resourceType']}/"
                                                    f"{r['id']}"))
    return bundle


def broken(data: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(data)


def dumps(data: Any) -> bytes:
    return json.dumps(data, indent=2).encode("utf-8")


def official_examples() -> Any:
    """tests/referee/examples.py (the official examples packages, fetched once by npm and
    cached), loaded by path: it is not on this folder's import path."""
    spec = importlib.util.spec_from_file_location(
        "referee_examples", Path(__file__).resolve().parents[1] / "referee" / "examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
