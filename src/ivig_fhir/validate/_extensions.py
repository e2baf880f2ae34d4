"""Extensions against their definitions. Layer `structure`.

Where the definition comes from, in order:
- the same file: a Bundle (or resource) that ships the StructureDefinition of an extension it
  uses is held to it, as the HL7 engine does once the definition is loaded;
- the core extensions of the version in the offline extract (R5: `hl7.fhir.uv.extensions.r5`;
  R4B and R4: the core package);
- HL7's cross-version extensions (`http://hl7.org/fhir/5.0/StructureDefinition/extension-
  ClinicalUseDefinition.type`): the element they stand for is looked up in that version's
  extract, and the value's type checked against it where the two versions share the type.

Checked: the value[x] types allowed, a value required or forbidden, nested extensions allowed,
the nested extensions of a complex extension, and the context (where the extension may be used).
An extension in HL7's own namespace that none of these knows is a warning: its rules were not
checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ivig_fhir.definitions import Definitions, ExtensionDef, ExtensionSlot, load
from ivig_fhir.problems import Problem, Severity

from . import _fhirpath
from ._walk import Node, Walk

LAYER = "structure"

_XVER = re.compile(
    r"http://hl7\.org/fhir/(\d\.\d)/StructureDefinition/extension-([A-Za-z]+(?:\.[A-Za-z0-9\[\]]+)*)$")
_XVER_VERSIONS = {"5.0": "r5", "4.3": "r4b", "4.0": "r4"}
_CORE = "http://hl7.org/fhir/StructureDefinition/"
# A type of another FHIR version the engine maps onto this one's, for cross-version values.
_XVER_TYPE_ALTERNATIVES = {"CodeableReference": ("CodeableConcept", "Reference")}

_CONTEXT_RULES = "https://hl7.org/fhir/defining-extensions.html#context"
_EVERYWHERE = frozenset({"Element", "Any"})
# The value of a fixed, pattern or example in an ElementDefinition is an instance of whatever
# it shows, so the HL7 engine lets any extension sit on it.
_ANY_EXTENSION = frozenset({"ElementDefinition.fixed[x]", "ElementDefinition.pattern[x]",
                            "ElementDefinition.example.value[x]"})
# Core definitions whose context the core's own resources do not keep to, as the HL7 engine
# corrects them (org.hl7.fhir.validation 6.7.9, InstanceValidator.fixContexts): R4/R4B's
# fhir-type names ElementDefinition.type.code but sits on ElementDefinition.type in every
# snapshot; normative-version sits on CodeSystems, ValueSets and elements, not only on
# StructureDefinitions.
_FIRST_CONTEXT = {
    _CORE + "structuredefinition-fhir-type": "ElementDefinition.type",
    _CORE + "structuredefinition-normative-version": "Element",
}
# Before R5 the engine reads expectation/prohibited as allowed anywhere: R4/R4B list fewer
# CapabilityStatement elements than their own examples use them on.
_FIRST_CONTEXT_BEFORE_R5 = frozenset({_CORE + "capabilitystatement-expectation",
                                      _CORE + "capabilitystatement-prohibited"})
_ADDED_CONTEXT = {_CORE + "regex": (("element", "ElementDefinition.type"),)}


@dataclass(frozen=True)
class _InFile:
    """An extension definition shipped in the file being validated."""

    url: str
    rules: ExtensionSlot


def _in_file_rules(sd: dict[str, Any]) -> ExtensionSlot:
    types: tuple[str, ...] = ()
    value_min, value_max, nested = 0, "1", True
    # The differential says what the definition changes; the snapshot, where present, repeats it.
    for part in ("snapshot", "differential"):
        elements = sd.get(part, {}).get("element", []) if isinstance(sd.get(part), dict) else []
        for el in elements if isinstance(elements, list) else ():
            if not isinstance(el, dict):
                continue
            if el.get("path") == "Extension.value[x]":
                codes = tuple(t["code"] for t in el.get("type", ())
                              if isinstance(t, dict) and isinstance(t.get("code"), str))
                types = codes or types
                if isinstance(el.get("min"), int):
                    value_min = el["min"]
                if isinstance(el.get("max"), str):
                    value_max = el["max"]
            elif el.get("path") == "Extension.extension" and el.get("max") == "0":
                nested = False
    return ExtensionSlot(0, "*", value_min, value_max, types, nested)


def _definitions(data: dict[str, Any]) -> dict[str, _InFile]:
    resources: list[Any] = [data]
    if data.get("resourceType") == "Bundle" and isinstance(data.get("entry"), list):
        resources += [e.get("resource") for e in data["entry"] if isinstance(e, dict)]
    return {r["url"]: _InFile(r["url"], _in_file_rules(r)) for r in resources
            if isinstance(r, dict) and r.get("resourceType") == "StructureDefinition"
            and r.get("type") == "Extension" and isinstance(r.get("url"), str)}


def _type_name(t: str) -> str:
    return t[:1].upper() + t[1:]


class _Checker:
    def __init__(self, defs: Definitions, in_file: Mapping[str, _InFile], file: str,
                 line: int | None) -> None:
        self.defs = defs
        self.in_file = in_file
        self.file = file
        self.line = line
        self.out: list[Problem] = []

    def problem(self, loc: str, message: str, code: str, severity: Severity = "error") -> None:
        self.out.append(Problem(self.file, self.line, None, loc, message, severity, LAYER, code))

    def values(self, ext: dict[str, Any]) -> list[str]:
        return [k for k in ext if k.startswith("value") and not k.startswith("_")]

    def slot(self, loc: str, ext: dict[str, Any], name: str, rules: ExtensionSlot,
             alternatives: Mapping[str, tuple[str, ...]] | None = None) -> None:
        values = self.values(ext)
        allowed = {_type_name(t) for t in rules.types}
        for t in rules.types:
            allowed |= {_type_name(a) for a in (alternatives or {}).get(t, ())}
        for key in values:
            given = key[len("value"):]
            if rules.value_max == "0":
                self.problem(f"{loc}.{key}", f"extension {name} takes no value", "extension")
            elif rules.types and given not in allowed:
                self.problem(f"{loc}.{key}", f"extension {name} takes a value of type "
                             f"{' | '.join(rules.types)}, not {given}", "extension")
        if not values and rules.value_min > 0:
            self.problem(loc, f"extension {name} needs a value[x] "
                         f"({' | '.join(rules.types) or 'any type'})", "extension")
        if not rules.nested and "extension" in ext:
            self.problem(f"{loc}.extension", f"extension {name} allows no nested extensions",
                         "extension")
        if rules.binding is not None and rules.binding.strength == "required":
            for key in values:
                self.bound(f"{loc}.{key}", ext[key], key[len("value"):], name,
                           rules.binding.value_set)

    def bound(self, loc: str, value: Any, type_name: str, name: str, url: str) -> None:
        """The value of an extension with a required binding is in the value set."""
        vs = self.defs.value_set(url)
        if vs is None or not vs.expandable:
            return
        codings: list[tuple[str | None, Any]]
        if type_name in ("Code", "String", "Uri"):
            codings = [(None, value)]
        elif type_name == "Coding" and isinstance(value, dict):
            codings = [(value.get("system"), value.get("code"))]
        elif type_name == "CodeableConcept" and isinstance(value, dict):
            found = value.get("coding")
            codings = [(c.get("system"), c.get("code")) for c in found
                       if isinstance(c, dict)] if isinstance(found, list) else []
            if not codings:
                return  # text only: the engine reports nothing either for extension values
        else:
            return
        if any(isinstance(code, str) and vs.contains(system, code) for system, code in codings):
            return
        given = ", ".join(f"{s}|{c}" if s else str(c) for s, c in codings)
        self.problem(loc, f"{given} is not in the value set {url}, required for the value of "
                     f"extension {name}", "code-invalid")

    def core(self, node: Node, ext: dict[str, Any], d: ExtensionDef) -> None:
        name = d.url.rsplit("/", 1)[-1]
        self.slot(node.loc, ext, name, d.rules)
        contexts = self.contexts(d)
        if not self.context_ok(contexts, node.host):
            where = node.host[0] if node.host else "here"
            allowed = ", ".join(e for _, e in contexts)
            self.problem(node.loc, f"extension {name} is not allowed on {where}: its "
                         f"definition (version {d.version}) allows it on {allowed} (see "
                         f"{_CONTEXT_RULES})", "extension-context")
        # In FHIRPath the value of an extension is `value`, whatever its type: the HL7 engine
        # finds nothing at `%extension.valueInteger`, and a context invariant that is not true
        # (false or empty) forbids the extension there.
        as_fhirpath = {("value" if k.startswith("value") else k): v for k, v in ext.items()}
        for expression in d.context_invariants:
            if node.parent is None:
                break
            try:
                result = _fhirpath.evaluate(
                    expression, node.parent, node.parent_base, resource=node.resource,
                    root=node.root, version=self.defs.version,
                    extra_vars={"extension": as_fhirpath})
            except Exception:  # noqa: S112 - an expression fhirpathpy cannot run decides nothing
                continue
            if result != [True]:
                self.problem(node.loc, f"extension {name} is not allowed here: its context "
                             f"invariant {expression!r} does not hold", "extension-context")
        if d.slices:
            nested = ext.get("extension")
            for i, sub in enumerate(nested if isinstance(nested, list) else ()):
                if not isinstance(sub, dict) or not isinstance(sub.get("url"), str):
                    continue
                rules = d.slices.get(sub["url"])
                sub_loc = f"{node.loc}.extension[{i}]"
                if rules is None:
                    if d.closed and "://" not in sub["url"]:
                        self.problem(sub_loc, f"extension {name} has no nested extension "
                                     f"\"{sub['url']}\" (it allows "
                                     f"{', '.join(sorted(d.slices))})", "extension")
                    continue
                self.slot(sub_loc, sub, f"{name}#{sub['url']}", rules)
            if isinstance(nested, list):
                urls = [s.get("url") for s in nested if isinstance(s, dict)]
                for sub_url, rules in d.slices.items():
                    n = urls.count(sub_url)
                    if n < rules.min:
                        self.problem(node.loc, f"extension {name} needs nested extension "
                                     f"\"{sub_url}\" ({rules.min}..{rules.max})", "extension")
                    elif rules.max != "*" and n > int(rules.max):
                        self.problem(node.loc, f"extension {name} allows nested extension "
                                     f"\"{sub_url}\" at most {rules.max} time(s), not {n}",
                                     "extension")

    def contexts(self, d: ExtensionDef) -> tuple[tuple[str, str], ...]:
        """The contexts of `d`, with the HL7 engine's corrections of core definitions whose
        context the core itself does not keep to (InstanceValidator.fixContexts)."""
        contexts = d.contexts
        if not contexts:
            return contexts
        first_to = _FIRST_CONTEXT.get(d.url)
        if first_to is None and d.url in _FIRST_CONTEXT_BEFORE_R5 and not self.r5:
            first_to = "Element"
        if first_to is not None:
            contexts = ((contexts[0][0], first_to), *contexts[1:])
        return contexts + _ADDED_CONTEXT.get(d.url, ())

    @property
    def r5(self) -> bool:
        major, minor = (self.defs.fhir_version or "5.0").split(".")[:2]
        return (int(major), int(minor)) >= (4, 6)

    def context_ok(self, contexts: tuple[tuple[str, str], ...], host: tuple[str, ...]) -> bool:
        """An element or extension context holds where the extension sits: on the element
        of that path (a resource's, or a type's wherever that type is used), on an instance of
        that type or one derived from it (`Element` anywhere), or inside the extension of that
        url. FHIRPath contexts are not evaluated here: they allow the extension."""
        if not contexts or not host or host[0] in _ANY_EXTENSION:
            return True
        for kind, expression in contexts:
            if kind != "element" and kind != "extension":
                return True  # a FHIRPath context: not evaluated here
            if expression in host or expression in _EVERYWHERE:
                return True
            if kind == "extension":
                continue  # the url of the extension it sits in: in host or not at all
            head = expression.split(".", 1)[0]
            sd = self.defs.structure(head)
            if sd is None or (sd.abstract and "." not in expression):
                # A type this version does not define, or an interface (R5
                # CanonicalResource): not decided here.
                return True
            if kind == "element" and "." in expression:
                # Profiles' paths and choice renamings: compare without [x].
                bare = expression.replace("[x]", "")
                if any(h.replace("[x]", "") == bare for h in host):
                    return True
        return False

    def cross_version(self, node: Node, ext: dict[str, Any], version: str, path: str) -> None:
        v = _XVER_VERSIONS.get(version)
        name = f"extension-{path} (FHIR {version})"
        other = load(v) if v else None
        head = path.split(".", 1)[0]
        sd = other.structure(head) if other else None
        el = sd.element(path) if sd else None
        if el is None and sd is not None and not path.endswith("[x]"):
            el = sd.element(path + "[x]")
        if other is None or el is None:
            self.problem(node.loc, f"cross-version extension {name}: "
                         f"{'no such element in that version' if other else 'version unknown'}"
                         "; its value is not checked", "extension-unchecked", "warning")
            return
        if el.types and all(t in ("BackboneElement", "Element") for t in el.types):
            # A backbone element: nested extensions named by its children.
            if self.values(ext):
                self.problem(node.loc, f"cross-version extension {name} stands for a backbone "
                             "element: it takes nested extensions, not a value", "extension")
            return
        unknown = [t for t in el.types if self.defs.structure(t) is None
                   and t not in _XVER_TYPE_ALTERNATIVES and not t.startswith("http")]
        if unknown:
            self.problem(node.loc, f"cross-version extension {name}: type(s) "
                         f"{', '.join(unknown)} do not exist in this FHIR version; its value "
                         "is not checked", "extension-unchecked", "warning")
            return
        types = tuple(t for t in el.types if not t.startswith("http"))
        self.slot(node.loc, ext, name, ExtensionSlot(0, el.max, 0, "1", types, True),
                  _XVER_TYPE_ALTERNATIVES)

    def check(self, node: Node) -> None:
        ext = node.value
        url = ext.get("url")
        if not isinstance(url, str):
            return
        local = self.in_file.get(url)
        if local is not None:
            self.slot(node.loc, ext, url.rsplit("/", 1)[-1], local.rules)
            return
        core = self.defs.extension(url)
        if core is not None:
            self.core(node, ext, core)
            return
        if m := _XVER.match(url.split("|", 1)[0]):
            self.cross_version(node, ext, m[1], m[2])
            return
        if url.startswith(_CORE) and node.host and url not in node.host[1:]:
            self.problem(node.loc, f"extension {url} is not a core extension of FHIR "
                         f"{self.defs.fhir_version} known offline: its rules were not checked",
                         "extension-unknown", "warning")



def check(data: dict[str, Any], walk: Walk, defs: Definitions, *, file: str,
          line: int | None = None) -> list[Problem]:
    checker = _Checker(defs, _definitions(data), file, line)
    extensions = [n for n in walk.nodes if n.type == "Extension" and isinstance(n.value, dict)]
    for node in extensions:
        checker.check(node)
    return checker.out
