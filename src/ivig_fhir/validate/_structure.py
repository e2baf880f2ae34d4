"""Layer `structure`: the fhir.resources models (R5 or R4B) parse the resource.

Pydantic's error locations become FHIRPath (`Bundle.entry[3].resource.status`) and its
messages say what value was wrong. The models do not see nulls (they take `"status": null` as
absent): the json layer has reported those before this runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pydantic
from fhir.resources import get_fhir_model_class as _r5_class
from fhir.resources.R4B import get_fhir_model_class as _r4b_class

from ivig_fhir.problems import Problem

from ._paths import from_loc

LAYER = "structure"

_CLASSES: dict[str, Callable[[str], Any]] = {"r5": _r5_class, "r4b": _r4b_class}


@functools.cache
def _model(version: str, resource_type: str) -> Any | None:
    try:
        return _CLASSES[version](resource_type)
    except (KeyError, ValueError, AttributeError, ImportError):
        return None


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(err: Any, rt: str, version: str) -> tuple[str, str]:
    """(message, code) for one pydantic error."""
    kind: str = err.get("type", "")
    msg: str = err.get("msg", "")
    loc = [p for p in err.get("loc", ()) if isinstance(p, str) and p != "root"]
    name = loc[-1] if loc else ""
    given = err.get("input")
    fhir_version = "R5" if version == "r5" else "R4B"
    if kind == "extra_forbidden":
        return (f"unknown element \"{name}\": {rt} in FHIR {fhir_version} has no such element "
                "(misspelt, or from another FHIR version?)", "unknown-element")
    if kind.endswith("missing"):
        return f"required element \"{name}\" is missing", "required"
    if kind == "json_invalid":
        return f"expected a JSON object here, got {_show(given)}", "wrong-type"
    if kind == "string_pattern_mismatch":
        if name == "id":
            return (f"invalid id {_show(given)}: an id is 1-64 characters of A-Z a-z 0-9 - .",
                    "invalid-id")
        return f"invalid value {_show(given)}: {msg}", "invalid-format"
    if kind.startswith("value_error") or kind.startswith("datetime") or kind.startswith("date"):
        text = msg.removeprefix("Value error, ")
        return f"invalid value {_show(given)}: {text}", "invalid-value"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"wrong JSON type {_show(given)}: {msg}", "wrong-type"
    return f"{msg} (given {_show(given)})", kind or "invalid"


def _nested_types(value: Any, loc: str) -> Iterator[tuple[str, str]]:
    """(location, resourceType) of every resource inside `value` (not `value` itself)."""
    items = value.items() if isinstance(value, dict) else ()
    for key, v in items:
        for i, x in enumerate(v) if isinstance(v, list) else [(None, v)]:
            if not isinstance(x, dict):
                continue
            here = f"{loc}.{key}" + (f"[{i}]" if i is not None else "")
            t = x.get("resourceType")
            if isinstance(t, str):
                yield here, t
            yield from _nested_types(x, here)


def check(data: dict[str, Any], *, file: str, version: str,
          line: int | None = None) -> list[Problem]:
    rt = data.get("resourceType")
    if not isinstance(rt, str):
        return []  # json layer: missing resourceType
    model = _model(version, rt)
    fv = "R5" if version == "r5" else "R4B"
    if model is None:
        return [Problem(file, line, None, rt, f"unknown resource type \"{rt}\" in FHIR {fv}",
                        "fatal", LAYER, "unknown-resource-type")]
    unknown = [(loc, t) for loc, t in _nested_types(data, rt) if _model(version, t) is None]
    if unknown:
        # The models cannot even start on a Bundle holding a type they do not know.
        return [Problem(file, line, None, loc, f"unknown resource type \"{t}\" in FHIR {fv}",
                        "error", LAYER, "unknown-resource-type") for loc, t in unknown]
    try:
        model.model_validate(data)
    except pydantic.ValidationError as e:
        out = []
        for err in e.errors():
            message, code = _message(err, rt, version)
            out.append(Problem(file, line, None, from_loc(rt, err.get("loc", ())), message,
                               "error", LAYER, code))
        return out
    except (TypeError, ValueError) as e:  # a model bug should not stop the other layers
        return [Problem(file, line, None, rt, f"the {fv} model rejected the resource: {e}",
                        "error", LAYER, "model-error")]
    return []
