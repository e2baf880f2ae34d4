"""Checks changed where ivig-fhir and the HL7 engine disagreed on the official examples
packages (tests/referee/test_examples_parity.py): each on a small hand-made resource, so they
run without Java."""

from __future__ import annotations

from typing import Any

import pytest
from fixtures import transaction

from ivig_fhir.problems import Problem
from ivig_fhir.validate import validate_resource


def found(data: dict[str, Any], version: str = "R5") -> list[Problem]:
    return validate_resource(data, file="t.json", fhir_version=version)


def at(problems: list[Problem], field: str, code: str) -> list[Problem]:
    return [p for p in problems if p.field == field and p.code == code]


# --- an unresolved relative reference in a Bundle ---------------------------------------------

def _with_dangling(bundle_type: str) -> dict[str, Any]:
    b = transaction()
    b["type"] = bundle_type
    if bundle_type not in ("transaction", "batch"):
        for e in b["entry"]:
            del e["request"]
    b["entry"][3]["resource"]["population"] = [{"reference": "Group/children"}]
    return b


@pytest.mark.parametrize("bundle_type", ["transaction", "batch", "document"])
def test_unresolved_reference_is_an_error_where_the_bundle_must_carry_it(
        bundle_type: str) -> None:
    hits = at(found(_with_dangling(bundle_type)),
              "Bundle.entry[3].resource.population[0].reference", "unresolved-reference")
    assert [p.severity for p in hits] == ["error"], hits


@pytest.mark.parametrize("bundle_type", ["collection", "message", "batch-response"])
def test_unresolved_reference_is_a_warning_where_it_names_a_server_resource(
        bundle_type: str) -> None:
    problems = found(_with_dangling(bundle_type))
    hits = at(problems, "Bundle.entry[3].resource.population[0].reference",
              "unresolved-reference")
    assert [p.severity for p in hits] == ["warning"], hits
    assert "need not carry" in hits[0].message
    assert not [p for p in problems if p.is_error and p.layer == "bundle"]
