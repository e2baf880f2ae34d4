"""Offline FHIR definitions: a trimmed extract of the official core packages.

`scripts/extract-definitions` writes `<version>/definitions.json.gz` from
`hl7.fhir.r5.core@5.0.0` (with the core extensions of `hl7.fhir.uv.extensions.r5`),
`hl7.fhir.r4b.core@4.3.0`, and for R4 (4.0.1, not on npm) HAPI's
`hapi-fhir-validation-resources-r4` jar from Maven Central: every resource type, datatype and
core extension of each version. A version's extract is read on first use, and each
StructureDefinition is built only when asked for, so a command pays for what it looks at.
Used by the validator (element cardinality, types, constraints, required bindings) and
by the terminology checker ("is code X in FHIR value set / code system Y").

    defs = load("R5")
    defs.structure("Range").root.constraints          # rng-2, ele-1
    defs.in_value_set("http://hl7.org/fhir/ValueSet/publication-status",
                      "http://hl7.org/fhir/publication-status", "active")   # True
"""

from __future__ import annotations

import functools
import gzip
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
    "ExtensionDef",
    "ExtensionSlot",
    "ProfileDef",
    "ProfileInvariant",
    "StructureDef",
    "ValueSetCodes",
    "has_extract",
    "load",
    "normalize_version",
    "raw_extract",
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
    regex: str | None  # a primitive type's lexical rule (from the definitions), else None
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
class ExtensionSlot:
    """Cardinality and value rules of an extension, or of one nested extension of it."""

    min: int
    max: str
    value_min: int
    value_max: str
    types: tuple[str, ...]  # allowed value[x] type codes; () = any
    nested: bool  # may carry nested extensions
    binding: Binding | None = None  # on value[x]


@dataclass(frozen=True)
class ExtensionDef:
    url: str
    version: str | None
    rules: ExtensionSlot
    contexts: tuple[tuple[str, str], ...]  # (element|extension|fhirpath, expression)
    slices: Mapping[str, ExtensionSlot]  # nested extension url -> rules
    closed: bool  # no nested extensions but the slices
    context_invariants: tuple[str, ...] = ()  # FHIRPath on the host; %extension is the use


@dataclass(frozen=True)
class ProfileInvariant:
    """A constraint a core profile adds to its resource type, at an element path."""

    path: str
    key: str
    severity: str
    human: str
    expression: str


@dataclass(frozen=True)
class ProfileDef:
    """A core profile on a resource, as far as the extract keeps it: where its cardinality is
    stricter than the base resource's (path -> (min, max)), and the constraints it adds."""

    url: str
    type: str
    version: str | None
    cardinality: Mapping[str, tuple[int, str]]
    invariants: tuple[ProfileInvariant, ...] = ()


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


class _Lazy(Mapping[str, Any]):
    """name -> object, built from the raw extract on first access."""

    def __init__(self, raw: Mapping[str, Any], build: Any) -> None:
        self._raw = raw
        self._build = build
        self._done: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        found = self._done.get(name)
        if found is None:
            found = self._done[name] = self._build(self._raw[name])
        return found

    def __iter__(self) -> Any:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, name: object) -> bool:
        return name in self._raw


