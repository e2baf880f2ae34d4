"""Extensions defined in the same file: a Bundle (or resource) that ships the
StructureDefinition of an extension it uses is held to it, as the HL7 engine does once the
definition is loaded: the value[x] types it allows, a value it requires, and no nested
extensions where it forbids them (Extension.extension 0..0). Layer `structure`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ivig_fhir.problems import Problem

from ._walk import Walk

LAYER = "structure"


@dataclass(frozen=True)
class _Rules:
    url: str
    types: tuple[str, ...]  # allowed value[x] type codes; () = any
    value_min: int
    value_max: str
    nested: bool  # nested extensions allowed


def _rules(sd: dict[str, Any]) -> _Rules:
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
    return _Rules(sd["url"], types, value_min, value_max, nested)


def _definitions(data: dict[str, Any]) -> dict[str, _Rules]:
    resources: list[Any] = [data]
    if data.get("resourceType") == "Bundle" and isinstance(data.get("entry"), list):
        resources += [e.get("resource") for e in data["entry"] if isinstance(e, dict)]
    return {r["url"]: _rules(r) for r in resources
            if isinstance(r, dict) and r.get("resourceType") == "StructureDefinition"
            and r.get("type") == "Extension" and isinstance(r.get("url"), str)}


def check(data: dict[str, Any], walk: Walk, *, file: str,
          line: int | None = None) -> list[Problem]:
    defs = _definitions(data)
    if not defs:
        return []
    out: list[Problem] = []

    def problem(loc: str, message: str, code: str) -> None:
        out.append(Problem(file, line, None, loc, message, "error", LAYER, code))

    for node in walk.nodes:
        ext = node.value
        if node.type != "Extension" or not isinstance(ext, dict):
            continue
        rules = defs.get(ext.get("url"))  # type: ignore[arg-type]
        if rules is None:
            continue
        values = [k for k in ext if k.startswith("value")]
        name = rules.url.rsplit("/", 1)[-1]
        for key in values:
            given = key[len("value"):]
            if rules.value_max == "0":
                problem(f"{node.loc}.{key}", f"extension {name} takes no value", "extension")
            elif rules.types and given not in {t[:1].upper() + t[1:] for t in rules.types}:
                problem(f"{node.loc}.{key}", f"extension {name} takes a value of type "
                        f"{' | '.join(rules.types)}, not {given}", "extension")
        if not values and rules.value_min > 0:
            problem(node.loc, f"extension {name} needs a value[x] "
                    f"({' | '.join(rules.types) or 'any type'})", "extension")
        if not rules.nested and "extension" in ext:
            problem(f"{node.loc}.extension", f"extension {name} allows no nested extensions",
                    "extension")
    return out
