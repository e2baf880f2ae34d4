"""SearchParameter.expression read against SearchParameter.base, on the walk's SearchParameter
nodes (top level, Bundle entries, contained). Layer `structure`.

The HL7 engine type-checks a search expression's FHIRPath with the base types as its context
(its SearchParameterValidator hands `base` to the FHIRPath engine's type checker) and rejects the
SearchParameter when the checker fails: "Error in search expression ...: The name 'X' is not
valid for any of the possible types". What that checker does with a name at the start of an
expression (and at the start of each operand of a union or other operator, and inside a
parenthesised group, where the context is the same) is stated here exactly:

- a name beginning with a capital letter that is one of the base types filters to that type;
  a type a base specialises does not, whatever the checker's look at the base's ancestors
  suggests (measured: the referee rejects `Resource.id` and `DomainResource.text` on a Patient
  base, in R5 and R4B alike, and accepts `Resource.id` on a Resource base);
- any other name must be an element of some base type (`name` on a Patient base).

Then, along a plain chain of names after it (`Patient.contact.name.family`), each name must be
an element of the type reached so far. Only what the definitions answer for certain is judged:
the chain is left at the first function call, indexer or operator, at an abstract type (whose
specialisations the engine searches too), at a choice element, a primitive or a resource slot;
a base the definitions do not know, or one replaced by the searchparameter-base-type extension,
leaves the whole expression alone. A choice element is read by its name without [x]
(`Observation.value`, then `.ofType(Quantity)` or `as Quantity`): the engine's checker does not
take the type-specific names of JSON (`valueQuantity`), and neither is it taken here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ivig_fhir.definitions import Definitions, ElementDef, StructureDef
from ivig_fhir.problems import Problem

from ._conformance import _renamed, _upper
from ._walk import Walk

LAYER = "structure"

# FHIRPath's lexical tokens (http://hl7.org/fhirpath/N1/grammar.html), comments and whitespace
# included so they can be dropped; anything else is a one-character token.
_TOKEN = re.compile(
    r"""\s+|//[^\n]*|/\*.*?\*/|'(?:\\.|[^'\\])*'|`(?:\\.|[^`\\])*`"""
    r"""|@[0-9T:.+\-Z]*|[0-9]+(?:\.[0-9]+)?(?:\s*'(?:\\.|[^'\\])*')?"""
    r"""|%(?:`(?:\\.|[^`\\])*`|'(?:\\.|[^'\\])*'|[A-Za-z_][A-Za-z0-9_]*)"""
    r"""|\$[A-Za-z]+|[A-Za-z_][A-Za-z0-9_]*|<=|>=|!=|!~|.""", re.S)
_WORD_OPERATORS = frozenset({"and", "or", "xor", "implies", "in", "contains", "div", "mod",
                             "is", "as"})
_SYMBOL_OPERATORS = frozenset({"|", "=", "!=", "~", "!~", "<", ">", "<=", ">=", "+", "-", "*",
                               "/", "&"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|`(?:\\.|[^`\\])*`")


class _Unparsed(Exception):
    """The expression is outside the grammar read here: nothing is judged."""


@dataclass
class _Chain:
    """An operand the type checker meets with the base types as its context: its leading name
    and the plain names after it, up to the first step that is anything else."""

    head: str
    names: list[str] = field(default_factory=list)


class _Reader:
    """A small recursive-descent reader of FHIRPath that collects the `_Chain`s read at the
    entry context (the base types): operands of the top-level expression and of parenthesised
    groups in it. Function arguments have another context and are only skipped."""

    def __init__(self, expression: str) -> None:
        self.tokens = [t for t in _TOKEN.findall(expression)
                       if not t.isspace() and not t.startswith(("//", "/*"))]
        self.at = 0
        self.chains: list[_Chain] = []

    def peek(self) -> str:
        return self.tokens[self.at] if self.at < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if not tok or (expected is not None and tok != expected):
            raise _Unparsed
        self.at += 1
        return tok

    def expression(self, entry: bool) -> None:
        self.operand(entry)
        while (op := self.peek()) in _SYMBOL_OPERATORS or op in _WORD_OPERATORS:
            self.take()
            if op in ("is", "as"):
                self.type_specifier()
            else:
                self.operand(entry)

    def type_specifier(self) -> None:
        if not _IDENTIFIER.fullmatch(self.take()):
            raise _Unparsed
        while self.peek() == "." and self.at + 1 < len(self.tokens):
            self.take()
            if not _IDENTIFIER.fullmatch(self.take()):
                raise _Unparsed

    def operand(self, entry: bool) -> None:
        tok = self.peek()
        chain: _Chain | None = None
        if tok in ("+", "-"):  # polarity
            self.take()
            entry = False
            tok = self.peek()
        if tok == "(":
            self.take()
            self.expression(entry)
            self.take(")")
        elif tok == "{":
            self.take()
            self.take("}")
        elif _IDENTIFIER.fullmatch(tok) and tok not in _WORD_OPERATORS | {"true", "false"}:
            self.take()
            if self.peek() == "(":
                self.arguments()
            elif entry:
                chain = _Chain(tok.strip("`"))
                self.chains.append(chain)
        elif tok and (tok[0] in "'@%$" or tok[0].isdigit() or tok in ("true", "false")):
            self.take()
        else:
            raise _Unparsed
        while self.peek() in (".", "["):
            if self.take() == "[":
                self.expression(False)
                self.take("]")
                chain = None
                continue
            name = self.take()
            if not _IDENTIFIER.fullmatch(name):
                raise _Unparsed
            if self.peek() == "(":
                self.arguments()
                chain = None
            elif chain is not None:
                chain.names.append(name.strip("`"))

    def arguments(self) -> None:
        self.take("(")
        if self.peek() != ")":
            self.expression(False)
            while self.peek() == ",":
                self.take()
                self.expression(False)
        self.take(")")


