"""FHIRPath constraints evaluated as Python closures over the JSON, answering as fhirpathpy does.

fhirpathpy walks its parse tree for every evaluation, wrapping each value in a node object:
about 0.15 ms for the simplest constraint and tens of milliseconds for one over a large Bundle,
most of a run's time. Here the parse tree fhirpathpy makes (`_fhirpath.compiled`) becomes one
closure per node, once per expression. The closures follow fhirpathpy 2.2's own behaviour, not
the specification where the two part (e.g. `=` compares the first items only, `|` drops the
types of elements; `resolve()` is ours, in _fhirpath, and types what it finds): the
invariant layer must report the same whichever evaluates. An expression using anything this
module does not know stays with fhirpathpy (`compile_tree` gives None), and at run time a
closure gives up (`Fallback`) wherever fhirpathpy's answer would depend on something it does
not model (a type it cannot place, a collection of more than one item where fhirpathpy takes
the first or raises, values of types it does not compare); fhirpathpy then decides.

tests/validate/test_validate_fastpath.py holds the results equal to fhirpathpy's on every
constraint at every element of the export and the test data, and on hand-made edge cases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

# (JSON value, fhirpathpy's type path); path None: a plain value, not one of fhirpathpy's
# ResourceNodes (a literal, a function's result, %resource, what resolve() found).
Item = tuple[Any, str | None]


class Env:
    """What an evaluation sees besides its input: the model, %context, %resource,
    %rootResource (and any other variables), resolve()."""

    __slots__ = ("context", "extra", "model", "resolve", "resource", "root", "steps")

    def __init__(self, model: Mapping[str, Any], resolve: Callable[[list[Any]], list[Any]],
                 context: Any, resource: Any, root: Any,
                 extra: Mapping[str, Any] | None = None) -> None:
        self.model = model
        self.steps = _STEPS.setdefault(id(model), {})
        self.resolve = resolve
        self.context = context
        self.resource = resource
        self.root = root
        self.extra = extra or {}

    def variable(self, name: str) -> Any:
        if name in self.extra:
            return self.extra[name]
        if name == "context":
            return self.context
        if name == "resource":
            return self.resource
        if name == "rootResource":
            return self.root
        if name == "ucum":
            return "http://unitsofmeasure.org"
        raise Fallback  # %extension outside an extension's context: fhirpathpy raises


Run = Callable[[list[Item], Env], list[Item]]
Fn = Callable[[Any, str, Env], list[Any]]


class Unsupported(Exception):
    """The expression uses something this module does not evaluate."""


class Fallback(Exception):
    """This data is not what the closure was written for: let fhirpathpy decide."""


# ---------------------------------------------------------------------------- values

def _boolean(items: list[Item]) -> bool | None:
    """fhirpathpy's Boolean operand: empty, or a singleton true/false; anything else raises
    there, so fhirpathpy reports it."""
    if not items:
        return None
    if len(items) == 1 and isinstance(items[0][0], bool):
        return bool(items[0][0])
    raise Fallback


def _wrap(value: bool | None) -> list[Item]:
    return [] if value is None else [(value, None)]


def _is_true(items: list[Item]) -> bool:
    """fhirpathpy's is_true on a macro's result (all(), iif()): one item equal to true."""
    if len(items) != 1:
        return False
    if not isinstance(items[0][0], bool):
        raise Fallback  # 1 == True in Python, and so in fhirpathpy
    return bool(items[0][0])


def _number(v: Any) -> bool:
    return isinstance(v, int | Decimal | float) and not isinstance(v, bool)


def _data(v: Any) -> Any:
    """fhirpathpy's get_data: JSON numbers with a fraction are Decimals."""
    return Decimal(str(v)) if isinstance(v, float) else v


def _string(items: list[Item]) -> str:
    """ensure_string_singleton: exactly one string, else fhirpathpy raises."""
    if len(items) == 1 and isinstance(items[0][0], str):
        return str(items[0][0])
    raise Fallback


def _uniq_key(v: Any) -> str:
    try:
        return json.dumps(v, sort_keys=True)
    except (TypeError, ValueError):
        raise Fallback from None


