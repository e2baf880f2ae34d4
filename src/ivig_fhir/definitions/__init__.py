"""Offline FHIR definitions: a trimmed extract of the official core packages.

`scripts/extract-definitions` writes `<version>/definitions.json` from `hl7.fhir.r5.core@5.0.0`
and `hl7.fhir.r4b.core@4.3.0`; this module reads it (once per version) into typed, read-only
objects. Used by the validator (element cardinality, types, constraints, required bindings) and
by the terminology checker ("is code X in FHIR value set / code system Y").

    defs = load("R5")
    defs.structure("Range").root.constraints          # rng-2, ele-1
    defs.in_value_set("http://hl7.org/fhir/ValueSet/publication-status",
                      "http://hl7.org/fhir/publication-status", "active")   # True
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

__all__ = [
    "Binding",
    "CodeSystemCodes",
    "Constraint",
    "Definitions",
    "ElementDef",
    "StructureDef",
    "ValueSetCodes",
    "has_extract",
    "load",
    "normalize_version",
]

_VERSIONS = {
    "r4": "r4",
    "4.0.1": "r4",
    "4.0": "r4",
    "r5": "r5",
    "5.0.0": "r5",
    "5.0": "r5",
    "r4b": "r4b",
    "4.3.0": "r4b",
    "4.3": "r4b",
}


def normalize_version(version: str) -> str:
    """'R5', 'r5', '5.0.0' -> 'r5'; 'R4B', '4.3.0' -> 'r4b'; 'R4', '4.0.1' -> 'r4'.
    ValueError for anything else."""
    key = version.strip().lower()
    if key not in _VERSIONS:
        raise ValueError(f"unsupported FHIR version {version!r}: use R5, R4B or R4")
    return _VERSIONS[key]


@dataclass(frozen=True)
class Constraint:
    key: str
    severity: str
    human: str
    expression: str


@dataclass(frozen=True)
class Binding:
    strength: str
    value_set: str


@dataclass(frozen=True)
class ElementDef:
    path: str
    min: int
    max: str
    types: tuple[str, ...]
    constraints: tuple[Constraint, ...]
    binding: Binding | None
    content_reference: str | None
    profiles: tuple[tuple[str, str], ...] = ()  # (type code, profile url): Quantity, SimpleQuantity
    targets: tuple[str, ...] = ()  # resource types a Reference may point at; () = any

    def profile(self, type_code: str) -> str | None:
        """The profile the element puts on `type_code`, e.g. SimpleQuantity's url."""
        return next((p for t, p in self.profiles if t == type_code), None)

    @property
    def name(self) -> str:
        """Last path segment: 'status', 'value[x]'."""
        return self.path.rsplit(".", 1)[-1]

    @property
    def is_array(self) -> bool:
        return self.max != "1" and self.max != "0"

    @property
    def is_choice(self) -> bool:
        return self.path.endswith("[x]")


@dataclass(frozen=True)
class StructureDef:
    url: str
    version: str | None
    kind: str
    type: str
    abstract: bool
    base_definition: str | None
    elements: tuple[ElementDef, ...]
    _by_path: Mapping[str, ElementDef] = field(repr=False, compare=False)
    _children: Mapping[str, Mapping[str, ElementDef]] = field(repr=False, compare=False)

    @property
    def root(self) -> ElementDef:
        return self.elements[0]

    def element(self, path: str) -> ElementDef | None:
        return self._by_path.get(path)

    def children(self, path: str) -> Mapping[str, ElementDef]:
        """Direct child elements of `path`, by name ('value[x]' for a choice)."""
        return self._children.get(path, {})


@dataclass(frozen=True)
class ValueSetCodes:
    url: str
    expandable: bool
    codes: Mapping[str, frozenset[str]]  # system -> codes
    reason: str | None  # why it cannot be expanded offline
    strengths: tuple[str, ...]  # binding strengths that made the extract keep it

    def contains(self, system: str | None, code: str) -> bool | None:
        """True/False when known; None when the value set cannot be expanded offline."""
        if not self.expandable:
            return None
        if system is None:
            return any(code in codes for codes in self.codes.values())
        return code in self.codes.get(system, frozenset())


@dataclass(frozen=True)
class CodeSystemCodes:
    url: str
    version: str | None
    case_sensitive: bool
    concepts: Mapping[str, str]  # code -> display


