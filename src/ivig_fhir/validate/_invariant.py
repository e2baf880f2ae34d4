"""Layer `invariant`: every constraint of the definitions, at every element present.

Each constraint (ele-1, dom-2..6, cud-1, rng-2, bdl-*, txt-1/2, ...) is evaluated at the node
it is defined on (a resource inside a Bundle is its own %resource; a contained one has its
container as %rootResource), with the severity the definition gives: by `_fhirpath.evaluate`,
that is `_fastpath`'s compiled closures, or fhirpathpy where they do not take the expression.
A few are evaluated in Python (`NATIVE`), for speed or because their FHIRPath uses functions
fhirpathpy lacks; tests check that the native and fhirpathpy results agree where both work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from ivig_fhir.definitions import Constraint
from ivig_fhir.problems import Problem, Severity

from . import _fastpath, _fhirpath
from ._narrative import div_problems
from ._walk import Node, Walk

LAYER = "invariant"

# Constraints this layer does not evaluate, and why. Everything else is evaluated; an
# expression that fails unexpectedly is reported as a warning, never skipped in silence.
KNOWN_SKIPS: Mapping[str, str] = {
    # ElementDefinition rule (StructureDefinition resources only): fhirpathpy's lexer trips on
    # the expression at run time and prints "LexerNoViableAltException" on stdout each time.
    "eld-11": "fhirpathpy 2.2 lexer error on the expression (prints to stdout)",
}


def _ele1(node: Node) -> bool:
    # hasValue() or (children().count() > id.count()): some child other than id.
    v = node.value
    if isinstance(v, dict):
        # "resourceType" is a child too where it is an element (R5 Consent.provision); on a
        # resource's root ele-1 does not apply.
        return any(k != "id" for k in v)
    return v is not None


def _only_id(node: Node) -> bool:
    # ele-1 as written fails an element whose only child is its id; the HL7 engine raises
    # nothing there (R5 example Medication-med0301), so it is a warning, not an error.
    return isinstance(node.value, dict) and list(node.value) == ["id"]


def _no_contained(node: Node) -> bool | None:
    # dom-2, dom-4, dom-5 start `contained.`: with nothing contained they hold; with contained,
    # FHIRPath decides (dom-3 is `_contained_referenced`).
    return True if "contained" not in node.value else None


def _not_local(node: Node) -> bool | None:
    # ref-1 is about '#id' references only: "reference.exists() implies
    # (reference.startsWith('#').not() or ...)". Any other reference holds; '#' goes to fhirpathpy.
    ref = node.value.get("reference") if isinstance(node.value, dict) else None
    return True if not isinstance(ref, str) or not ref.startswith("#") else None


def _div(node: Node) -> str | None:
    v = node.value.get("div") if isinstance(node.value, dict) else node.value
    return v if isinstance(v, str) else None


def _txt1(node: Node) -> bool:
    div = _div(node)
    return div is None or not [p for p in div_problems(div) if p[1] != "xhtml-empty"]


def _txt2(node: Node) -> bool:
    div = _div(node)
    return div is None or not [p for p in div_problems(div) if p[1] == "xhtml-empty"]


# Constraints decided in Python, with why. A function returning None hands over to fhirpathpy.
NATIVE: Mapping[str, tuple[Callable[[Node], bool | None], str]] = {
    "ele-1": (_ele1, "on every element: 0.1 ms each in fhirpathpy is most of the run time"),
    "dom-2": (_no_contained, "vacuous without contained resources"),
    "dom-4": (_no_contained, "vacuous without contained resources"),
    "dom-5": (_no_contained, "vacuous without contained resources"),
    "ref-1": (_not_local, "vacuous unless the reference is '#id' (on every Reference; the "
              "most evaluated constraint of the export)"),
    "txt-1": (_txt1, "expression is htmlChecks(), FHIR's own function for the XHTML rules; "
              "the narrative checker implements it"),
    "txt-2": (_txt2, "expression is htmlChecks() too (R5), so it cannot tell txt-1 from txt-2; "
              "implemented as 'the div has some text or an image'"),
}

def _low_le_high(node: Node) -> bool:
    # R4B rng-2 compares two Quantity objects with `<=`, which fhirpathpy 2.2 cannot do
    # (FP_Quantity has no ordering). Same units (or none) -> compare values; else not comparable.
    v = node.value
    low, high = v.get("low"), v.get("high")
    if not isinstance(low, dict) or not isinstance(high, dict):
        return True
    if "value" not in low or "value" not in high:
        return True
    if (low.get("code") or low.get("unit")) != (high.get("code") or high.get("unit")):
        return True
    return bool(low["value"] <= high["value"])


def _boundary(q: dict[str, Any], low: bool) -> tuple[Decimal, str] | None:
    """lowBoundary()/highBoundary() of a Quantity as `_fhirpath` computes them: half a unit of
    its last digit off, in the code's (else the unit's) quoted name."""
    if "value" not in q:
        return None
    value = Decimal(str(q["value"]))
    half = Decimal(5) * Decimal(10) ** -(_fhirpath.precision(value) + 1)
    unit = q.get("code") or q.get("unit")
    return (value - half if low else value + half, f"'{unit}'" if unit else "'1'")


def _boundaries_ordered(node: Node) -> bool | None:
    # R5 rng-2 through lowBoundary()/highBoundary()/comparable(): FHIR functions fhirpathpy
    # lacks (`_fhirpath` adds them), so each Range would load fhirpathpy's engine. Decided
    # here where the values are JSON numbers; anything else goes to fhirpathpy.
    v = node.value
    low, high = (v.get("low"), v.get("high")) if isinstance(v, dict) else (None, None)
    if not isinstance(v, dict) or not all(q is None or isinstance(q, dict) for q in (low, high)):
        return None
    for q in (low, high):
        if q is not None and "value" in q and (isinstance(q["value"], bool) or
                                               not isinstance(q["value"], int | float)):
            return None
    a = _boundary(low, True) if low is not None else None
    b = _boundary(high, False) if high is not None else None
    if a is None or b is None or a[1] != b[1]:
        return True  # a value missing, or not comparable: the rule does not apply
    return a[0] <= b[0]


def _element_types(e: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in e.get("type") or () if isinstance(t, dict)]


def _no_typed_child_of_codeable_reference(type_code: str, suffix: str, needs: str
                                          ) -> Callable[[Node], bool | None]:
    """R5 sdf-24 / sdf-25: no element `X.reference` (a Reference with a target profile) or
    `X.concept` (a bound CodeableConcept) where X is a CodeableReference element. fhirpathpy
    runs the expression's inner `%context.element.where(...)` once per element: quadratic,
    ~2 s on StructureDefinition-Observation, most of the time of the examples package."""
    def check(node: Node) -> bool | None:
        elements = node.value.get("element") if isinstance(node.value, dict) else None
        if not isinstance(elements, list) or not all(isinstance(e, dict) for e in elements):
            return None
        reference_paths = {e.get("path") for e in elements
                           if any(t.get("code") == "CodeableReference" for t in _element_types(e))}
        for e in elements:
            path, types = e.get("path"), _element_types(e)
            if (isinstance(path, str) and path.endswith(suffix)
                    and any(t.get("code") == type_code for t in types)
                    and (any(t.get(needs) for t in types) if needs == "targetProfile"
                         else needs in e)
                    and path[:len(path) - len(suffix)] in reference_paths):
                return False
        return True
    return check


# FHIR's uri and the types the model derives from it: what ofType(uri)/as(uri) keep.
_URI_TYPES = frozenset({"uri", "canonical", "url", "oid", "uuid"})


def _contained_referenced(version: str, id_required: bool, hash_types: frozenset[str]
                          ) -> Callable[[Node], bool | None]:
    """dom-3: every contained resource is referenced ('#'+id) from somewhere in the resource
    (the container, itself or another contained one: the expression searches all of
    %resource), or refers to the container ('#'). fhirpathpy walks %resource.descendants()
    four times per contained resource (0.4 s each on a large Questionnaire: minutes), and
    R4B's `descendants().as(canonical)` raises there ("expected singleton"). Here the values
    a '#id' may sit in are gathered once per container: every `reference`, and every value the
    model types as uri or a type derived from it. `id_required`: R4B's `id.exists() and ...`,
    where R4/R5 let a contained resource without id pass; `hash_types`: the types whose value
    '#' refers to the container (R5/R4 canonical; R4B also uri)."""
    def check(node: Node) -> bool | None:
        contained = node.value.get("contained") if isinstance(node.value, dict) else None
        if contained is None:
            return True
        if not isinstance(contained, list) or not all(
                isinstance(c, dict) and isinstance(c.get("resourceType"), str)
                and isinstance(c.get("id", ""), str) and "_id" not in c for c in contained):
            return None  # lists of one, nulls, odd ids: as fhirpathpy reads them
        env = _fastpath.Env(_fhirpath.model(version), _fhirpath._resolve, node.value,
                            node.resource, node.root)
        try:
            targets = set()
            for d, p in _fastpath._descendants([(node.resource, None)], env):
                if isinstance(d, dict):
                    ref = d.get("reference")
                    if isinstance(ref, str):
                        targets.add(ref)
                elif p in _URI_TYPES and isinstance(d, str):
                    targets.add(d)
            for c in contained:
                if "id" in c:
                    if "#" + c["id"] in targets:
                        continue
                elif not id_required:
                    continue  # '#'+id is empty: the where() criterion is empty, not false
                if not any((isinstance(d, dict) and d.get("reference") == "#"
                            and "_reference" not in d) or (d == "#" and p in hash_types)
                           for d, p in _fastpath._descendants([(c, c["resourceType"])], env)):
                    return False
        except _fastpath.Fallback:
            return None
        return True
    return check


_DOM3_R5 = (
    "contained.where((('#'+id in (%resource.descendants().reference | %resource.descendants()"
    ".ofType(canonical) | %resource.descendants().ofType(uri) | %resource.descendants()"
    ".ofType(url))) or descendants().where(reference = '#').exists() or descendants()"
    ".where(ofType(canonical) = '#').exists() or descendants().where(ofType(canonical) = '#')"
    ".exists()).not()).trace('unmatched', id).empty()")
_DOM3_R4B = (
    "contained.where(((id.exists() and ('#'+id in (%resource.descendants().reference | "
    "%resource.descendants().as(canonical) | %resource.descendants().as(uri) | "
    "%resource.descendants().as(url)))) or descendants().where(reference = '#').exists() or "
    "descendants().where(as(canonical) = '#').exists() or descendants().where(as(uri) = '#')"
    ".exists()).not()).trace('unmatched', id).empty()")
_DOM3_R4 = (
    "contained.where((('#'+id in (%resource.descendants().reference | %resource.descendants()"
    ".as(canonical) | %resource.descendants().as(uri) | %resource.descendants().as(url))) or "
    "descendants().where(reference = '#').exists() or descendants().where(as(canonical) = '#')"
    ".exists() or descendants().where(as(canonical) = '#').exists()).not())"
    ".trace('unmatched', id).empty()")
_CANONICAL = frozenset({"canonical"})


# Expressions (rather than keys) decided in Python: one key can be worded differently per
# FHIR version, and only one wording may need help.
NATIVE_EXPRESSIONS: Mapping[str, tuple[Callable[[Node], bool | None], str]] = {
    "low.value.empty() or high.value.empty() or low.lowBoundary().comparable("
    "high.highBoundary()).not() or (low.lowBoundary() <= high.highBoundary())": (
        _boundaries_ordered, "R5 rng-2: lowBoundary()/comparable() are FHIR functions "
        "fhirpathpy lacks, the only constraint of the export the fast path does not take"),
    "low.empty() or high.empty() or (low <= high)": (
        _low_le_high, "R4B rng-2: fhirpathpy cannot order two Quantities (no FP_Quantity "
        "comparison); R5's rng-2 works through lowBoundary()/highBoundary()"),
    "element.where(type.where(code='Reference').exists() and path.endsWith('.reference') and "
    "type.targetProfile.exists() and (path.substring(0,$this.path.length()-10) in "
    "%context.element.where(type.where(code='CodeableReference').exists()).path)).exists()"
    ".not()": (
        _no_typed_child_of_codeable_reference("Reference", ".reference", "targetProfile"),
        "R5 sdf-24: quadratic in fhirpathpy"),
    "element.where(type.where(code='CodeableConcept').exists() and path.endsWith('.concept') "
    "and binding.exists() and (path.substring(0,$this.path.length()-8) in "
    "%context.element.where(type.where(code='CodeableReference').exists()).path)).exists()"
    ".not()": (
        _no_typed_child_of_codeable_reference("CodeableConcept", ".concept", "binding"),
        "R5 sdf-25: quadratic in fhirpathpy"),
    _DOM3_R5: (_contained_referenced("r5", False, _CANONICAL),
               "R5 dom-3: descendants() of the whole resource per contained one"),
    _DOM3_R4B: (_contained_referenced("r4b", True, _URI_TYPES),
                "R4B dom-3: as() on a collection raises in fhirpathpy"),
    _DOM3_R4: (_contained_referenced("r4", False, _CANONICAL),
               "R4 dom-3: as() on a collection raises in fhirpathpy"),
}


_SEVERITY: Mapping[str, Severity] = {"error": "error", "warning": "warning"}


def passes(c: Constraint, node: Node, version: str, *, native: bool = True,
           env: _fastpath.Env | None = None) -> bool:
    """Does `node` satisfy `c`? Raises when fhirpathpy cannot evaluate the expression. `env`:
    the fast path's environment for this node, shared by the constraints evaluated there."""
    if native:
        for shortcut in (NATIVE.get(c.key), NATIVE_EXPRESSIONS.get(c.expression)):
            if shortcut is not None:
                decided = shortcut[0](node)
                if decided is not None:
                    return decided
    result = None
    fast = _fhirpath.fast(c.expression)
    if fast is not None:
        try:
            result = fast(node.value, node.fp_base, env or _fhirpath.fast_env(
                node.value, node.resource, node.root, version))
        except _fastpath.Fallback:
            result = None  # fhirpathpy decides
    if result is None:
        result = _fhirpath.evaluate_fhirpathpy(c.expression, node.value, node.fp_base,
                                               resource=node.resource, root=node.root,
                                               version=version)
    # Empty: the rule does not apply here (the HL7 validator reads it the same way).
    return not result or result == [True]