def _distinct(items: list[Item]) -> list[Item]:
    """fhirpathpy's distinct, by JSON text in first places. Elements come back as nodes rebuilt
    from their data alone: typed only when they are resources, else without a path ("")."""
    nodes = all(p is not None for _, p in items)
    if not nodes and any(p is not None or isinstance(d, Mapping | list) for d, p in items):
        raise Fallback  # a mix: fhirpathpy's keys would be object reprs
    seen: dict[str, Item] = {}
    for d, _ in items:
        if not nodes:
            seen[_uniq_key(d)] = (d, None)
        elif isinstance(d, Mapping) and "resourceType" in d:
            seen[_uniq_key(d)] = (d, str(d["resourceType"]))
        else:
            seen[_uniq_key(d)] = (d, "")
    return list(seen.values())


# ---------------------------------------------------------------------------- navigation

# Per model: (type path, name) -> the JSON keys to look up (value, `_name` twin) and the type
# path of what they hold; several for a choice type, of which the first present counts.
Steps = dict[tuple[str | None, str], tuple[tuple[str, str, str], ...]]
_STEPS: dict[int, Steps] = {}


def _steps(model: Mapping[str, Any], path: str, key: str) -> tuple[tuple[str, str, str], ...]:
    """fhirpathpy's member navigation, worked out once per type path and name."""
    child = f"{path}.{key}" if path else f"_.{key}"
    child = model["pathsDefinedElsewhere"].get(child, child)
    types = model["choiceTypePaths"].get(child)
    path2type = model["path2Type"]
    if types:
        return tuple((key + t, f"_{key}{t}", path2type.get(child + t, child + t))
                     for t in types)
    if key == "extension":
        child = "Extension"
    return ((key, "_" + key, path2type.get(child, child)),)


def _child(item: Item, key: str, env: Env, out: list[Item]) -> None:
    data, path = item
    # dict first: JSON objects are dicts (the parser's are a subclass), and an ABC check on
    # every value is costly
    if not isinstance(data, dict | Mapping):
        if key == "length":
            raise Fallback  # fhirpathpy's length of a string
        return
    if "resourceType" in data:
        path = data["resourceType"]
        if not isinstance(path, str):
            raise Fallback
    found = env.steps.get((path, key))
    if found is None:
        found = env.steps[(path, key)] = _steps(env.model, path or "", key)
    for name, twin, type_path in found:
        value, value_ = data.get(name), data.get(twin)
        if value is None and value_ is None:
            continue
        for v in (value, value_):
            if v is None:
                continue
            for x in v if v.__class__ is list else (v,):
                out.append((x, type_path) if isinstance(x, str | bool | int | float)
                           else _node(x, type_path))
        return


def _node(data: Any, path: str) -> Item:
    """fhirpathpy's ResourceNode: a resource is typed by its resourceType, wherever it is."""
    if isinstance(data, dict | Mapping) and "resourceType" in data:
        rt = data["resourceType"]
        if not isinstance(rt, str) or not rt:
            raise Fallback
        return (data, rt)
    if data is None or isinstance(data, list):
        raise Fallback  # a null or nested array in the JSON: fhirpathpy keeps it as a value
    return (data, path)


def _children(c: list[Item], env: Env, twins: bool) -> list[Item]:
    """fhirpathpy's children() (twins False: `_name` entries left out) and the step of its
    descendants() (twins True)."""
    model = env.model
    out: list[Item] = []
    for data, path in c:
        if not isinstance(data, Mapping):
            continue
        if "resourceType" in data:
            path = data["resourceType"]
        for prop, value in data.items():
            if prop.startswith("_") and not twins:
                continue
            if not path:
                raise Fallback  # fhirpathpy fails on an untyped object's children
            child = "Extension" if prop == "extension" else f"{path}.{prop}"
            child = model["pathsDefinedElsewhere"].get(child, child)
            child = model["path2Type"].get(child, child)
            for x in value if isinstance(value, list) else (value,):
                out.append(_node(x, child))
    return out


def _member(key: str) -> Callable[[list[Item], Env], list[Item]]:
    capital = key[0] == key[0].upper()

    def member(c: list[Item], env: Env) -> list[Item]:
        if capital:
            # fhirpathpy: a capitalised name filters plain resources by resourceType; on
            # anything else (its element nodes, text) it reads the name as an element.
            typed: list[Item] = []
            for d, p in c:
                if p is not None or not isinstance(d, Mapping):
                    break
                if "resourceType" not in d:
                    raise Fallback  # a KeyError in fhirpathpy
                if d["resourceType"] == key:
                    typed.append((d, key))
            else:
                return typed
        out: list[Item] = []
        for item in c:
            _child(item, key, env, out)
        return out
    return member


