"""The mapping's resource JSON in FHIR element order, as fhir.resources' models serialise it.

Every element of a resource, at every depth, goes where its StructureDefinition puts it (the
extract in ivig_fhir.definitions, which the build's validation loads anyway): `resourceType`
first, each `_name` right after its `name`. So the mappers write plain dicts in any order and
the export's bytes are those fhir_core would write; tests/test_dump.py holds the two equal on
the whole export. The models are not built: the build validates every resource of the export
against the same definitions (structure, cardinality, types, invariants, bindings) before
writing anything.
"""

from __future__ import annotations

from functools import cache
from operator import itemgetter
from typing import Any

from ivig_fhir.definitions import Definitions, StructureDef, load

JsonDict = dict[str, Any]
_RESOURCE = "resource"  # an element holding a whole resource (contained, Bundle.entry.resource)
# (sort position, how to order the value: a _Shape, _RESOURCE, or None to keep it as it is)
_Place = tuple[int, "_Shape | str | None"]


def ordered(data: JsonDict, fhir_version: str = "R5") -> JsonDict:
    """A resource's JSON (a new dict) with its elements in FHIR element order at every depth,
    as fhir_core serialises its models. Keys the definitions do not know keep their order,
    after the known ones (the validator reports them)."""
    return _resource(data, load(fhir_version))


def _resource(data: JsonDict, defs: Definitions) -> JsonDict:
    return _object(data, _shape(defs.version, str(data.get("resourceType")), None))


def _object(data: JsonDict, shape: _Shape) -> JsonDict:
    placed = []
    for key, value in data.items():
        position, child = shape.place(key)
        placed.append((position, key, value if child is None else _value(value, child, shape)))
    placed.sort(key=itemgetter(0))  # stable: unknown keys keep their order
    return {key: value for _, key, value in placed}


def _value(value: Any, child: _Shape | str, shape: _Shape) -> Any:
    if isinstance(value, list):
        return [_value(v, child, shape) for v in value]
    if not isinstance(value, dict):
        return value
    if isinstance(child, str):
        return _resource(value, shape.defs)
    return _object(value, child)


@cache
def _shape(version: str, type_name: str, path: str | None) -> _Shape:
    """The shape of an element of `type_name` (a datatype or resource), or of its backbone
    element at `path`."""
    defs = load(version)
    return _Shape(defs, defs.structure(type_name), path or type_name)


class _Shape:
    """Where each JSON key of one kind of object goes, worked out once per key."""

    def __init__(self, defs: Definitions, structure: StructureDef | None, path: str) -> None:
        self.defs = defs
        self.structure = structure
        self.kids = structure.children(path) if structure is not None else {}
        self.index = {name: i for i, name in enumerate(self.kids)}
        self.places: dict[str, _Place] = {"resourceType": (-1, None)}

    def place(self, key: str) -> _Place:
        found = self.places.get(key)
        if found is None:
            found = self.places[key] = self._place(key)
        return found

    def _place(self, key: str) -> _Place:
        extension = key.startswith("_")
        name = key[1:] if extension else key
        kid, type_code = name, None
        if name not in self.kids:
            kid = next((k for k in self.kids
                        if k.endswith("[x]") and name.startswith(k[:-3])), "")
            type_code = name[len(kid) - 3:]
        el = self.kids.get(kid)
        if el is None or self.structure is None:
            return 2 * len(self.kids), None
        position = 2 * self.index[kid] + extension
        if extension:  # a primitive's id and extensions
            return position, _shape(self.defs.version, "Element", None)
        if el.content_reference:
            target = el.content_reference.rsplit("#", 1)[-1]
            return position, _shape(self.defs.version, target.split(".", 1)[0], target)
        if self.structure.children(el.path):  # a backbone element
            return position, _shape(self.defs.version, self.structure.type, el.path)
        types = el.types if type_code is None else tuple(
            t for t in el.types if t[:1].upper() + t[1:] == type_code)
        if len(types) != 1:
            return position, None
        if types[0] in ("Resource", "DomainResource"):
            return position, _RESOURCE
        shape = _shape(self.defs.version, types[0], None)
        return position, shape if shape.kids and not self.defs.is_primitive(types[0]) else None
