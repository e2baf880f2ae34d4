"""FHIRPath-style locations, HL7 style: `Bundle.entry[2].resource.issue[0]`."""

from __future__ import annotations

from collections.abc import Sequence


def member(loc: str, key: str) -> str:
    """`loc.key`; a primitive's `_key` twin is reported at the element itself."""
    if key.startswith("_"):
        key = key[1:]
    return f"{loc}.{key}" if loc else key


def from_loc(root: str, loc: Sequence[str | int]) -> str:
    """A pydantic error location ('entry', 3, 'resource', 'status') -> FHIRPath."""
    out = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("root", "__root__") or part.startswith("function-"):
            continue
        else:
            name = part[:-5] if part.endswith("__ext") else part
            out = f"{out}.{name}"
    return out
