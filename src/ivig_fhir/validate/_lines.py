"""Where a finding is in the file: a cheap scan of the JSON text (strings skipped by regex) that
finds the line and column of the element a finding's path names, so `ctx.json:14:9` points at
the field to edit, in a pretty-printed file or a minified one (line 1, column 48,213)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from ivig_fhir.problems import Problem

_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|[{}\[\]:,\n]')
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)")
_INDEX = re.compile(r"\[(\d+)\]")

Step = str | int
Place = tuple[int, int]  # line, column (1-based)


def _steps(field: str) -> tuple[Step, ...]:
    """`CodeSystem.concept[5].use` -> ("concept", 5, "use"): the JSON names and array indexes
    below the root; the steps of a path this scan cannot follow are dropped from there on."""
    steps: list[Step] = []
    pos = field.find(".")
    while pos >= 0:
        m = _STEP.match(field, pos)
        if m is None:
            break
        steps.append(m.group(1))
        steps += [int(i) for i in _INDEX.findall(m.group(2))]
        pos = m.end()
    return tuple(steps)


def places(text: str, wanted: set[tuple[Step, ...]]) -> dict[tuple[Step, ...], Place]:
    """The line and column where each wanted path (and each prefix of it) starts: a member at
    its name, an array item at its first character. One pass over the text."""
    prefixes = {p[:i] for p in wanted for i in range(len(p) + 1)}
    found: dict[tuple[Step, ...], Place] = {}
    line, line_start = 1, 0
    path: list[Step] = []
    # one frame per open {} or []: for an object whether a name comes next, for an array the
    # index of the current item and whether it has started
    kinds: list[str] = []
    expect: list[bool] = []

    def item_starts(start: int) -> None:
        if kinds and kinds[-1] == "[" and expect[-1]:
            expect[-1] = False
            here = tuple(path)
            if here in prefixes and here not in found:
                found[here] = (line, start - line_start + 1)

    for m in _TOKENS.finditer(text):
        tok = m.group()
        if tok == "\n":
            line, line_start = line + 1, m.end()
        elif tok[0] == '"':
            if kinds and kinds[-1] == "{" and expect[-1]:
                expect[-1] = False
                path[-1] = tok[1:-1]
                here = tuple(path)
                if here in prefixes and here not in found:
                    found[here] = (line, m.start() - line_start + 1)
            else:
                item_starts(m.start())
        elif tok in "{[":
            if not kinds and () in prefixes and () not in found:
                found[()] = (line, m.start() - line_start + 1)
            item_starts(m.start())
            kinds.append(tok)
            expect.append(True)
            path.append(0 if tok == "[" else "")
        elif tok in "}]" and kinds:
            kinds.pop(), expect.pop(), path.pop()
        elif tok == "," and kinds:
            expect[-1] = True
            if kinds[-1] == "[":
                path[-1] = int(path[-1]) + 1
        if len(found) == len(prefixes):
            break
    return found


def locate(problems: Iterable[Problem], text: str) -> list[Problem]:
    """Each finding without a column gets the line and column of the deepest element of its
    path found in `text` (one JSON document; a finding that has a line keeps it, as NDJSON's
    line numbers, and takes a column only when `text` is that one line)."""
    found = list(problems)
    todo = {p.field: _steps(p.field) for p in found if p.column is None and p.field}
    if not todo:
        return found
    at = places(text, set(todo.values()))
    out = []
    for p in found:
        steps = todo.get(p.field) if p.column is None else None
        place = next((at[steps[:i]] for i in range(len(steps), -1, -1) if steps[:i] in at),
                     None) if steps is not None else None
        if place is not None and (p.line is None or "\n" not in text.rstrip("\r\n")):
            line = place[0] if p.line is None else p.line
            p = dataclasses.replace(p, line=line, column=place[1])
        out.append(p)
    return out
