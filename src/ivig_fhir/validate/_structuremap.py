"""A StructureMap's groups and rules read as the HL7 engine's StructureMapValidator reads them,
on the walk's StructureMap nodes (top level, Bundle entries, contained). Layer `structure`.

Within a group, the variables known at a point are the group's inputs (by name and mode), then,
rule by rule, those its sources and targets bind; a nested rule sees its enclosing rules' as
well. The engine holds each source's `context` to a known source-mode variable and each target's
`context` to a known target-mode variable ("The source context X is not known at this point").
Names (group, input, rule, context, variable) are ids: a letter, then letters and digits.

Where a variable's type is known, an `element` must name a child of it ("The target path
target.orderedItem.itemCodeableConcept refers to the path SupplyRequest.orderedItem... which
is unknown"): a group input's type through the map's `structure` (its alias, to a core
StructureDefinition url) or a core type's name; then the element a source or target selects.
An element is matched by its name with any [x] taken off, so one name, never a dotted path nor a
type-specific choice name (`occurrenceDateTime`).

Only what can be stated exactly is judged. A type the definitions do not know (another
package's structure, a logical model), a type set by a transform's parameter, an element with
several types or a resource slot, and an input typed only by the group that invokes it leave the
variable's type unknown: its paths are not judged. A target's variable is bound only when its
context's type is known, as in the engine; where that is unknown, the variable may or may not
be bound, and a later use of it is not judged either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ivig_fhir.definitions import Definitions, StructureDef
from ivig_fhir.problems import Problem

from ._walk import Walk

LAYER = "structure"
_CORE = "http://hl7.org/fhir/StructureDefinition/"
_ID = re.compile(r"[a-zA-Z][a-zA-Z0-9]*")
# The name the mapping language gives an invocation of the default group for a pair of types
# (StructureMapUtilities.DEF_GROUP_NAME): it names no group of the map.
_DEFAULT_GROUP = "DefaultMappingGroupAnonymousAlias"


@dataclass(frozen=True)
class _Typed:
    """Where a variable's children are defined (the engine's structure and element) and the
    type a transform or source named (None: the element's own)."""

    struct: StructureDef
    path: str
    type: str | None = None


# A variable's type: _Typed when known, _UNTYPED when the engine surely has none, None when it
# cannot be told here.
_UNTYPED = "untyped"
Typing = _Typed | str | None


Vars = dict[tuple[str, str], Typing]
"""The variables that are, or may be, bound at a point: (name, mode) -> type."""


def check(walk: Walk, defs: Definitions, *, file: str, line: int | None = None) -> list[Problem]:
    out: list[Problem] = []
    for node in walk.nodes:
        if node.is_resource and node.type == "StructureMap" and isinstance(node.value, dict):
            for where, message, code in _Map(node.value, defs).problems():
                out.append(Problem(file, line, None, f"{node.loc}.{where}", message, "error",
                                   LAYER, code))
    return out


def _items(value: Any) -> list[tuple[int, dict[str, Any]]]:
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)] \
        if isinstance(value, list) else []


def _str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) else None


