"""Layer `structure`: the resource against its version's StructureDefinitions.

The checks themselves are made by the walk (`_walk`), which reads the same definitions for
every FHIR version (R5, R4B, R4): element names, cardinality, choice types, JSON types and the
primitive types' own lexical rules, contentReference and backbone elements, the resource types
of contained resources and Bundle entries. This module only says when a resource's type is not
one the version defines at all, which stops the other layers from guessing.
"""

from __future__ import annotations

from typing import Any

from ivig_fhir.definitions import Definitions
from ivig_fhir.problems import Problem

LAYER = "structure"

_NAMES = {"r5": "R5", "r4b": "R4B", "r4": "R4"}


def fhir_name(version: str) -> str:
    """'r4b' -> 'R4B'."""
    return _NAMES.get(version, version.upper())


def check(data: dict[str, Any], defs: Definitions, *, file: str,
          line: int | None = None) -> list[Problem]:
    rt = data.get("resourceType")
    if not isinstance(rt, str):
        return []  # json layer: missing resourceType
    sd = defs.structure(rt)
    if sd is None or sd.kind != "resource" or sd.abstract:
        return [Problem(file, line, None, rt, f"unknown resource type \"{rt}\" in FHIR "
                        f"{fhir_name(defs.version)}", "fatal", LAYER, "unknown-resource-type")]
    return []
