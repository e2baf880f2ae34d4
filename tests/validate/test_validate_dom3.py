"""dom-3 (contained resources are referenced, or refer to their container) is decided in
Python, once per container (`_invariant._contained_referenced`): fhirpathpy walks the whole
resource four times per contained one (minutes on the largest official Questionnaire), and
raises on R4/R4B's `descendants().as(canonical)`. Held equal to fhirpathpy here; for R4/R4B, to
fhirpathpy reading `as()` on a collection as the filter `ofType()`, which fhirpathpy accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fixtures import official_examples

from ivig_fhir.definitions import load
from ivig_fhir.validate import _fhirpath, _invariant
from ivig_fhir.validate._walk import Node, walk

SAMPLE = 300  # official example files searched for contained resources, per package
COMPARED = 12  # of those with contained resources, compared against fhirpathpy


def _patient(*contained: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p", "contained": list(contained), **fields}


ORG = {"resourceType": "Organization", "id": "o"}
CASES: dict[str, dict[str, Any]] = {
    "referenced from the container": _patient(ORG, managingOrganization={"reference": "#o"}),
    "referenced from a sibling": _patient(
        ORG, {"resourceType": "Practitioner", "id": "x", "extension": [
            {"url": "u", "valueReference": {"reference": "#o"}}]},
        generalPractitioner=[{"reference": "#x"}]),
    "sibling unreferenced": _patient(
        ORG, {"resourceType": "Practitioner", "id": "x", "extension": [
            {"url": "u", "valueReference": {"reference": "#o"}}]}),
    "refers to the container": _patient({"resourceType": "Practitioner", "id": "x", "extension": [
        {"url": "u", "valueReference": {"reference": "#"}}]}),
    "canonical '#' to the container": _patient(
        {"resourceType": "Questionnaire", "id": "q", "status": "draft", "item": [
            {"linkId": "1", "type": "choice", "answerValueSet": "#"}]}),
    "uri '#' to the container": _patient(
        {"resourceType": "Organization", "id": "o", "extension": [{"url": "u", "valueUri": "#"}]}),
    "by canonical": {"resourceType": "Questionnaire", "id": "q", "status": "draft",
                     "contained": [{"resourceType": "ValueSet", "id": "vs", "status": "draft"}],
                     "item": [{"linkId": "1", "type": "choice", "answerValueSet": "#vs"}]},
    "by uri": _patient(ORG, extension=[{"url": "u", "valueUri": "#o"}]),
    "by url": _patient(ORG, extension=[{"url": "u", "valueUrl": "#o"}]),
    "a string is not a reference": _patient(ORG, extension=[{"url": "u", "valueString": "#o"}]),
    "unreferenced": _patient(ORG),
    "without id": _patient({"resourceType": "Organization", "name": "n"}),
    "only itself refers to it": _patient({**ORG, "partOf": {"reference": "#o"}}),
    "nothing contained": _patient(),
    "one of two unreferenced": _patient(ORG, {**ORG, "id": "o2"},
                                        managingOrganization={"reference": "#o"}),
}


def _dom3(version: str) -> str:
    return next(c.expression for c in load(version).root_constraints("Patient")
                if c.key == "dom-3")


def _fhirpathpy(version: str, node: Node) -> bool:
    expression = _dom3(version)
    if version != "r5":  # R4/R4B: as() on a collection, which fhirpathpy refuses
        expression = expression.replace(".as(", ".ofType(").replace("(as(", "(ofType(")
    result = _fhirpath.evaluate_fhirpathpy(expression, node.value, node.fp_base,
                                           resource=node.resource, root=node.root,
                                           version=version)
    return not result or result == [True]


def _native(version: str, node: Node) -> bool | None:
    return _invariant.NATIVE_EXPRESSIONS[_dom3(version)][0](node)


def _node(resource: dict[str, Any]) -> Node:
    rt = resource["resourceType"]
    return Node(rt, resource, rt, None, rt, (), resource, resource, is_resource=True)


@pytest.mark.parametrize("version", ["r5", "r4b", "r4"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_dom3_as_fhirpathpy_on_hand_made_resources(version: str, case: str) -> None:
    node = _node(CASES[case])
    assert _native(version, node) is _fhirpathpy(version, node)


@pytest.mark.parametrize(("case", "r5", "r4b"), [
    ("referenced from the container", True, True),
    ("unreferenced", False, False),
    ("sibling unreferenced", False, False),
    ("without id", True, False),  # R4B: id.exists() and ...; R5: '#'+{} is empty
    ("uri '#' to the container", False, True),  # R4B: as(uri) = '#'; R5 canonical only
    ("a string is not a reference", False, False),
])
def test_dom3_verdicts(case: str, r5: bool, r4b: bool) -> None:
    node = _node(CASES[case])
    assert (_native("r5", node), _native("r4b", node)) == (r5, r4b)


def test_fhirpathpy_cannot_evaluate_r4b_dom3() -> None:
    """Why R4B is compared against the ofType() reading: as() wants a single item."""
    node = _node(CASES["referenced from the container"])
    with pytest.raises(ValueError, match="singleton"):
        _fhirpath.evaluate_fhirpathpy(_dom3("r4b"), node.value, "", resource=node.resource,
                                      root=node.root, version="r4b")


def _containers(data: dict[str, Any], version: str) -> list[Node]:
    w = walk(data, load(version), file="x")
    return [n for n in w.nodes if n.is_resource and isinstance(n.value, dict)
            and n.value.get("contained")]


@pytest.mark.parametrize("version", ["R5", "R4B"])
def test_dom3_as_fhirpathpy_on_official_examples(version: str, tmp_path: Path) -> None:
    examples = official_examples()
    tgz = examples.package(*examples.PACKAGES[version])
    names = examples.members(tgz)[:SAMPLE]
    files = examples.extract(tgz, tmp_path, set(names))
    v = version.lower()
    compared, verdicts = 0, set()
    for name in names:
        data = json.loads(files[name].read_text())
        for node in _containers(data, v):
            if compared == COMPARED:
                break
            native = _native(v, node)
            assert native is _fhirpathpy(v, node), name
            verdicts.add(native)
            compared += 1
    assert compared == COMPARED


def test_dom3_is_decided_natively_on_the_largest_questionnaire(tmp_path: Path) -> None:
    """34 contained resources in 845 KB: fhirpathpy took 4-8 minutes on the file."""
    examples = official_examples()
    tgz = examples.package(*examples.PACKAGES["R5"])
    name = "Questionnaire-qgen-elementdefinition-de1.json"
    data = json.loads(examples.extract(tgz, tmp_path, {name})[name].read_text())
    [node] = _containers(data, "r5")
    assert len(node.value["contained"]) == 34
    assert _native("r5", node) is True