class _Map:
    def __init__(self, sm: dict[str, Any], defs: Definitions) -> None:
        self.sm = sm
        self.defs = defs
        self.found: list[tuple[str, str, str]] = []
        self.groups = {name for _, g in _items(sm.get("group"))
                       if (name := _str(g, "name")) is not None}
        # Groups of imported maps are out of reach offline: a map with imports names groups
        # that cannot be told unknown.
        self.imports = bool(sm.get("import"))
        self.structures = [s for _, s in _items(sm.get("structure"))]

    def problems(self) -> list[tuple[str, str, str]]:
        for i, group in _items(self.sm.get("group")):
            self.group(f"group[{i}]", group)
        return self.found

    def report(self, where: str, message: str, code: str) -> None:
        self.found.append((where, message, code))

    def name(self, where: str, value: str | None, what: str) -> bool:
        if value is not None and _ID.fullmatch(value):
            return True
        self.report(where, f"{what} {value!r} is not a valid name: a letter, then letters and "
                    "digits", "structuremap-name")
        return False

    def group(self, where: str, group: dict[str, Any]) -> None:
        self.name(where, _str(group, "name"), "the group name")
        extends = _str(group, "extends")
        if extends is not None and extends not in self.groups and not self.imports:
            self.report(f"{where}.extends", f"the group {extends!r} it extends is not a group "
                        "of this map", "structuremap-group")
        variables: Vars = {}
        for k, item in _items(group.get("input")):
            name, mode = _str(item, "name"), _str(item, "mode")
            at = f"{where}.input[{k}]"
            if not self.name(at, name, "the input name") or name is None:
                continue
            if any(n == name for n, _ in variables):
                self.report(at, f"the name {name!r} is already an input of this group",
                            "structuremap-name")
                continue
            variables[(name, mode or "")] = self.input_type(item)
        for k, rule in _items(group.get("rule")):
            self.rule(f"{where}.rule[{k}]", rule, variables)

    def input_type(self, item: dict[str, Any]) -> Typing:
        """A group input's type: through a structure's alias to its url, else a type's name."""
        type_name = _str(item, "type")
        if type_name is None:
            return None  # typed, if at all, by the group that invokes it
        aliased = [s for s in self.structures if s.get("alias") == type_name]
        if aliased:
            smode, url = _str(aliased[0], "mode"), _str(aliased[0], "url")
            mode = _str(item, "mode")
            if smode is not None and mode != smode and not (smode == "target"
                                                             and mode == "source"):
                return _UNTYPED  # the engine reports the mismatch (not judged here) untyped
            struct = self.defs.structure(url[len(_CORE):]) if url and url.startswith(_CORE) \
                else None
            return _Typed(struct, struct.type) if struct is not None and struct.url == url \
                else None
        struct = self.defs.structure(type_name)
        return _Typed(struct, struct.type) if struct is not None else None

    def rule(self, where: str, rule: dict[str, Any], outer: Vars) -> None:
        self.name(where, _str(rule, "name"), "the rule name")
        variables = dict(outer)
        for k, source in _items(rule.get("source")):
            self.source(f"{where}.source[{k}]", source, variables)
        for k, target in _items(rule.get("target")):
            self.target(f"{where}.target[{k}]", target, variables)
        for k, child in _items(rule.get("rule")):
            self.rule(f"{where}.rule[{k}]", child, variables)
        for k, dependent in _items(rule.get("dependent")):
            name = _str(dependent, "name")
            if name is not None and name not in self.groups and not self.imports \
                    and name != _DEFAULT_GROUP:
                self.report(f"{where}.dependent[{k}]", f"the group {name!r} it invokes is not "
                            "a group of this map", "structuremap-group")

    def context(self, where: str, context: str | None, mode: str, variables: Vars) -> \
            tuple[bool, Typing]:
        """Whether the variable a source or target reads is (or may be) bound, reported when
        it is not, and its type."""
        if not self.name(where, context, f"the {mode} context") or context is None:
            return False, None
        if (context, mode) not in variables:
            self.report(where, f"the {mode} context {context!r} is not known at this point: "
                        f"no group input or earlier rule binds a {mode} variable of that name",
                        "structuremap-context")
            return False, None
        return True, variables[(context, mode)]

    def source(self, where: str, source: dict[str, Any], variables: Vars) -> None:
        known, typing = self.context(where, _str(source, "context"), "source", variables)
        if not known:
            return
        variable, element = _str(source, "variable"), _str(source, "element")
        if variable is not None and isinstance(typing, _Typed) and \
                not self.name(where, variable, "the variable"):
            variable = None  # the engine checks the name only where it knows the type
        if isinstance(typing, _Typed) and element is not None:
            typing = self.element(where, _str(source, "context") or "", typing, element,
                                  "source", _str(source, "type"))
        if variable is not None:
            variables[(variable, "source")] = typing

    def target(self, where: str, target: dict[str, Any], variables: Vars) -> None:
        context, variable = _str(target, "context"), _str(target, "variable")
        if context is None:
            if variable is not None and self.name(where, variable, "the variable"):
                variables[(variable, "target")] = None  # typed by its transform
            return
        known, context_type = self.context(where, context, "target", variables)
        if not known or context_type == _UNTYPED:
            return  # the engine binds nothing on a context it has no type for
        if not isinstance(context_type, _Typed):
            if variable is not None:
                variables[(variable, "target")] = None  # bound if the engine knew the type
            return
        if variable is not None and not self.name(where, variable, "the variable"):
            variable = None
        element = _str(target, "element")
        typing: Typing = _UNTYPED
        if element is not None:
            typing = self.transformed(
                self.element(where, context, context_type, element, "target", None), target)
        if variable is not None:
            variables[(variable, "target")] = typing

    def transformed(self, typing: Typing, target: dict[str, Any]) -> Typing:
        """A target's type once its transform is applied: the element's own type for a
        transform that names none; unknown where a parameter or an expression sets it."""
        transform = _str(target, "transform") or "create"
        if not isinstance(typing, _Typed) or transform in ("reference", "evaluate") or \
                (transform in ("create", "copy") and target.get("parameter")):
            return None if isinstance(typing, _Typed) else typing
        return typing

    def element(self, where: str, context: str, v: _Typed, element: str, mode: str,
                type_name: str | None) -> Typing:
        """The type an element of a typed variable leads to (reported when it names no child);
        None when the definitions cannot tell."""
        found = _children(v, element, self.defs)
        if found is None:
            return None
        if not found:
            self.report(where, f"the {mode} path {context}.{element} refers to "
                        f"{v.path}.{element}, which {v.struct.type} does not define (an element "
                        "is named by one name, without [x] or a type)", "structuremap-path")
            return _UNTYPED
        if len(found) > 1:
            return None  # the engine warns and leaves the variable untyped; or slices
        struct, path = found[0]
        elem = struct.element(path)
        if elem is None:
            return None
        if struct.children(path):
            return _Typed(struct, path, type_name)  # a backbone element: its own children
        types = [type_name] if type_name is not None else list(elem.types)
        if type_name is not None and type_name not in elem.types:
            return None  # a type the element does not list: the engine's lookup differs
        if len(types) > 1 and mode == "target" and self.imports:
            return None  # the engine may infer a type from an imported map's groups
        for type_code in types:
            typed = self.defs.structure(type_code)
            if typed is None or typed.abstract or typed.kind == "resource":
                return None  # unknown, or a resource slot (typed by the transform)
        return _Typed(struct, path, type_name)


def _children(v: _Typed, element: str, defs: Definitions) -> list[tuple[StructureDef, str]] | \
        None:
    """The elements a variable's `element` may name: the children the structure lists under
    the variable's element, else those of its type (one level down). None: not certain."""
    kids: Mapping[str, Any] = v.struct.children(v.path)
    if kids:
        out = []
        for key, elem in kids.items():
            if key.removesuffix("[x]") != element:
                continue
            if elem.content_reference:
                out.append((v.struct, elem.content_reference.split("#", 1)[-1]))
            else:
                out.append((v.struct, elem.path))
        return out
    elem = v.struct.element(v.path)
    if elem is None:
        return None
    types = [v.type] if v.type is not None else list(elem.types)
    out = []
    for type_code in types:
        struct = defs.structure(type_code)
        if struct is None or struct.abstract:
            return None
        out += [(struct, e.path) for key, e in struct.children(struct.type).items()
                if key.removesuffix("[x]") == element]
    return out