@dataclass(frozen=True)
class Definitions:  # cached_property needs a __dict__: no slots
    version: str  # 'r5' / 'r4b'
    fhir_version: str | None  # '5.0.0'
    package_name: str
    package_version: str
    package_sha256: str
    structures: Mapping[str, StructureDef]
    value_sets: Mapping[str, ValueSetCodes]
    code_systems: Mapping[str, CodeSystemCodes]

    def structure(self, name: str) -> StructureDef | None:
        return self.structures.get(name)

    @functools.cached_property
    def _root_constraints(self) -> dict[str, tuple[Constraint, ...]]:
        out: dict[str, tuple[Constraint, ...]] = {}
        for name, sd in self.structures.items():
            found = list(sd.root.constraints)
            keys = {c.key for c in found}
            base = sd.base_definition
            while base:
                parent = self.structures.get(base.rsplit("/", 1)[-1])
                if parent is None or parent.url != base:
                    break
                found += [c for c in parent.root.constraints if c.key not in keys]
                keys |= {c.key for c in parent.root.constraints}
                base = parent.base_definition
            out[name] = tuple(found)
        return out

    def root_constraints(self, name: str) -> tuple[Constraint, ...]:
        """Constraints on a type's root element, with those of its base types. The R5 package
        leaves them out of some snapshots (MedicationKnowledge, Citation, CodeSystem, Evidence
        and other canonical resources have no dom-2..dom-6 on their root element)."""
        return self._root_constraints.get(name, ())

    def is_primitive(self, type_code: str) -> bool:
        sd = self.structures.get(type_code)
        return (sd is not None and sd.kind == "primitive-type") or type_code.startswith(
            "http://hl7.org/fhirpath/System."
        )

    def value_set(self, url: str) -> ValueSetCodes | None:
        return self.value_sets.get(url.split("|", 1)[0])

    def code_system(self, url: str) -> CodeSystemCodes | None:
        return self.code_systems.get(url.split("|", 1)[0])

    def in_value_set(self, url: str, system: str | None, code: str) -> bool | None:
        """Is `code` (from `system`) in the value set? None: not in the extract or not
        expandable offline."""
        vs = self.value_set(url)
        return None if vs is None else vs.contains(system, code)

    def in_code_system(self, system: str, code: str) -> bool | None:
        """Is `code` defined by the FHIR code system? None: code system not in the extract."""
        cs = self.code_system(system)
        return None if cs is None else code in cs.concepts

    def display(self, system: str, code: str) -> str | None:
        cs = self.code_system(system)
        return None if cs is None else cs.concepts.get(code)


def _structure(raw: Mapping[str, Any]) -> StructureDef:
    table = {
        ref: Constraint(c["key"], c.get("severity", "error"), c.get("human", ""), c["expression"])
        for ref, c in raw["constraints"].items()
        if "expression" in c
    }
    elements = []
    for e in raw["elements"]:
        b = e.get("binding")
        elements.append(
            ElementDef(
                path=e["path"],
                min=int(e["min"]),
                max=str(e["max"]),
                types=tuple(e.get("types", ())),
                constraints=tuple(table[k] for k in e.get("constraints", ()) if k in table),
                binding=Binding(b["strength"], b["valueSet"]) if b else None,
                content_reference=e.get("contentReference"),
                profiles=tuple((t, p) for t, ps in e.get("typeProfiles", {}).items() for p in ps),
                targets=tuple(e.get("targetTypes", ())),
            )
        )
    by_path = {e.path: e for e in elements}
    children: dict[str, dict[str, ElementDef]] = {}
    for e in elements[1:]:
        parent, _, name = e.path.rpartition(".")
        children.setdefault(parent, {})[name] = e
    return StructureDef(
        url=raw["url"],
        version=raw.get("version"),
        kind=raw["kind"],
        type=raw["type"],
        abstract=bool(raw.get("abstract", False)),
        base_definition=raw.get("baseDefinition"),
        elements=tuple(elements),
        _by_path=by_path,
        _children=children,
    )


def has_extract(version: str) -> bool:
    """Whether this installation carries the extract of `version`. R4 content can be written
    (convert.r4) before its extract lands; a check that cannot run must say so, not pass."""
    folder = resources.files(__package__).joinpath(normalize_version(version))
    return any(folder.joinpath(name).is_file()
               for name in ("definitions.json", "definitions.json.gz"))


def load(version: str = "R5") -> Definitions:
    """The extract for `version` ('R5', 'R4B', '5.0.0', ...), parsed once per process."""
    return _load(normalize_version(version))


@functools.cache
def _load(v: str) -> Definitions:
    text = resources.files(__package__).joinpath(v, "definitions.json").read_text("utf-8")
    raw = json.loads(text)
    pkg = raw["package"]
    return Definitions(
        version=v,
        fhir_version=raw.get("fhirVersion"),
        package_name=pkg["name"],
        package_version=pkg["version"],
        package_sha256=pkg["sha256"],
        structures={name: _structure(sd) for name, sd in raw["structures"].items()},
        value_sets={
            url: ValueSetCodes(
                url=url,
                expandable=bool(vs["expandable"]),
                codes={s: frozenset(c) for s, c in vs.get("codes", {}).items()},
                reason=vs.get("reason"),
                strengths=tuple(vs.get("strengths", ())),
            )
            for url, vs in raw["valueSets"].items()
        },
        code_systems={
            url: CodeSystemCodes(
                url=url,
                version=cs.get("version"),
                case_sensitive=bool(cs.get("caseSensitive", False)),
                concepts=dict(cs["concepts"]),
            )
            for url, cs in raw["codeSystems"].items()
        },
    )
