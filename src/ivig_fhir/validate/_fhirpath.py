# mypy: allow-untyped-calls
# (fhirpathpy ships py.typed but leaves its engine functions unannotated.)
"""FHIRPath for the invariant layer: `_fastpath` closures where they take the expression, else
fhirpathpy, plus the FHIR-specific functions fhirpathpy 2.2 lacks (hasValue, lowBoundary,
highBoundary, comparable, htmlChecks, resolve).

resolve() is answered from the Bundle being validated (see RESOLVER). Constraints that still
cannot be evaluated are listed in `_invariant.KNOWN_SKIPS` with the reason.

fhirpathpy's engine and parser (with antlr4 and dateutil, about 0.1 s to import) are imported
on the first expression the fast path leaves to them, and parse trees come from the user cache:
a run whose expressions are all fast-pathed never loads them. The model (choice types, type
paths) is read from fhirpathpy's JSON files directly, one FHIR version at a time.
"""

from __future__ import annotations

import atexit
import contextvars
import functools
import importlib.util
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from . import _fastpath
from ._narrative import div_problems

# The model fhirpathpy uses for type information (choice types, `is`, `ofType`).
_MODELS = {"r5": "r5", "r4b": "r4", "r4": "r4"}


def model(version: str) -> dict[str, Any]:
    """fhirpathpy's model for a FHIR version ('r5', 'r4b', 'r4'): what
    `fhirpathpy.models.models[...]` holds, without importing fhirpathpy (whose package loads
    its engine, parser and every version's model)."""
    return _model(_MODELS[version])


@functools.cache
def _model(name: str) -> dict[str, Any]:
    spec = importlib.util.find_spec("fhirpathpy")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("fhirpathpy")
    folder = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    return {f.name[:-5]: json.loads(f.read_text()) for f in sorted(folder.glob("*.json"))}


def get_data(value: Any) -> Any:
    from fhirpathpy.engine.util import get_data as fhirpathpy_get_data

    return fhirpathpy_get_data(value)


def _quantity_type() -> Any:
    from fhirpathpy.engine.nodes import FP_Quantity

    return FP_Quantity


@functools.cache
def _bound_type() -> type:
    quantity: Any = _quantity_type()

    class Bound(quantity):  # type: ignore[misc]
        """A Quantity boundary that orders: fhirpathpy 2.2 leaves FP_Quantity.compare
        unimplemented, so `<`/`<=` on quantities raise. Same unit only; otherwise 'equal'
        (the FHIR constraints that order quantities check comparable() first)."""

        def compare(self, other: Any) -> int:
            if not isinstance(other, quantity) or other.unit != self.unit:
                return 0
            a, b = Decimal(str(self.value)), Decimal(str(other.value))
            return (a > b) - (a < b)

    return Bound


def _is_primitive_value(v: Any) -> bool:
    return v is not None and not isinstance(v, (dict, list))


def _has_value(inputs: list[Any]) -> list[bool]:
    if len(inputs) != 1:
        return [False]
    return [_is_primitive_value(get_data(inputs[0]))]


def precision(d: Decimal) -> int:
    """Digits after the decimal point, as written."""
    exp = d.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def _boundary(v: Any, low: bool) -> Any:
    """The FHIRPath lowBoundary()/highBoundary() of a decimal or Quantity, by its precision."""
    data = get_data(v)
    unit: str | None = None
    if isinstance(data, _quantity_type()):
        value, unit = Decimal(str(data.value)), data.unit
    elif isinstance(data, Mapping):
        if "value" not in data:
            return None
        value = Decimal(str(data["value"]))
        unit = data.get("code") or data.get("unit")
        unit = f"'{unit}'" if unit else "'1'"
    elif isinstance(data, (int, float, Decimal)) and not isinstance(data, bool):
        value = Decimal(str(data))
    else:
        return None
    half = Decimal(5) * Decimal(10) ** -(precision(value) + 1)
    bound = value - half if low else value + half
    return _bound_type()(bound, unit) if unit is not None else bound