# ---------------------------------------------------------------------------- types

_PARENTS: dict[int, frozenset[str]] = {}


def _parent_types(model: Mapping[str, Any]) -> frozenset[str]:
    """Every name fhirpathpy's subtype walk can reach from another (type2Parent, path2Type)."""
    found = _PARENTS.get(id(model))
    if found is None:
        found = _PARENTS[id(model)] = frozenset(
            [*model["type2Parent"].values(), *model["path2Type"].values()])
    return found


def _is_type(item: Item, name: str, model: Mapping[str, Any]) -> bool:
    """fhirpathpy's TypeInfo.from_value(item).is_(name), where it does not depend on the model
    fhirpathpy last happened to store in its global TypeInfo.model."""
    data, path = item
    if path is None:  # a plain value: System.<Kind>, compared by name
        if isinstance(data, bool):
            kind = "Boolean"
        elif isinstance(data, int):
            kind = "Integer"
        elif isinstance(data, float | Decimal):
            kind = "Decimal"
        elif isinstance(data, str):
            kind = "String"
        elif isinstance(data, Mapping):
            kind = "Object"
        else:
            raise Fallback
        return kind == name
    if not path or "." in path or path.startswith("System"):
        raise Fallback  # no type (fhirpathpy fails), a model-dependent one, or System.*
    if path == name:
        return True
    if name in _parent_types(model):
        raise Fallback  # a subtype test: fhirpathpy's answer rides on its global model
    return False


def _type_name(node: Mapping[str, Any]) -> str:
    name = str(node.get("text") or "").replace("`", "")
    if not name or not name.replace("_", "a").isalnum():
        raise Unsupported(f"type {name}")  # System.String, FHIR.string: not taken here
    return name


# ---------------------------------------------------------------------------- compiling

def _text(node: Mapping[str, Any]) -> str:
    return str(node.get("text") or "")