@dataclass(frozen=True)
class Definitions:  # cached_property needs a __dict__: no slots
    version: str  # 'r5' / 'r4b' / 'r4'
    fhir_version: str | None  # '5.0.0'
    package_name: str  # npm package, or Maven group:artifact for R4
    package_version: str
    package_sha256: str
    structures: Mapping[str, StructureDef]
    value_sets: Mapping[str, ValueSetCodes]
    code_systems: Mapping[str, CodeSystemCodes]
    extensions: Mapping[str, ExtensionDef] = field(default_factory=dict)
    profiles: Mapping[str, ProfileDef] = field(default_factory=dict)
    # key -> (type, expression): the core type the HL7 engine meets first, for keys several
    # core types define (scripts/engine-constraint-keys); the rest have one owner in `structures`.
    shared_constraint_keys: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    _raw_structures: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _root_cache: dict[str, tuple[Constraint, ...]] = field(default_factory=dict, repr=False,
                                                           compare=False)

    def structure(self, name: str) -> StructureDef | None:
        return self.structures.get(name)

    def extension(self, url: str) -> ExtensionDef | None:
        """A core extension's definition (the url without a |version)."""
        key = url.split("|", 1)[0]
        return self.extensions.get(key)

    def root_constraints(self, name: str) -> tuple[Constraint, ...]:
        """Constraints on a type's root element, with those of its base types. The R5 package
        leaves them out of some snapshots (MedicationKnowledge, Citation, CodeSystem, Evidence
        and other canonical resources have no dom-2..dom-6 on their root element)."""
        found_cached = self._root_cache.get(name)
        if found_cached is not None:
            return found_cached
        sd = self.structure(name)
        if sd is None:
            return ()
        found = list(sd.root.constraints)
        keys = {c.key for c in found}
        base = sd.base_definition
        while base:
            parent = self.structure(base.rsplit("/", 1)[-1])
            if parent is None or parent.url != base:
                break
            found += [c for c in parent.root.constraints if c.key not in keys]
            keys |= {c.key for c in parent.root.constraints}
            base = parent.base_definition
        self._root_cache[name] = out = tuple(found)
        return out

    def core_constraint(self, key: str) -> tuple[str, str] | None:
        """(type, expression) of the constraint `key` among the core types (specialisations),
        as the HL7 engine finds it: where several types define the key, the one it meets first
        in its own order, which is no order the package states."""
        return self.shared_constraint_keys.get(key) or self._key_owners.get(key)

    @functools.cached_property
    def _key_owners(self) -> dict[str, tuple[str, str]]:
        # Read off the raw extract: parsing every structure for its keys costs ~50x more.
        owners: dict[str, tuple[str, str]] = {}
        for raw in self._raw_structures.values():
            if raw.get("derivation") == "specialization":
                for c in raw["constraints"].values():
                    if "expression" in c:
                        owners.setdefault(c["key"], (raw["type"], c["expression"]))
        return owners

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
        regex=raw.get("regex"),
        _by_path=by_path,
        _children=children,
    )


def has_extract(version: str) -> bool:
    """Whether this installation carries the extract of `version`. R4 content can be written
    (convert.r4) before its extract lands; a check that cannot run must say so, not pass."""
    folder = resources.files(__package__).joinpath(normalize_version(version))
    return any(folder.joinpath(name).is_file()
               for name in ("definitions.json", "definitions.json.gz"))


def _slot(raw: Mapping[str, Any]) -> ExtensionSlot:
    b = raw.get("binding")
    return ExtensionSlot(int(raw["min"]), str(raw["max"]), int(raw["valueMin"]),
                         str(raw["valueMax"]), tuple(raw.get("types", ())), bool(raw["nested"]),
                         Binding(str(b[0]), str(b[1])) if b else None)


def _extension(url: str, raw: Mapping[str, Any]) -> ExtensionDef:
    return ExtensionDef(
        url=url,
        version=raw.get("version"),
        rules=_slot(raw),
        contexts=tuple((str(t), str(e)) for t, e in raw.get("context", ())),
        slices={u: _slot(r) for u, r in raw.get("slices", {}).items()},
        closed=bool(raw.get("closed", False)),
        context_invariants=tuple(str(c) for c in raw.get("contextInvariants", ())),
    )


def load(version: str = "R5") -> Definitions:
    """The extract for `version` ('R5', 'R4B', 'R4', '5.0.0', ...), parsed once per process."""
    return _load(normalize_version(version))


def raw_extract(version: str) -> dict[str, Any]:
    """The extract of `version` as stored (sources, sha256s): for tests and reports."""
    packed = resources.files(__package__).joinpath(normalize_version(version),
                                                   "definitions.json.gz").read_bytes()
    # Inflating and parsing the JSON is most of a version's load time; the same data as
    # marshal, keyed by the extract's own bytes, reads three to five times faster.
    from ivig_fhir import _cache

    data: dict[str, Any] = _cache.cached(
        "definitions", _cache.key(packed), lambda: json.loads(gzip.decompress(packed)),
        lambda d: isinstance(d, dict) and "structures" in d and "package" in d)
    return data


@functools.cache
def _load(v: str) -> Definitions:
    raw = raw_extract(v)
    pkg = raw["package"]
    ext_raw: Mapping[str, Any] = raw.get("extensions", {})
    return Definitions(
        version=v,
        fhir_version=raw.get("fhirVersion"),
        package_name=pkg["name"],
        package_version=pkg["version"],
        package_sha256=pkg["sha256"],
        structures=_Lazy(raw["structures"], _structure),
        shared_constraint_keys={k: (str(t), str(e))
                                for k, (t, e) in raw.get("constraintKeys", {}).items()},
        _raw_structures=raw["structures"],
        extensions=_Lazy({u: (u, r) for u, r in ext_raw.items()},
                         lambda item: _extension(*item)),
        profiles={url: ProfileDef(url, p["type"], p.get("version"),
                                  {k: (int(v[0]), str(v[1])) for k, v in p["cardinality"].items()},
                                  tuple(ProfileInvariant(*i) for i in p.get("invariants", ())))
                  for url, p in raw.get("profiles", {}).items()},
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
