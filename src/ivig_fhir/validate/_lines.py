"""Source lines for Bundle entries: a cheap scan of the JSON text (strings skipped by regex),
so a finding in `Bundle.entry[3]...` can point at the line where that entry starts."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from ivig_fhir.problems import Problem

_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|[{}\[\]:,\n]')
_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]")


def entry_lines(text: str) -> list[int]:
    """Line (1-based) of each item of the top-level "entry" array, in order."""
    lines: list[int] = []
    line = 1
    depth = 0  # nesting of {} and []
    last_string: str | None = None
    key_at_depth1: str | None = None
    in_entries = False
    for m in _TOKENS.finditer(text):
        tok = m.group()
        if tok == "\n":
            line += 1
        elif tok[0] == '"':
            last_string = tok
        elif tok == ":":
            if depth == 1:
                key_at_depth1 = last_string
        elif tok in "{[":
            if depth == 1 and tok == "[" and key_at_depth1 == '"entry"':
                in_entries = True
            elif depth == 2 and in_entries and tok == "{":
                lines.append(line)
            depth += 1
        elif tok in "}]":
            depth -= 1
            if depth == 1:
                in_entries = False
    return lines


def add_entry_lines(problems: Iterable[Problem], text: str) -> list[Problem]:
    found = list(problems)
    if not any(p.line is None and p.field.startswith("Bundle.entry[") for p in found):
        return found
    lines = entry_lines(text)
    out = []
    for p in found:
        m = _ENTRY.match(p.field) if p.line is None else None
        if m and int(m.group(1)) < len(lines):
            p = dataclasses.replace(p, line=lines[int(m.group(1))])
        out.append(p)
    return out
