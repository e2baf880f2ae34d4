"""The invariant engine itself: the important constraints work in fhirpathpy (not only through
the Python shortcuts), the shortcuts agree with fhirpathpy, skips are explained."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from typing import Any

import pytest
from fixtures import clinical_use_definition, group, medication, medication_knowledge, transaction

from ivig_fhir.definitions import load
from ivig_fhir.validate import _fhirpath, _invariant
from ivig_fhir.validate._walk import Node, walk


def nodes(data: dict[str, Any]) -> list[Node]:
    return walk(data, load("R5"), file="t.json").nodes


def failing(data: dict[str, Any], *, native: bool) -> set[tuple[str, str]]:
    """(location, key) of each failing constraint, evaluating with or without shortcuts."""
    out = set()
    resolver = _invariant._Resolver(data)
    token = _fhirpath.RESOLVER.set(resolver)
    try:
        for node in nodes(data):
            resolver.root = node.root
            for c in node.constraints:
                if c.key in _invariant.KNOWN_SKIPS:
                    continue
                if native and not _invariant.passes(c, node, "r5"):
                    out.add((node.loc, c.key))
                if not native and c.key not in ("txt-1", "txt-2") and \
                        not _invariant.passes(c, node, "r5", native=False):
                    out.add((node.loc, c.key))
    finally:
        _fhirpath.RESOLVER.reset(token)
    return out


def _cud1() -> dict[str, Any]:
    cud = clinical_use_definition()
    cud["warning"] = {"description": "renal failure"}
    return cud


def _rng2() -> dict[str, Any]:
    g = group()
    g["characteristic"][0]["valueRange"]["low"]["value"] = 99
    return g


def _ele1() -> dict[str, Any]:
    med = medication()
    med["code"] = {"id": "only-an-id"}
    return med


def _bdl7() -> dict[str, Any]:
    b = transaction()
    b["entry"][1]["fullUrl"] = b["entry"][0]["fullUrl"]
    return b


def _contained(**extra: Any) -> dict[str, Any]:
    mk = medication_knowledge()
    inner = {"resourceType": "Medication", "id": "m1", "code": {"text": "x"}, **extra}
    mk["contained"] = [inner]
    mk["associatedMedication"] = [{"reference": "#m1"}]
    return mk


BREAKS = [
    ("cud-1", _cud1, "ClinicalUseDefinition"),
    ("rng-2", _rng2, "Group.characteristic[0].valueRange"),
    ("ele-1", _ele1, "Medication.code"),
    ("bdl-7", _bdl7, "Bundle"),
    ("dom-2", lambda: _contained(contained=[{"resourceType": "Medication", "id": "n"}]),
     "MedicationKnowledge"),
    ("dom-3", lambda: {**_contained(), "associatedMedication": [{"reference": "Medication/x"}]},
     "MedicationKnowledge"),
    ("dom-4", lambda: _contained(meta={"versionId": "2"}), "MedicationKnowledge"),
    ("dom-5", lambda: _contained(meta={"security": [{"code": "R"}]}), "MedicationKnowledge"),
    ("dom-6", lambda: {k: v for k, v in medication().items() if k != "text"}, "Medication"),
    ("ref-1", lambda: {**medication_knowledge(), "associatedMedication": [{"reference": "#no"}]},
     "MedicationKnowledge.associatedMedication[0]"),
]


@pytest.mark.parametrize(("key", "make", "loc"), BREAKS, ids=[b[0] for b in BREAKS])
@pytest.mark.parametrize("native", [True, False], ids=["with-shortcuts", "fhirpathpy-only"])
def test_important_constraints_fire(key: str, make: Any, loc: str, native: bool) -> None:
    found = failing(make(), native=native)
    assert (loc, key) in found, found


@pytest.mark.parametrize("make", [medication, medication_knowledge, group,
                                  clinical_use_definition, transaction])
def test_valid_resources_pass_in_fhirpathpy_too(make: Any) -> None:
    assert failing(make(), native=False) == set()


def test_ele1_shortcut_agrees_with_fhirpathpy() -> None:
    samples = [_ele1(), transaction(), group(), _contained()]
    checked = 0
    for data in samples:
        for node in nodes(data):
            for c in node.constraints:
                if c.key == "ele-1":
                    assert _invariant.passes(c, node, "r5") == \
                        _invariant.passes(c, node, "r5", native=False), node.loc
                    checked += 1
    assert checked > 50


def test_ref1_shortcut_agrees_with_fhirpathpy() -> None:
    samples = [transaction(), _contained(), {**medication_knowledge(),
                                              "associatedMedication": [{"reference": "#no"}]}]
    checked = 0
    for data in samples:
        for node in nodes(data):
            for c in node.constraints:
                if c.key == "ref-1":
                    assert _invariant.passes(c, node, "r5") == \
                        _invariant.passes(c, node, "r5", native=False), node.loc
                    checked += 1
    assert checked > 5


def test_known_skips_and_shortcuts_have_reasons() -> None:
    for table in (_invariant.KNOWN_SKIPS,):
        assert all(isinstance(v, str) and len(v) > 20 for v in table.values())
    assert all(len(reason) > 20 for _fn, reason in _invariant.NATIVE.values())
    assert all(len(reason) > 20 for _fn, reason in _invariant.NATIVE_EXPRESSIONS.values())


def test_no_constraint_of_our_types_fails_to_evaluate() -> None:
    """Every constraint on the project's resource types runs in fhirpathpy without an
    exception and without printing (fhirpathpy prints lexer errors and trace() output)."""
    data = transaction()
    data["entry"][2]["resource"]["contained"] = [{"resourceType": "Medication", "id": "c"}]
    data["entry"][2]["resource"]["characteristic"][0]["exclude"] = True
    out = io.StringIO()
    with redirect_stdout(out):
        found = [p for p in _invariant.check(walk(data, load("R5"), file="t"), data,
                                             file="t", version="r5")
                 if "could not be evaluated" in p.message]
    assert found == []
    assert out.getvalue() == ""


def _profile_with_codeable_reference(*, target: bool, binding: bool) -> dict[str, Any]:
    reference: dict[str, Any] = {"code": "Reference"}
    if target:
        reference["targetProfile"] = ["http://hl7.org/fhir/StructureDefinition/Patient"]
    concept: dict[str, Any] = {"id": "Observation.focus.concept",
                               "path": "Observation.focus.concept",
                               "type": [{"code": "CodeableConcept"}]}
    if binding:
        concept["binding"] = {"strength": "required",
                              "valueSet": "http://hl7.org/fhir/ValueSet/observation-status"}
    return {
        "resourceType": "StructureDefinition", "url": "http://example.org/sd", "name": "X",
        "status": "draft", "kind": "resource", "abstract": False, "type": "Observation",
        "derivation": "constraint",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Observation",
        "snapshot": {"element": [
            {"id": "Observation", "path": "Observation"},
            {"id": "Observation.focus", "path": "Observation.focus",
             "type": [{"code": "CodeableReference"}]},
            {"id": "Observation.focus.reference", "path": "Observation.focus.reference",
             "type": [reference]},
            concept]}}


@pytest.mark.parametrize(("target", "binding"), [(True, True), (False, False), (True, False)])
def test_sdf24_sdf25_shortcut_agrees_with_fhirpathpy(target: bool, binding: bool) -> None:
    data = _profile_with_codeable_reference(target=target, binding=binding)
    decided = {}
    for node in nodes(data):
        for c in node.constraints:
            if c.key in ("sdf-24", "sdf-25"):
                native = _invariant.passes(c, node, "r5")
                assert native == _invariant.passes(c, node, "r5", native=False), c.key
                decided[c.key] = native
    assert decided == {"sdf-24": not target, "sdf-25": not binding}
