"""The simplest FHIRPath constraints, evaluated as Python closures over the JSON.

Most constraints the invariant layer meets are a few paths tested with exists()/empty(), joined
by and/or/implies (`code.exists() or display.exists()`, `resource.exists() or
request.exists()`): fhirpathpy takes about 0.15 ms for each, most of a run's time. Here the
parse tree fhirpathpy makes (`_fhirpath.compiled`) becomes a closure when every node of it is
one of the few this module knows; any other expression is left to fhirpathpy. At run time a
closure gives up (`Fallback`) wherever the data is not what it was written for (a collection of
more than one item where a single boolean is meant, a value that is not text), and fhirpathpy
decides that case. Member navigation follows fhirpathpy's own: choice types from its model
(`value` finds `valueString`), `_name` twins of primitives, `extension` typed Extension.

tests/validate/test_validate_fastpath.py holds the results equal to fhirpathpy's on every
constraint at every element of the export and the test data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Item = tuple[Any, str]  # (JSON value, fhirpathpy's type path)
Fn = Callable[[list[Item], Mapping[str, Any]], list[Any]]


class Unsupported(Exception):
    """The expression uses something this module does not evaluate."""


class Fallback(Exception):
    """This data is not what the closure was written for: let fhirpathpy decide."""


_TEMPORAL = frozenset({"date", "dateTime", "time", "instant"})
_STRING = re.compile(r"'([^'\\]*)'")


def _child(item: Item, key: str, model: Mapping[str, Any], out: list[Item]) -> None:
    data, path = item
    if not isinstance(data, Mapping):
        if key == "length":
            raise Fallback  # fhirpathpy's length of a string
        return
    if isinstance(data, Mapping) and "resourceType" in data:
        path = data["resourceType"]
    child = f"{path}.{key}" if path else f"_.{key}"
    child = model["pathsDefinedElsewhere"].get(child, child)
    types = model["choiceTypePaths"].get(child)
    value = value_ = None
    if types:
        for t in types:
            value, value_ = data.get(key + t), data.get(f"_{key}{t}")
            if value is not None or value_ is not None:
                child += t
                break
    else:
        value, value_ = data.get(key), data.get("_" + key)
        if key == "extension":
            child = "Extension"
    child = model["path2Type"].get(child, child)
    for v in (value, value_):
        if v is None:
            continue
        if isinstance(v, list):
            out.extend((x, child) for x in v)
        else:
            out.append((v, child))


def _boolean(collection: list[Any]) -> bool | None:
    """A singleton boolean, or None for empty; anything else is fhirpathpy's to convert."""
    if not collection:
        return None
    if len(collection) == 1 and isinstance(collection[0], bool):
        return bool(collection[0])
    raise Fallback


def _wrap(value: bool | None) -> list[Any]:
    return [] if value is None else [value]


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


_LOGIC = {"or": _or, "and": _and, "implies": _implies, "xor": _xor}


def _text(node: Mapping[str, Any]) -> str:
    return str(node.get("text") or "")


def _identifier(node: Mapping[str, Any]) -> str:
    if node.get("type") != "Identifier":
        raise Unsupported(node.get("type"))
    name = _text(node).replace("`", "")
    if not name or name[0].isupper() or not name.replace("_", "a").isalnum():
        raise Unsupported(name)  # a type name filters by resourceType; not handled here
    return name


def _function(node: Mapping[str, Any]) -> Callable[[list[Item]], list[Any]]:
    functn = node["children"][0]
    name = _identifier(functn["children"][0])
    params = functn["children"][1:]
    if name in ("exists", "empty", "not") and not params:
        if name == "exists":
            return lambda c: [bool(c)]
        if name == "empty":
            return lambda c: [not c]
        return lambda c: _wrap(None if (b := _boolean([d for d, _ in c])) is None else not b)
    if name == "contains" and len(params) == 1:
        args = params[0].get("children", [])
        literal = _literal(args[0]) if len(args) == 1 else None
        if not isinstance(literal, str):
            raise Unsupported("contains")

        def contains(c: list[Item]) -> list[Any]:
            if not c:
                return []
            if len(c) != 1 or not isinstance(c[0][0], str) or c[0][1] in _TEMPORAL:
                raise Fallback
            return [literal in c[0][0]]
        return contains
    raise Unsupported(name)