def _low(inputs: list[Any]) -> list[Any]:
    return [b for b in (_boundary(i, True) for i in inputs) if b is not None]


def _high(inputs: list[Any]) -> list[Any]:
    return [b for b in (_boundary(i, False) for i in inputs) if b is not None]


def _unit(v: Any) -> str | None:
    d = get_data(v)
    if isinstance(d, _quantity_type()):
        return str(d.unit)
    if isinstance(d, Mapping):
        u = d.get("code") or d.get("unit")
        return f"'{u}'" if u else "'1'"
    return None


def _comparable(inputs: list[Any], other: list[Any]) -> list[bool]:
    if len(inputs) != 1 or len(other) != 1:
        return []
    a, b = get_data(inputs[0]), get_data(other[0])
    ua, ub = _unit(a), _unit(b)
    if ua is None and ub is None:
        return [isinstance(a, (int, float, Decimal)) and isinstance(b, (int, float, Decimal))]
    return [ua == ub]


def _html_checks(inputs: list[Any]) -> list[bool]:
    return [all(not div_problems(get_data(i)) for i in inputs if isinstance(get_data(i), str))]


_FUNCTIONS: dict[str, dict[str, Any]] = {
    "hasValue": {"fn": _has_value},
    "lowBoundary": {"fn": _low, "arity": {0: [], 1: ["Integer"]}},
    "highBoundary": {"fn": _high, "arity": {0: [], 1: ["Integer"]}},
    "comparable": {"fn": _comparable, "arity": {1: ["Any"]}},
    "htmlChecks": {"fn": _html_checks},
}


def _no_trace(*args: Any, **kwargs: Any) -> None:
    """Some R5 constraints (dom-3, ref-1) call trace(); fhirpathpy would print to stdout."""


class _Parsed:
    """Parsed expressions: fhirpathpy's ANTLR parser takes 5-20 ms an expression, and a run
    meets about a hundred, the same every run. The trees (plain dicts and lists) are kept in
    the user cache (`ivig_fhir._cache`), keyed by the parser's version, and stored again when
    a run parsed new ones."""

    def __init__(self) -> None:
        self.trees: dict[str, Any] | None = None
        self.new = 0

    def key(self) -> str:
        from ivig_fhir import _cache

        return _cache.key(*_cache.versions("fhirpathpy", "antlr4-python3-runtime"))

    def get(self, expression: str) -> Any:
        if self.trees is None:
            from ivig_fhir import _cache

            stored = _cache.read("fhirpath", self.key())
            self.trees = stored if isinstance(stored, dict) else {}
            atexit.register(self.save)
        tree = self.trees.get(expression)
        if not isinstance(tree, dict) or not isinstance(tree.get("children"), list):
            from fhirpathpy.parser import parse

            tree = self.trees[expression] = parse(expression)
            self.new += 1
        return tree

    def save(self) -> None:
        if self.new and self.trees is not None:
            from ivig_fhir import _cache

            _cache.write("fhirpath", self.key(), self.trees)
            self.new = 0


_PARSED = _Parsed()


def save_parsed() -> None:
    """Store newly parsed expressions in the user cache (done at exit too)."""
    _PARSED.save()


@functools.cache
def compiled(expression: str) -> Any:
    """The parsed expression, from the user cache when an earlier run parsed it."""
    return _PARSED.get(expression)


# Resolves a reference string to a resource (dict) of the Bundle being validated; set by the
# invariant layer for the duration of one validation.
RESOLVER: contextvars.ContextVar[Callable[[str], Any] | None] = contextvars.ContextVar(
    "fhirpath_resolver", default=None
)


def _resolve(inputs: list[Any]) -> list[Any]:
    """FHIR's resolve(): references inside the Bundle or to contained resources only."""
    resolver = RESOLVER.get()
    out = []
    for i in inputs:
        ref = i.get("reference") if isinstance(i, Mapping) else i
        if isinstance(ref, str) and resolver is not None:
            found = resolver(ref)
            if isinstance(found, Mapping):
                out.append(found)
    return out


