"""Walk a FHIR JSON resource alongside its StructureDefinitions.

One pass yields a `Node` for every element present (complex, primitive, nested resources),
with its HL7-style location, its element definition, its type, and the constraints that apply
there (the element's own plus, on entering a datatype or resource, the type's root constraints).
The invariant, binding and narrative layers work from these nodes. The walk itself is the
`structure` layer, driven by the definitions alone (every FHIR version the extract has, R4
included): unknown elements, cardinality (a `0..1` element given as an array, a required element
missing), choice types, JSON types, the lexical rules (regexes) the definitions give each
primitive type, integer ranges, real calendar dates, `_name` twins lined up with their values,
and the resource types allowed in `contained`, Bundle entries and other resource slots.
"""

from __future__ import annotations

import datetime
import functools
import re
from dataclasses import dataclass, field
from typing import Any

from ivig_fhir.definitions import Constraint, Definitions, ElementDef, StructureDef
from ivig_fhir.problems import Problem

_COMPLEX_CONTAINERS = ("BackboneElement", "Element")

# Whitespace rules of the primitive types' regexes that the models do not apply.
_NO_SPACE = (re.compile(r"\S*"), "no whitespace allowed")
_WHITESPACE_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "uri": _NO_SPACE, "url": _NO_SPACE, "canonical": _NO_SPACE, "oid": _NO_SPACE,
    "uuid": _NO_SPACE,
    "code": (re.compile(r"[^\s]+( [^\s]+)*"), "no leading, trailing or repeated whitespace"),
}


_INT_RANGES = {
    "integer": (-2_147_483_648, 2_147_483_647),
    "unsignedInt": (0, 2_147_483_647),
    "positiveInt": (1, 2_147_483_647),
    "integer64": (-9_223_372_036_854_775_808, 9_223_372_036_854_775_807),
}
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


@functools.cache
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        # ASCII: the definitions' regexes are Java's, where \s and \S are ASCII classes (a
        # no-break space is \S, so allowed in a string).
        return re.compile(pattern, re.ASCII)
    except re.error:
        return None


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(slots=True)
class Node:
    loc: str  # Bundle.entry[2].resource.issue[0]
    value: Any  # the JSON value (dict for complex types and resources)
    type: str  # type code: 'CodeableConcept', 'code', 'BackboneElement', or the resource type
    elem: ElementDef | None  # None at a resource's root
    fp_base: str  # path the FHIRPath model knows: 'Range', 'Bundle.entry', 'ClinicalUseDefinition'
    constraints: tuple[Constraint, ...]
    resource: dict[str, Any]  # the resource this node belongs to (%resource)
    root: dict[str, Any]  # the outermost resource (%rootResource for contained ones)
    is_resource: bool = False
    is_primitive: bool = False
    # On an Extension: what it sits on, as the names an extension context may use (element
    # path, type, base types; a parent extension's url).
    host: tuple[str, ...] = ()
    parent: dict[str, Any] | None = None  # on an Extension: the object it sits on
    parent_base: str = ""  # and that object's FHIRPath type/path


@dataclass
class Walk:
    nodes: list[Node] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # layer 'structure'


def _json_kind(type_code: str) -> str:
    """How FHIR JSON writes a primitive type: boolean, number or string."""
    name = type_code.rsplit(".", 1)[-1].lower()  # http://hl7.org/fhirpath/System.Boolean
    if name == "boolean":
        return "boolean"
    if name in ("integer", "unsignedint", "positiveint", "decimal"):
        return "number"
    return "string"


_KINDS = {bool: "boolean", int: "number", float: "number", str: "string"}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else type(value).__name__


def _merge(a: tuple[Constraint, ...], b: tuple[Constraint, ...]) -> tuple[Constraint, ...]:
    if not b:
        return a
    if not a:
        return b
    seen = {c.key for c in a}
    return a + tuple(c for c in b if c.key not in seen)


_NOTHING, _REFERENCE, _CONTAINER, _RESOURCE, _PRIMITIVE, _DATATYPE = range(6)


