"""A fhir.resources model (convert parses its R4B and R4 output with the R4B models) as its
JSON data, as `json.loads(model.model_dump_json(exclude_none=True))` gives it, at a fraction
of the cost.

fhir_core serialises through a pydantic wrap serializer that, at every element of every
resource, looks up the class's element order, alias map and each field's primitive-ness again;
that was a quarter of a build. Here those are looked up once per class, and the values the
models hold (strings, booleans, numbers, Decimals, UUIDs, nested models, lists of them
and dates and times, through pydantic's rendering) are turned into JSON data directly, by
fhir_core's own rules (element order, `_field`
extension siblings after their primitive, empty lists omitted, Decimal as int when integral
with a non-negative exponent, else float; UUID as `urn:uuid:`). Any other value (bytes, a
float that is not finite, a value of no known kind) sends the whole resource
through fhir_core itself, so the answer is the same whatever a model holds;
tests/test_dump.py compares the two on the whole export, R4B and R4.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import uuid
from functools import cache
from typing import Any

from fhir_core.fhirabstractmodel import FHIR_COMMENTS_FIELD_NAME, FHIRAbstractModel
from fhir_core.utils import is_primitive_type
from pydantic_core import to_json

# (JSON key, field name, primitive?, JSON key of its `_field` sibling or None)
Plan = tuple[tuple[str, str, bool, str | None], ...]


_TEMPORAL = (datetime.date, datetime.datetime, datetime.time)


class _Unsure(Exception):
    """A value this module does not turn into JSON itself."""


def model_json(model: FHIRAbstractModel) -> dict[str, Any]:
    """The JSON data of a resource model, identical to fhir_core's `model_dump_json` (with
    `exclude_none=True`) parsed back."""
    try:
        return _model(model)
    except _Unsure:
        loaded: dict[str, Any] = json.loads(model.model_dump_json(exclude_none=True))
        return loaded


@cache
def _plan(cls: type[FHIRAbstractModel]) -> tuple[str | None, Plan]:
    fields = cls.model_fields
    aliases = cls.get_alias_mapping()
    plan = []
    for element in cls.elements_sequence():
        name = aliases[element]
        info = fields[name]
        primitive = is_primitive_type(info)
        ext = fields.get(f"{name}__ext") if primitive else None
        plan.append((info.alias or name, name, primitive,
                     None if ext is None else ext.alias or f"{name}__ext"))
    return (cls.__resource_type__ if cls.has_resource_base() else None), tuple(plan)


def _model(model: FHIRAbstractModel) -> dict[str, Any]:
    # fhir_core's model_dump_json turns summary-only and comment exclusion off for the whole
    # tree whatever the models hold, so they are not looked at here either
    resource_type, plan = _plan(type(model))
    out: dict[str, Any] = {}
    if resource_type is not None:
        out["resourceType"] = resource_type
    values = model.__dict__
    for key, name, primitive, ext_key in plan:
        value = values.get(name)
        if value is not None:
            value = _primitive(value) if primitive else _complex(value)
            if value is not None and value != []:
                out[key] = value
        if ext_key is not None:
            ext = values.get(f"{name}__ext")
            if ext is not None:
                ext = _complex(ext)
                if ext is not None and len(ext) > 0:
                    out[ext_key] = ext
    comments = values.get(FHIR_COMMENTS_FIELD_NAME)
    if comments is not None:
        out[FHIR_COMMENTS_FIELD_NAME] = _plain(comments)
    return out


def _complex(value: Any) -> Any:
    if isinstance(value, list):
        return [_complex(v) for v in value]
    if value is None:
        return None
    if isinstance(value, FHIRAbstractModel):
        return _model(value)
    raise _Unsure


def _primitive(value: Any) -> Any:
    if isinstance(value, list):
        return [_primitive(v) for v in value]
    if isinstance(value, uuid.UUID):
        return f"urn:uuid:{value}"
    if isinstance(value, decimal.Decimal):
        exponent = value.as_tuple().exponent
        if (value.is_finite() and value == value.to_integral_value()
                and isinstance(exponent, int) and exponent >= 0):
            return int(value)
        value = float(value)
    return _plain(value)


def _plain(value: Any) -> Any:
    """A value that JSON carries unchanged both ways; anything else is not this module's."""
    kind = type(value)  # exactly: a subclass (an enum member) comes back from JSON as its base
    if value is None or kind is str or kind is bool or kind is int:
        return value
    if kind is float and math.isfinite(value):
        return value
    if kind in _TEMPORAL:
        # pydantic's own rendering (ISO 8601, `Z` for UTC), as the models' serializer uses
        return json.loads(to_json(value))
    if isinstance(value, list):
        return [_plain(v) for v in value]
    raise _Unsure