def _literal(node: Mapping[str, Any]) -> Any:
    while node.get("type") in ("TermExpression", "LiteralTerm") and len(
            node.get("children", ())) == 1:
        node = node["children"][0]
    if node.get("type") == "BooleanLiteral":
        return {"true": True, "false": False}[_text(node)]
    if node.get("type") == "StringLiteral":
        m = _STRING.fullmatch(_text(node))
        if m is None:
            raise Unsupported("string literal with escapes")
        return m.group(1)
    raise Unsupported(node.get("type"))


Items = Callable[[list[Item], Mapping[str, Any]], list[Item]]


def _is_path(node: Mapping[str, Any]) -> bool:
    kids = node.get("children", [])
    if node.get("type") == "TermExpression" and len(kids) == 1:
        term = kids[0]
        if term.get("type") == "ParenthesizedTerm":
            return _is_path(term["children"][0])
        return bool(term.get("type") == "InvocationTerm" and
                    term["children"][0].get("type") == "MemberInvocation")
    return bool(node.get("type") == "InvocationExpression" and
                kids[1].get("type") == "MemberInvocation")


def _items(node: Mapping[str, Any]) -> Items:
    """The items a sub-expression yields, for a function or a path to go on from."""
    if not _is_path(node):
        values = _compile(node)
        return lambda c, m: [(v, "") for v in values(c, m)]
    kind = node.get("type")
    kids = node.get("children", [])
    if kind == "TermExpression":
        term = kids[0]
        if term.get("type") == "ParenthesizedTerm":
            return _items(term["children"][0])
        return _member(term["children"][0], lambda c, m: c)
    return _member(kids[1], _items(kids[0]))


def _member(node: Mapping[str, Any], inner: Items) -> Items:
    if node.get("type") != "MemberInvocation":
        raise Unsupported(node.get("type"))
    key = _identifier(node["children"][0])

    def member(c: list[Item], m: Mapping[str, Any]) -> list[Item]:
        out: list[Item] = []
        for item in inner(c, m):
            _child(item, key, m, out)
        return out
    return member


def _compile(node: Mapping[str, Any]) -> Fn:
    """A closure giving the values of a sub-expression."""
    kind = node.get("type")
    kids = node.get("children", [])
    if _is_path(node):
        items = _items(node)
        return lambda c, m: [d for d, _ in items(c, m)]
    if kind in ("OrExpression", "AndExpression", "ImpliesExpression", "XorExpression"):
        op = _LOGIC[node["terminalNodeText"][0]]
        left, right = _compile(kids[0]), _compile(kids[1])
        return lambda c, m: _wrap(op(_boolean(left(c, m)), _boolean(right(c, m))))
    if kind == "EqualityExpression" and node["terminalNodeText"][0] in ("=", "!="):
        negate = node["terminalNodeText"][0] == "!="
        left, right = _compile(kids[0]), _compile(kids[1])

        def equal(c: list[Item], m: Mapping[str, Any]) -> list[Any]:
            a, b = _boolean(left(c, m)), _boolean(right(c, m))
            return [] if a is None or b is None else [(a == b) != negate]
        return equal
    if kind == "TermExpression" and len(kids) == 1:
        term = kids[0]
        if term.get("type") == "LiteralTerm":
            value = _literal(term)
            if not isinstance(value, bool):
                raise Unsupported("literal")
            return lambda c, m: [value]
        if term.get("type") == "ParenthesizedTerm":
            return _compile(term["children"][0])
        if term.get("type") == "InvocationTerm" and \
                term["children"][0].get("type") == "FunctionInvocation":
            fn = _function(term["children"][0])
            return lambda c, m: fn(c)
        raise Unsupported(term.get("type"))
    if kind == "InvocationExpression" and kids[1].get("type") == "FunctionInvocation":
        inner = _items(kids[0])
        fn = _function(kids[1])
        return lambda c, m: fn(inner(c, m))
    raise Unsupported(kind)


def compile_tree(tree: Mapping[str, Any]) -> Fn | None:
    """A closure for the parse tree of an expression, or None when it is not one this module
    evaluates."""
    kids = tree.get("children")
    if not isinstance(kids, list) or len(kids) != 1:
        return None
    try:
        return _compile(kids[0])
    except (Unsupported, KeyError, IndexError, TypeError):
        return None