def _kids(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    kids = node.get("children")
    return kids if isinstance(kids, list) else []


def _identifier(node: Mapping[str, Any]) -> str:
    if node.get("type") != "Identifier":
        raise Unsupported(node.get("type"))
    name = re.sub(r'(^"|"$)', "", _text(node)).replace("`", "")
    if not name or not name.replace("_", "a").isalnum():
        raise Unsupported(name)
    return name


def _string_literal(text: str) -> str:
    """The unescaping fhirpathpy 2.2 applies, in its order."""
    s = re.sub(r"^['\"]|['\"]$", "", text)
    for a, b in (("\\'", "'"), ("\\`", "`"), ('\\"', '"'), ("\\r", "\r"), ("\\n", "\n"),
                 ("\\t", "\t"), ("\\f", "\f"), ("\\\\", "\\")):
        s = s.replace(a, b)
    return re.sub(r"\\(u\d{4})", lambda m: chr(int(m.group(1)[1:], 16)), s)


def _literal(node: Mapping[str, Any]) -> list[Item]:
    term = _kids(node)[0]
    kind = term.get("type")
    if kind == "BooleanLiteral":
        return [(_text(term) == "true", None)]
    if kind == "StringLiteral":
        return [(_string_literal(_text(term)), None)]
    if kind == "NullLiteral":
        return []
    if kind == "NumberLiteral":
        number = Decimal(_text(term))
        return [(int(number) if number == int(number) else number, None)]
    raise Unsupported(kind)


class _Scope:
    """Compile-time context: whether $this is defined where the node is evaluated (inside an
    operator or a function's argument; fhirpathpy leaves it undefined at the top)."""

    def __init__(self, this: bool) -> None:
        self.this = this


_TOP, _INNER = _Scope(False), _Scope(True)


def _compile(node: Mapping[str, Any], scope: _Scope) -> Run:
    kind = node.get("type")
    kids = _kids(node)
    if kind in ("TermExpression", "InvocationTerm", "ParenthesizedTerm") and len(kids) == 1:
        if kind == "TermExpression" and kids[0].get("type") == "LiteralTerm":
            value = _literal(kids[0])
            return lambda c, env: value
        return _compile(kids[0], scope)
    if kind == "ExternalConstantTerm":
        name = _identifier(_kids(kids[0])[0])
        if name not in ("context", "resource", "rootResource", "ucum", "extension"):
            raise Unsupported(f"%{name}")

        def variable(c: list[Item], env: Env) -> list[Item]:
            v = env.variable(name)
            if v is None:
                return []
            return [(x, None) for x in v] if isinstance(v, list) else [(v, None)]
        return variable
    if kind == "ThisInvocation":
        if not scope.this:
            raise Unsupported("$this at the top")
        return lambda c, env: c
    if kind == "MemberInvocation":
        return _member(_identifier(kids[0]))
    if kind == "FunctionInvocation":
        return _function(kids[0])
    if kind == "InvocationExpression" and len(kids) == 2:
        step, function = _member_name(kids[0]), _function_name(kids[1])
        if step is not None and function in ("exists", "empty"):
            return _member_exists(step, function == "exists")
        left, right = _compile(kids[0], scope), _compile(kids[1], scope)
        return lambda c, env: right(left(c, env), env)
    if kind in _OPERATORS and len(kids) == 2:
        op = node["terminalNodeText"][0]
        if kind == "TypeExpression":
            if op != "is":
                raise Unsupported(op)
            left = _compile(kids[0], _INNER)
            return _is(left, _type_name(kids[1]))
        make = _OPERATORS[kind].get(op)
        if make is None:
            raise Unsupported(op)
        return make(_compile(kids[0], _INNER), _compile(kids[1], _INNER))
    raise Unsupported(kind)


def _member_name(node: Mapping[str, Any]) -> str | None:
    """The name of a bare member step from the focus (`code`), else None; capitalised names
    are left to `_member` (fhirpathpy may read them as a type)."""
    kids = _kids(node)
    if node.get("type") != "TermExpression" or len(kids) != 1 or \
            kids[0].get("type") != "InvocationTerm":
        return None
    term = _kids(kids[0])
    if len(term) != 1 or term[0].get("type") != "MemberInvocation":
        return None
    name = _identifier(_kids(term[0])[0])
    return name if name[0] != name[0].upper() else None


def _function_name(node: Mapping[str, Any]) -> str | None:
    """The name of a function called without arguments (`exists()`), else None."""
    kids = _kids(node)
    if node.get("type") != "FunctionInvocation" or len(kids) != 1:
        return None
    functn = _kids(kids[0])
    return _identifier(functn[0]) if len(functn) == 1 else None


def _member_exists(key: str, exists: bool) -> Run:
    """`key.exists()` / `key.empty()`, the most common step of the constraints, in one
    closure instead of three; every item is navigated, so a Fallback is raised as before."""
    def run(c: list[Item], env: Env) -> list[Item]:
        out: list[Item] = []
        for item in c:
            _child(item, key, env, out)
        return [(bool(out) is exists, None)]
    return run


# -- operators: fhirpathpy evaluates both operands before it applies any.

Binary = Callable[[Run, Run], Run]


def _logic(op: Callable[[bool | None, bool | None], bool | None]) -> Binary:
    def make(left: Run, right: Run) -> Run:
        def run(c: list[Item], env: Env) -> list[Item]:
            a, b = _boolean(left(c, env)), _boolean(right(c, env))
            return _wrap(op(a, b))
        return run
    return make


def _or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _implies(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is True:
        return True
    return None if a is None or b is None else False


def _xor(a: bool | None, b: bool | None) -> bool | None:
    return None if a is None or b is None else a != b


def _equality(negate: bool) -> Binary:
    def make(left: Run, right: Run) -> Run:
        def run(c: list[Item], env: Env) -> list[Item]:
            a, b = left(c, env), right(c, env)
            if not a or not b:
                return []
            if len(a) != len(b):
                return [(negate, None)]
            if len(a) > 1 or {a[0][1], b[0][1]} & {"Quantity", "System.Quantity"}:
                raise Fallback  # fhirpathpy compares first items only; Quantity objects
            return [((a[0][0] == b[0][0]) != negate, None)]
        return run
    return make


def _comparable_pair(a: list[Item], b: list[Item]) -> tuple[Any, Any]:
    if len(a) != 1 or len(b) != 1:
        raise Fallback
    x, y = _data(a[0][0]), _data(b[0][0])
    if (isinstance(x, str) and isinstance(y, str)) or (_number(x) and _number(y)):
        return x, y
    raise Fallback  # a type error, or dates fhirpathpy converts


def _order(test: Callable[[Any, Any], bool]) -> Binary:
    def make(left: Run, right: Run) -> Run:
        def run(c: list[Item], env: Env) -> list[Item]:
            a, b = left(c, env), right(c, env)
            if not a or not b:
                return []
            x, y = _comparable_pair(a, b)
            return [(bool(test(x, y)), None)]
        return run
    return make


def _plus(left: Run, right: Run) -> Run:
    def run(c: list[Item], env: Env) -> list[Item]:
        a, b = left(c, env), right(c, env)
        if not a or not b:
            return []
        if len(a) != 1 or len(b) != 1:
            raise Fallback
        x, y = a[0][0], b[0][0]
        if isinstance(x, int) and isinstance(y, int) and not isinstance(x, bool) \
                and not isinstance(y, bool):
            return [(x + y, None)]
        raise Fallback
    return run


def _concatenate(left: Run, right: Run) -> Run:
    def part(items: list[Item]) -> str:
        if not items:
            return ""
        return _string(items)

    def run(c: list[Item], env: Env) -> list[Item]:
        a, b = part(left(c, env)), part(right(c, env))
        return [(a + b, None)]
    return run


def _union(left: Run, right: Run) -> Run:
    return lambda c, env: _distinct(left(c, env) + right(c, env))


def _in(left: Run, right: Run) -> Run:
    def run(c: list[Item], env: Env) -> list[Item]:
        a, b = left(c, env), right(c, env)
        if not a:
            return []
        if not b:
            return [(False, None)]
        if len(a) > 1:
            raise Fallback
        return [(any(d == a[0][0] for d, _ in b), None)]
    return run


def _is(left: Run, name: str) -> Run:
    def run(c: list[Item], env: Env) -> list[Item]:
        a = left(c, env)
        if not a:
            return []
        if len(a) > 1:
            raise Fallback
        return [(_is_type(a[0], name, env.model), None)]
    return run


_OPERATORS: dict[str, dict[str, Binary]] = {
    "OrExpression": {"or": _logic(_or), "xor": _logic(_xor)},
    "AndExpression": {"and": _logic(_and)},
    "ImpliesExpression": {"implies": _logic(_implies)},
    "XorExpression": {"xor": _logic(_xor)},
    "EqualityExpression": {"=": _equality(False), "!=": _equality(True)},
    "InequalityExpression": {"<": _order(lambda x, y: x < y), ">": _order(lambda x, y: x > y),
                             "<=": _order(lambda x, y: x <= y),
                             ">=": _order(lambda x, y: x >= y)},
    "AdditiveExpression": {"+": _plus, "&": _concatenate},
    "UnionExpression": {"|": _union},
    "MembershipExpression": {"in": _in},
    "TypeExpression": {},
}


# -- functions

def _focus_free(node: Mapping[str, Any]) -> bool:
    """Does the argument not depend on the focus? Literals, %variables and what follows from
    them: fhirpathpy evaluates other arguments on a $this its macros may have left behind."""
    kind = node.get("type")
    kids = _kids(node)
    if kind in ("LiteralTerm", "ExternalConstantTerm"):
        return True
    if kind in ("TermExpression", "ParenthesizedTerm") and len(kids) == 1:
        return _focus_free(kids[0])
    if kind == "InvocationExpression" and len(kids) == 2:
        return _focus_free(kids[0])
    if kind in _OPERATORS and len(kids) == 2:
        return _focus_free(kids[0]) and (kind == "TypeExpression" or _focus_free(kids[1]))
    return False


def _focus_free_run(node: Mapping[str, Any]) -> Run:
    if not _focus_free(node):
        raise Unsupported("argument")
    return _compile(node, _INNER)


def _constant_string(node: Mapping[str, Any]) -> Callable[[Env], str | None]:
    """A String argument: None when empty; fhirpathpy raises on anything but one string."""
    run = _focus_free_run(node)

    def value(env: Env) -> str | None:
        items = run([], env)
        if not items:
            return None
        return _string(items)
    return value


def _function(functn: Mapping[str, Any]) -> Run:
    kids = _kids(functn)
    name = _identifier(kids[0])
    params = _kids(kids[1]) if len(kids) > 1 else []
    make = _FUNCTIONS.get((name, len(params)))
    if make is None:
        raise Unsupported(f"{name}/{len(params)}")
    return make(params)


def _no_params(fn: Callable[[list[Item], Env], list[Item]]
               ) -> Callable[[list[Mapping[str, Any]]], Run]:
    return lambda params: fn


def _not(c: list[Item], env: Env) -> list[Item]:
    if len(c) != 1:
        return []
    b = _boolean(c)
    return [] if b is None else [(not b, None)]


def _first(c: list[Item], env: Env) -> list[Item]:
    return c[:1]


def _tail(c: list[Item], env: Env) -> list[Item]:
    return c[1:]


def _count(c: list[Item], env: Env) -> list[Item]:
    return [(len(c), None)]


def _is_distinct(c: list[Item], env: Env) -> list[Item]:
    return [(len(c) == len(_distinct(c)), None)]


def _resolve(c: list[Item], env: Env) -> list[Item]:
    # Typed by resourceType, as _fhirpath's resolve() gives fhirpathpy its nodes.
    return [(r, r.get("resourceType") if isinstance(r, Mapping) else None)
            for r in env.resolve([_data(d) for d, _ in c])]


def _has_value(c: list[Item], env: Env) -> list[Item]:
    if len(c) != 1:
        return [(False, None)]
    d = c[0][0]
    return [(d is not None and not isinstance(d, Mapping | list), None)]


def _all_false(c: list[Item], env: Env) -> list[Item]:
    if not all(isinstance(d, bool) for d, _ in c):
        raise Fallback
    return [(not any(d for d, _ in c), None)]


def _to_integer(c: list[Item], env: Env) -> list[Item]:
    if len(c) != 1:
        return []
    v = _data(c[0][0])
    if isinstance(v, bool):
        return [(int(v), None)]
    if _number(v):
        return [(v, None)] if int(v) == v else []
    if isinstance(v, str) and re.match(r"^[+-]?\d+$", v):
        return [(int(v), None)]
    return []


def _macro(body: Callable[[Run, list[Item], Env], list[Item]]
           ) -> Callable[[list[Mapping[str, Any]]], Run]:
    """A function whose argument is evaluated once per input item, that item as $this."""
    def make(params: list[Mapping[str, Any]]) -> Run:
        expr = _compile(params[0], _INNER)
        return lambda c, env: body(expr, c, env)
    return make


def _criterion(expr: Run, item: Item, env: Env) -> bool:
    result = expr([item], env)
    if not result:
        return False
    if result[0][1] is None and isinstance(result[0][0], bool):
        return bool(result[0][0])
    raise Fallback  # fhirpathpy takes the truth of a Python object here


def _where(expr: Run, c: list[Item], env: Env) -> list[Item]:
    return [item for item in c if _criterion(expr, item, env)]


def _exists_where(expr: Run, c: list[Item], env: Env) -> list[Item]:
    return [(bool(_where(expr, c, env)), None)]


def _select(expr: Run, c: list[Item], env: Env) -> list[Item]:
    return [x for item in c for x in expr([item], env)]


def _all(expr: Run, c: list[Item], env: Env) -> list[Item]:
    for item in c:  # fhirpathpy stops at the first that fails
        if not _is_true(expr([item], env)):
            return [(False, None)]
    return [(True, None)]


def _iif(params: list[Mapping[str, Any]]) -> Run:
    cond, ok = _compile(params[0], _INNER), _compile(params[1], _INNER)
    fail = _compile(params[2], _INNER) if len(params) > 2 else None

    def run(c: list[Item], env: Env) -> list[Item]:
        if _is_true(cond(c, env)):
            return ok(c, env)
        return fail(c, env) if fail is not None else []
    return run


def _of_type(params: list[Mapping[str, Any]]) -> Run:
    name = _type_name(params[0])
    return lambda c, env: [item for item in c if _is_type(item, name, env.model)]


def _is_function(params: list[Mapping[str, Any]]) -> Run:
    # is(T) on the focus is the `is` operator with the focus as its left side.
    return _is(lambda c, env: c, _type_name(params[0]))


def _trace(params: list[Mapping[str, Any]]) -> Run:
    # The label; printing is switched off. fhirpathpy drops a second argument (the
    # projection to print) unevaluated, so whatever it is does not matter.
    if params:
        _constant_string(params[0])
    return lambda c, env: c


def _length(c: list[Item], env: Env) -> list[Item]:
    return [(len(_string(c)), None)] if c else []


def _matches(params: list[Mapping[str, Any]]) -> Run:
    regex = _constant_string(params[0])

    def run(c: list[Item], env: Env) -> list[Item]:
        pattern = regex(env)
        if not pattern or not c:
            return []
        return [(_search(pattern, _string(c)), None)]
    return run


_REGEXES: dict[str, re.Pattern[str]] = {}


def _search(pattern: str, text: str) -> bool:
    rx = _REGEXES.get(pattern)
    if rx is None:
        try:
            rx = _REGEXES[pattern] = re.compile(pattern, re.DOTALL)
        except re.error:
            raise Fallback from None
    return rx.search(text) is not None


def _starts_with(params: list[Mapping[str, Any]]) -> Run:
    prefix = _constant_string(params[0])

    def run(c: list[Item], env: Env) -> list[Item]:
        if not c:
            return []
        p = prefix(env)
        if p is None:
            return []
        s = _string(c)
        return [(bool(s) and s.startswith(p), None)]
    return run


def _contains(params: list[Mapping[str, Any]]) -> Run:
    sub = _constant_string(params[0])

    def run(c: list[Item], env: Env) -> list[Item]:
        if not c:
            return []
        s, p = _string(c), sub(env)
        if p is None:
            raise Fallback  # `[] in string` raises in fhirpathpy
        return [(p in s, None)]
    return run


def _replace_matches(params: list[Mapping[str, Any]]) -> Run:
    regex, replacement = _constant_string(params[0]), _constant_string(params[1])

    def run(c: list[Item], env: Env) -> list[Item]:
        if not c:
            return []
        text, rx, repl = _string(c), regex(env), replacement(env)
        if rx is None or repl is None:
            return []
        try:
            # fhirpathpy turns $1 into \1, and compiles without DOTALL here
            return [(re.sub(re.compile(rx), re.sub(r"\$(\d+)", r"\\\1", repl), text), None)]
        except (re.error, IndexError):
            raise Fallback from None
    return run


def _combine(params: list[Mapping[str, Any]]) -> Run:
    other = _focus_free_run(params[0])
    return lambda c, env: c + other(c, env)


def _descendants(c: list[Item], env: Env) -> list[Item]:
    out: list[Item] = []
    step = _children(c, env, True)
    while step:
        out += step
        step = _children(step, env, True)
    return out


_FUNCTIONS: dict[tuple[str, int], Callable[[list[Mapping[str, Any]]], Run]] = {
    ("children", 0): _no_params(lambda c, env: _children(c, env, False)),
    ("descendants", 0): _no_params(_descendants),
    ("combine", 1): _combine,
    ("replaceMatches", 2): _replace_matches,
    ("exists", 0): _no_params(lambda c, env: [(bool(c), None)]),
    ("exists", 1): _macro(_exists_where),
    ("empty", 0): _no_params(lambda c, env: [(not c, None)]),
    ("not", 0): _no_params(_not),
    ("count", 0): _no_params(_count),
    ("first", 0): _no_params(_first),
    ("tail", 0): _no_params(_tail),
    ("isDistinct", 0): _no_params(_is_distinct),
    ("allFalse", 0): _no_params(_all_false),
    ("toInteger", 0): _no_params(_to_integer),
    ("hasValue", 0): _no_params(_has_value),
    ("resolve", 0): _no_params(_resolve),
    ("where", 1): _macro(_where),
    ("select", 1): _macro(_select),
    ("all", 1): _macro(_all),
    ("iif", 2): _iif,
    ("iif", 3): _iif,
    ("ofType", 1): _of_type,
    ("is", 1): _is_function,
    ("trace", 0): _trace,
    ("trace", 1): _trace,
    ("trace", 2): _trace,
    ("length", 0): _no_params(_length),
    ("matches", 1): _matches,
    ("startsWith", 1): _starts_with,
    ("contains", 1): _contains,
}


def compile_tree(tree: Mapping[str, Any]) -> Fn | None:
    """A closure for the parse tree of an expression, or None when it is not one this module
    evaluates. The closure takes the context (JSON), its model type path and an `Env`, and
    returns what `_fhirpath.evaluate_fhirpathpy` would, or raises `Fallback`."""
    kids = tree.get("children")
    if not isinstance(kids, list) or len(kids) != 1:
        return None
    try:
        run = _compile(kids[0], _TOP)
    except (Unsupported, KeyError, IndexError, TypeError, ValueError, ArithmeticError):
        return None

    def evaluate(node: Any, base: str, env: Env) -> list[Any]:
        # fhirpathpy starts from the plain JSON of a resource, from a typed node otherwise.
        start: Item = (node, None) if isinstance(node, Mapping) and "resourceType" in node \
            else (node, base)
        return [_data(d) for d, _ in run([start], env)]
    return evaluate