def _resolve_typed(inputs: list[Any]) -> list[Any]:
    """resolve() for fhirpathpy: each resource typed by its resourceType, so `is Practitioner`
    and ofType() see its type, as the specification (and the HL7 engine) read them."""
    from fhirpathpy.engine.nodes import ResourceNode

    return [ResourceNode.create_node(r, r.get("resourceType")) for r in _resolve(inputs)]


_FUNCTIONS["resolve"] = {"fn": _resolve_typed}


@functools.cache
def _table() -> Any:
    from fhirpathpy.engine.util import process_user_invocation_table

    return process_user_invocation_table(_FUNCTIONS)


def evaluate(
    expression: str,
    node: Any,
    base: str,
    *,
    resource: Any,
    root: Any,
    version: str,
    extra_vars: Mapping[str, Any] | None = None,
) -> list[Any]:
    """Evaluate `expression` with `node` (JSON) as context, typed as the model path `base`.

    Same as fhirpathpy.evaluate, minus the per-call work that does not change between calls
    (parsing, building the function table, converting the result back to JSON)."""
    try:
        found = evaluate_fast(expression, node, base, resource=resource, root=root,
                              version=version, extra_vars=extra_vars)
    except _fastpath.Fallback:
        found = None
    if found is not None:
        return found
    return evaluate_fhirpathpy(expression, node, base, resource=resource, root=root,
                               version=version, extra_vars=extra_vars)


def evaluate_fast(
    expression: str,
    node: Any,
    base: str,
    *,
    resource: Any,
    root: Any,
    version: str,
    extra_vars: Mapping[str, Any] | None = None,
) -> list[Any] | None:
    """`evaluate` by `_fastpath` alone: None when it does not take the expression; raises
    `_fastpath.Fallback` where it leaves this data to fhirpathpy."""
    run = fast(expression)
    if run is None:
        return None
    return run(node, base, fast_env(node, resource, root, version, extra_vars))


def fast_env(node: Any, resource: Any, root: Any, version: str,
             extra_vars: Mapping[str, Any] | None = None) -> _fastpath.Env:
    """What a fast-path closure needs besides its input: one per element evaluated."""
    return _fastpath.Env(model(version), _resolve, node, resource, root, extra_vars)


@functools.cache
def fast(expression: str) -> _fastpath.Fn | None:
    """The fast path's closure for an expression, or None where fhirpathpy evaluates it."""
    return _fastpath.compile_tree(compiled(expression))


def evaluate_fhirpathpy(
    expression: str,
    node: Any,
    base: str,
    *,
    resource: Any,
    root: Any,
    version: str,
    extra_vars: Mapping[str, Any] | None = None,
) -> list[Any]:
    """`evaluate`, always by fhirpathpy (the tests hold `_fastpath` to it)."""
    # A resource goes in as plain JSON: fhirpathpy matches a leading type name
    # ("ClinicalUseDefinition.indication", as in cud-1) only against a raw resource's
    # resourceType; wrapped in a ResourceNode the path silently yields nothing.
    from fhirpathpy.engine import do_eval
    from fhirpathpy.engine.nodes import ResourceNode

    start = node if isinstance(node, Mapping) and "resourceType" in node else \
        ResourceNode.create_node(node, base)
    ctx = {
        "dataRoot": [start],
        "vars": {"context": node, "resource": resource, "rootResource": root,
                 "ucum": "http://unitsofmeasure.org", **(extra_vars or {})},
        "model": model(version),
        "userInvocationTable": _table(),
        "traceFn": _no_trace,
    }
    parsed = compiled(expression)
    result = do_eval(ctx, [start], parsed["children"][0])
    return [get_data(r) for r in (result if isinstance(result, list) else [result])]