def chains(expression: str) -> list[_Chain] | None:
    """The operands read at the entry context, or None when the expression is outside what
    this reader follows."""
    reader = _Reader(expression)
    try:
        reader.expression(True)
        if reader.peek():
            raise _Unparsed
    except _Unparsed:
        return None
    return reader.chains


def check(walk: Walk, defs: Definitions, *, file: str, line: int | None = None) -> list[Problem]:
    out: list[Problem] = []
    for node in walk.nodes:
        if node.is_resource and node.type == "SearchParameter" and isinstance(node.value, dict):
            for message in _expression(node.value, defs):
                out.append(Problem(file, line, None, f"{node.loc}.expression", message, "error",
                                   LAYER, "search-expression"))
    return out


def _expression(sp: dict[str, Any], defs: Definitions) -> list[str]:
    expression, bases = sp.get("expression"), sp.get("base")
    if not isinstance(expression, str) or not isinstance(bases, list) or not bases \
            or "_base" in sp:
        return []
    types = [defs.structure(b) if isinstance(b, str) else None for b in bases]
    found = chains(expression)
    if found is None or any(t is None for t in types):
        return []
    structs = [t for t in types if t is not None]
    for chain in found:
        problem = _judge(chain, structs, defs)
        if problem:
            # The engine's checker stops at its first failure: one finding per expression.
            return [f"search expression {expression!r}: {problem}"]
    return []


State = tuple[StructureDef, str]  # where an element's children are defined: (type, path)


def _judge(chain: _Chain, bases: list[StructureDef], defs: Definitions) -> str | None:
    """Why the chain fails the engine's type check against the base types, or None (it
    passes, or the definitions cannot tell)."""
    names = ", ".join(b.type for b in bases)
    states: list[State] = []
    if chain.head[:1].isupper():
        states = [(b, b.type) for b in bases if chain.head == b.type]
    if not states:
        if any(b.abstract for b in bases):
            return None  # the engine also searches every specialisation of an abstract base
        step = _step([(b, b.type) for b in bases], chain.head, defs)
        if step is None:
            return None
        if isinstance(step, str):
            return step
        if not step:
            return (f"the name {chain.head!r} is neither a base type ({names}) nor an element "
                    f"of {names}")
        states = step
    at = chain.head
    for name in chain.names:
        step = _step(states, name, defs)
        if step is None:
            return None
        if isinstance(step, str):
            return step
        if not step:
            return f"{at} has no element {name!r} (base {names})"
        states, at = step, f"{at}.{name}"
    return None


def _step(states: list[State], name: str, defs: Definitions) -> list[State] | str | None:
    """Where `name` leads from each state: [] when no state has such an element, None when
    the definitions cannot tell (a state past which the engine's answer is not certain), or
    why a choice element's type-specific name is not read."""
    found: list[State] = []
    renamed = None
    for struct, path in states:
        kids = struct.children(path)
        elem = kids.get(name)
        if elem is None:
            if f"{name}[x]" in kids:
                return None  # a choice element: its several types are not followed
            if renamed is None and (hit := _renamed(kids, name)) is not None:
                # valueQuantity -> ("value", "Quantity"): the JSON name of value[x]'s Quantity
                renamed = name[:-len(_upper(hit[1]))], hit[1]
            continue
        into = _into(elem, struct, defs)
        if into is None:
            return None
        found.append(into)
    if not found and renamed:
        choice, type_code = renamed
        return (f"{name!r} is JSON's name for {choice}[x] as a {type_code}: FHIRPath reads the "
                f"element as {choice}, its type with {choice}.ofType({type_code}) or "
                f"({choice} as {type_code})")
    return found


def _into(elem: ElementDef, struct: StructureDef, defs: Definitions) -> State | None:
    """Where an element's children are defined, or None when following it is not certain:
    several types, an abstract type, a primitive, a resource."""
    if elem.content_reference:
        return struct, elem.content_reference.split("#", 1)[-1]
    if struct.children(elem.path):
        return struct, elem.path
    if len(elem.types) != 1:
        return None
    target = defs.structure(elem.types[0])
    if target is None or target.abstract or target.kind not in ("complex-type",):
        return None
    return target, target.type