@dataclass(slots=True)
class _Plan:
    """`_Walker.value` for one element definition and type: which branch (`kind`), and the
    constraints, FHIRPath base or JSON kind (`target`), extension host names, primitive regex
    and datatype structure that branch needs."""

    kind: int
    type: str = ""  # the element's type code
    target: str = ""
    constraints: tuple[Constraint, ...] = ()
    host: tuple[str, ...] = ()
    structure: StructureDef | None = None
    regex: re.Pattern[str] | None = None


class _Walker:
    def __init__(self, defs: Definitions, file: str, line: int | None) -> None:
        self.defs = defs
        self.fv = {"r5": "R5", "r4b": "R4B", "r4": "R4"}.get(defs.version, defs.version)
        self.file = file
        self.line = line
        self.out = Walk()
        self._choice_cache: dict[tuple[str, str], tuple[ElementDef, str] | None] = {}
        # What `value` does with an element of a type, and the required children of an
        # element: the same for every instance, worked out once per walk (by object id: the
        # definitions outlive the walk, and hashing an ElementDef hashes all its fields).
        self._plans: dict[tuple[int, str | None], _Plan] = {}
        self._required: dict[tuple[int, str], tuple[tuple[str, ElementDef], ...]] = {}
        self._bases_cache: dict[str, tuple[str, ...]] = {}
        self._valid: set[tuple[str, str]] = set()  # (primitive type, text) without problems

    def problem(self, loc: str, message: str, code: str, severity: str = "error") -> None:
        self.out.problems.append(
            Problem(self.file, self.line, None, loc, message, severity, "structure", code)  # type: ignore[arg-type]
        )

    def resource(self, res: dict[str, Any], loc: str, root: dict[str, Any] | None) -> None:
        """A resource; `root` is its container when it is contained, else None."""
        rt = res.get("resourceType")
        if not isinstance(rt, str):
            return  # the json layer reports it
        sd = self.defs.structure(rt)
        if sd is None or sd.kind != "resource" or sd.abstract:
            what = "an abstract type" if sd is not None and sd.abstract else "unknown"
            self.problem(loc, f"unknown resource type \"{rt}\" in FHIR {self.fv} ({what}): "
                         "nothing in it can be checked", "unknown-resource-type")
            return
        rid = res.get("id")
        id_rule = self.defs.structure("id")
        if isinstance(rid, str) and id_rule is not None and id_rule.regex and \
                (rx := _regex(id_rule.regex)) is not None and not rx.fullmatch(rid):
            self.problem(f"{loc}.id", f"invalid id {_show(rid)} ({len(rid)} characters): an "
                         "id is 1-64 characters of A-Z a-z 0-9 - .", "invalid-id")
        constraints = self._resource_constraints(rt)
        if root is not None:
            # dom-6 (narrative, a best-practice warning) is the container's business: a
            # contained resource is shown through the container's narrative.
            constraints = tuple(c for c in constraints if c.key != "dom-6")
        root = root if root is not None else res
        self.out.nodes.append(
            Node(loc, res, rt, None, rt, constraints, res, root, is_resource=True)
        )
        self.children(sd, sd.root.path, res, loc, res, root, self._bases(rt))

    def _bases(self, name: str) -> tuple[str, ...]:
        found = self._bases_cache.get(name)
        if found is None:
            found = self._bases_cache[name] = self._bases_uncached(name)
        return found

    def _bases_uncached(self, name: str) -> tuple[str, ...]:
        out = [name]
        sd = self.defs.structure(name)
        while sd is not None and sd.base_definition:
            base = sd.base_definition.rsplit("/", 1)[-1]
            out.append(base)
            sd = self.defs.structure(base)
        return tuple(out)

    def _resource_constraints(self, rt: str) -> tuple[Constraint, ...]:
        # ele-1 is about elements; a resource's root is not one (the R5 Base type adds it).
        return tuple(c for c in self.defs.root_constraints(rt) if c.key != "ele-1")

    def _choice(self, sd: StructureDef, path: str, name: str) -> tuple[ElementDef, str] | None:
        key = (sd.url + "#" + path, name)
        if key in self._choice_cache:
            return self._choice_cache[key]
        found = None
        for cname, cel in sd.children(path).items():
            if not cname.endswith("[x]"):
                continue
            prefix = cname[:-3]
            if name.startswith(prefix) and len(name) > len(prefix):
                suffix = name[len(prefix):]
                for t in cel.types:
                    if t[:1].upper() + t[1:] == suffix:
                        found = (cel, t)
                        break
            if found:
                break
        self._choice_cache[key] = found
        return found

    def children(
        self, sd: StructureDef, path: str, obj: dict[str, Any], loc: str,
        resource: dict[str, Any], root: dict[str, Any], host: tuple[str, ...] = (),
    ) -> None:
        kids = sd.children(path)
        for key, v in obj.items():
            if (key == "resourceType" and path == sd.type and sd.kind == "resource") or \
                    key == "fhir_comments":
                continue
            twin = key.startswith("_")
            name = key[1:] if twin else key
            el = kids.get(name)
            type_code: str | None = None
            if el is None:
                choice = self._choice(sd, path, name)
                if choice is None:
                    where = path if path != sd.type else sd.type
                    self.problem(f"{loc}.{name}", f"unknown element \"{key}\": {where} in "
                                 f"FHIR {self.fv} has no such element (misspelt, or from "
                                 "another FHIR version?)", "unknown-element")
                    continue
                el, type_code = choice
            elif el.types:
                type_code = el.types[0]
            here = f"{loc}.{name}"
            if el.max == "0" and not twin:
                profile = sd.url.rsplit("/", 1)[-1]
                self.problem(here, f"{el.path} is not allowed here (0..0 in {profile})",
                             "cardinality")
                continue
            if isinstance(v, list):
                if el.max == "1" and not twin:
                    what = f" ({' | '.join(el.types)})" if el.types else ""
                    self.problem(here, f"{el.path}{what} allows at most one value, but this is "
                                 "a JSON array", "cardinality")
                items: list[tuple[str, Any]] = [(f"{here}[{i}]", x) for i, x in enumerate(v)]
            else:
                if el.max != "1" and not twin and el.max != "0":
                    self.problem(here, f"{el.path} repeats ({el.min}..{el.max}): FHIR JSON "
                                 "needs an array here", "cardinality")
                items = [(here, v)]
            if twin and isinstance(v, list) and isinstance(obj.get(name), list) \
                    and len(v) != len(obj[name]):
                self.problem(here, f"\"{key}\" has {len(v)} items but \"{name}\" has "
                             f"{len(obj[name])}: the two arrays must line up", "twin-mismatch")
            for iloc, item in items:
                if item is None:
                    continue
                if twin:
                    # The extensions and id of a primitive: an Element.
                    if isinstance(item, dict):
                        self.datatype("Element", item, iloc, el, resource, root,
                                      (el.path, *el.types, "Element"))
                    else:
                        self.problem(iloc, f"wrong JSON type {_show(item)}: \"{key}\" holds "
                                     "the id and extensions of a primitive, a JSON object",
                                     "wrong-type")
                    continue
                first = len(self.out.nodes)
                self.value(sd, el, type_code, item, iloc, resource, root)
                if name in ("extension", "modifierExtension") and len(self.out.nodes) > first:
                    ext_node = self.out.nodes[first]
                    ext_node.host, ext_node.parent, ext_node.parent_base = host, obj, path
        required = self._required.get((id(sd), path))
        if required is None:
            required = self._required[(id(sd), path)] = tuple(
                (name, el) for name, el in kids.items() if el.min > 0)
        for name, el in required:
            if name not in obj and "_" + name not in obj:
                if name.endswith("[x]"):
                    prefix = name[:-3]
                    if any(k.startswith(prefix) for k in obj):
                        continue
                self.problem(f"{loc}.{name.removesuffix('[x]')}", f"{el.path} is required "
                             f"({el.min}..{el.max}) but missing", "required")

    def _plan(self, sd: StructureDef, el: ElementDef, type_code: str | None) -> _Plan:
        """What `value` does with an item of this element and type (see `_Plan`)."""
        if el.content_reference:
            target = el.content_reference.split("#", 1)[-1]
            target_el = sd.element(target)
            extra = target_el.constraints if target_el else ()
            return _Plan(_REFERENCE, "", target, _merge(el.constraints, extra),
                         (el.path, target, "BackboneElement", "Element"))
        if type_code is None:
            return _Plan(_NOTHING)
        if type_code in _COMPLEX_CONTAINERS and sd.children(el.path):
            return _Plan(_CONTAINER, type_code, el.path, el.constraints,
                         (el.path, type_code, "Element"))
        if type_code == "Resource" or (
            (rsd := self.defs.structure(type_code)) is not None and rsd.kind == "resource"
        ):
            return _Plan(_RESOURCE, type_code)
        if self.defs.is_primitive(type_code):
            tsd = self.defs.structure(type_code)
            # R5's base64Binary regex leaves '/' out of the alphabet: `_rules` decodes it.
            rx = (_regex(tsd.regex) if tsd is not None and tsd.regex and
                  type_code != "base64Binary" else None)
            # ele-1 on a primitive ("a value or extensions") is the json layer's no-null,
            # no-empty rule; other constraints on primitives (txt-1/2 on the div) apply here.
            kept = tuple(c for c in el.constraints if c.key != "ele-1")
            return _Plan(_PRIMITIVE, type_code, _json_kind(type_code), kept, regex=rx)
        name = self._profiled(el, type_code)
        dsd = self.defs.structure(name)
        if dsd is None:
            return _Plan(_NOTHING)
        constraints = _merge(el.constraints, self.defs.root_constraints(name))
        if type_code == "Element":
            # The `_name` twin of a primitive: part of the primitive, which has a value or
            # extensions (the json layer's rule), so ele-1 does not apply to it alone.
            constraints = tuple(c for c in constraints if c.key != "ele-1")
        return _Plan(_DATATYPE, type_code, "", constraints, (el.path, *self._bases(type_code)),
                     dsd)

    def value(
        self, sd: StructureDef, el: ElementDef, type_code: str | None, item: Any, loc: str,
        resource: dict[str, Any], root: dict[str, Any],
    ) -> None:
        plan = self._plans.get((id(el), type_code))
        if plan is None:
            plan = self._plans[(id(el), type_code)] = self._plan(sd, el, type_code)
        kind = plan.kind
        if kind == _PRIMITIVE:
            type_code = plan.type
            if (_KINDS.get(item.__class__) or _kind(item)) != plan.target:
                # The models coerce "false" to False and "0.4" to 0.4; FHIR JSON does not.
                self.problem(loc, f"wrong JSON type {_show(item)}: a {type_code} is a JSON "
                             f"{plan.target}", "wrong-type")
                return
            self._primitive(type_code, item, loc, plan.regex)
            self.out.nodes.append(Node(loc, item, type_code, el, el.path, plan.constraints,
                                       resource, root, is_primitive=True))
        elif kind == _DATATYPE:
            type_code, dsd = plan.type, plan.structure
            if dsd is None:
                return
            if not isinstance(item, dict):
                self._not_object(loc, item, type_code)
                return
            self.out.nodes.append(Node(loc, item, type_code, el, type_code, plan.constraints,
                                       resource, root))
            host = plan.host
            if type_code == "Extension" and isinstance(item.get("url"), str):
                host += (item["url"],)
            self.children(dsd, dsd.root.path, item, loc, resource, root, host)
        elif kind == _REFERENCE:
            if isinstance(item, dict):
                self.out.nodes.append(Node(loc, item, "BackboneElement", el, plan.target,
                                           plan.constraints, resource, root))
                self.children(sd, plan.target, item, loc, resource, root, plan.host)
        elif kind == _CONTAINER:
            type_code = plan.type
            if isinstance(item, dict):
                self.out.nodes.append(Node(loc, item, type_code, el, el.path, el.constraints,
                                           resource, root))
                self.children(sd, el.path, item, loc, resource, root, plan.host)
            else:
                self._not_object(loc, item, type_code)
        elif kind == _RESOURCE:
            type_code = plan.type
            if isinstance(item, dict):
                rt = item.get("resourceType")
                if not isinstance(rt, str) and not el.path.endswith(".contained"):
                    self.problem(loc, f"missing resourceType: the resource in {el.path} needs "
                                 "\"resourceType\"", "json-no-resourcetype")
                if type_code != "Resource" and isinstance(rt, str) and rt != type_code:
                    self.problem(loc, f"a {rt} where {el.path} allows only {type_code}",
                                 "wrong-resource-type")
                # A contained resource keeps its container as %rootResource; a Bundle entry
                # (or a Parameters value) is a resource in its own right.
                self.resource(item, loc, root if el.path.endswith(".contained") else None)
            else:
                self._not_object(loc, item, "resource")

    def _not_object(self, loc: str, item: Any, type_code: str) -> None:
        self.problem(loc, f"wrong JSON type {_show(item)}: a {type_code} is a JSON object",
                     "wrong-type")

    def _primitive(self, type_code: str, item: Any, loc: str,
                   rx: re.Pattern[str] | None) -> None:
        """The lexical rules of a primitive value, from its type's definition."""
        if item.__class__ is str and (type_code, item) in self._valid:
            return  # most values: text of this type seen and checked already
        if isinstance(item, bool):
            return
        if isinstance(item, int | float):
            if type_code in _INT_RANGES:
                low, high = _INT_RANGES[type_code]
                if isinstance(item, float) or not low <= item <= high:
                    self.problem(loc, f"invalid value {_show(item)}: a {type_code} is a whole "
                                 f"number from {low} to {high}", "invalid-value")
            return
        if not isinstance(item, str):
            return
        if (type_code, item) in self._valid:
            return  # the same text of the same type, checked already
        found = len(self.out.problems)
        self._lexical(type_code, item, loc, rx)
        if len(self.out.problems) == found:
            self._valid.add((type_code, item))

    def _lexical(self, type_code: str, item: str, loc: str, rx: re.Pattern[str] | None) -> None:
        if (rule := _WHITESPACE_RULES.get(type_code)) and not rule[0].fullmatch(item):
            self.problem(loc, f"{type_code} value {item!r}: {rule[1]}", "invalid-format")
            return
        if rx is not None and not rx.fullmatch(item):
            self.problem(loc, f"invalid value {_show(item)}: not a valid {type_code} (FHIR "
                         f"{self.fv} {type_code} pattern)", "invalid-format")
            return
        if type_code in ("date", "dateTime", "instant") and (m := _DATE.match(item)):
            try:
                datetime.date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                self.problem(loc, f"invalid value {_show(item)}: no such calendar date",
                             "invalid-value")
        elif type_code == "integer64":
            n = int(item)
            low, high = _INT_RANGES[type_code]
            if not low <= n <= high:
                self.problem(loc, f"invalid value {_show(item)}: out of range for integer64",
                             "invalid-value")

    def _profiled(self, el: ElementDef, type_code: str) -> str:
        """The structure to check a value against: the profile the element puts on the type
        (SimpleQuantity: no comparator, sqty-1) when the extract has it, else the type."""
        url = el.profile(type_code)
        name = url.rsplit("/", 1)[-1] if url else None
        psd = self.defs.structure(name) if name else None
        return name if psd is not None and name and psd.url == url else type_code

    def datatype(
        self, type_code: str, item: Any, loc: str, el: ElementDef,
        resource: dict[str, Any], root: dict[str, Any], host: tuple[str, ...] = (),
    ) -> None:
        name = self._profiled(el, type_code)
        dsd = self.defs.structure(name)
        if dsd is None:
            return
        if not isinstance(item, dict):
            self._not_object(loc, item, type_code)
            return
        constraints = _merge(el.constraints, self.defs.root_constraints(name))
        if type_code == "Element":
            # The `_name` twin of a primitive: part of the primitive, which has a value or
            # extensions (the json layer's rule), so ele-1 does not apply to it alone.
            constraints = tuple(c for c in constraints if c.key != "ele-1")
        node = Node(loc, item, type_code, el, type_code, constraints, resource, root)
        self.out.nodes.append(node)
        if not host:
            host = (el.path, *self._bases(type_code))
            if type_code == "Extension" and isinstance(item.get("url"), str):
                host += (item["url"],)
        self.children(dsd, dsd.root.path, item, loc, resource, root, host)


def walk(data: dict[str, Any], defs: Definitions, *, file: str, loc: str | None = None,
         line: int | None = None) -> Walk:
    """Every element of `data` (a resource, maybe a Bundle with resources inside)."""
    w = _Walker(defs, file, line)
    rt = data.get("resourceType")
    w.resource(data, loc or (rt if isinstance(rt, str) else "$this"), None)
    return w.out