class _Resolver:
    """resolve() inside one validation: Bundle entries by fullUrl or Type/id; #id contained."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.index: dict[str, Any] = {}
        self.root: dict[str, Any] = data
        entries = data.get("entry") if data.get("resourceType") == "Bundle" else None
        for e in entries if isinstance(entries, list) else ():
            res = e.get("resource") if isinstance(e, dict) else None
            if not isinstance(res, dict):
                continue
            if isinstance(e.get("fullUrl"), str):
                self.index[e["fullUrl"]] = res
            if isinstance(res.get("id"), str):
                self.index[f"{res.get('resourceType')}/{res['id']}"] = res

    def __call__(self, ref: str) -> Any:
        if ref.startswith("#"):
            for c in self.root.get("contained") or ():
                if isinstance(c, dict) and c.get("id") == ref[1:]:
                    return c
            return None
        return self.index.get(ref.split("/_history/", 1)[0])


def check(walk: Walk, data: dict[str, Any], *, file: str, version: str,
          line: int | None = None, quiet_failures: bool = False) -> list[Problem]:
    out: list[Problem] = []
    failed_keys: set[str] = set()
    resolver = _Resolver(data)
    token = _fhirpath.RESOLVER.set(resolver)
    try:
        for node in walk.nodes:
            resolver.root = node.root
            env = None
            for c in node.constraints:
                if c.key in KNOWN_SKIPS:
                    continue
                if env is None and c.key not in NATIVE:  # ele-1 alone needs none
                    env = _fhirpath.fast_env(node.value, node.resource, node.root, version)
                try:
                    ok = passes(c, node, version, env=env)
                except Exception as e:
                    if not quiet_failures and c.key not in failed_keys:
                        failed_keys.add(c.key)
                        out.append(Problem(file, line, None, node.loc, f"{c.key} could not be "
                                           f"evaluated ({type(e).__name__}: {e}); expression: "
                                           f"{c.expression}", "warning", LAYER, c.key))
                    continue
                if not ok:
                    severity = _SEVERITY.get(c.severity, "error")
                    human = c.human
                    if c.key == "ele-1" and _only_id(node):
                        severity = "warning"
                        human += " (only an id: the HL7 engine accepts that)"
                    out.append(Problem(file, line, None, node.loc, f"{c.key}: {human}",
                                       severity, LAYER, c.key))
    finally:
        _fhirpath.RESOLVER.reset(token)
    return out
