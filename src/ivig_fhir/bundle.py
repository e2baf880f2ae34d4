"""Stage 4: resources -> one transaction Bundle with deterministic bytes.

Every entry is a PUT to `Type/id` with an absolute fullUrl under the canonical base, so
relative references resolve inside the Bundle and a re-upload updates the same resources.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from json.encoder import encode_basestring as _string
from typing import Any

from ivig_fhir.load.curated import Curated
from ivig_fhir.mapping import Mapped

BUNDLE_FILE = "ivig-fhir-bundle.json"


def build_bundle(curated: Curated, resources: Sequence[Mapped],
                 bundle_type: str = "transaction", fhir_version: str = "R5") -> dict[str, Any]:
    base = curated.release.canonical_base
    entries = []
    for mapped in resources:
        data = mapped.resource
        path = f"{data['resourceType']}/{data['id']}"
        entry: dict[str, Any] = {"fullUrl": f"{base}/{path}", "resource": data}
        if bundle_type in ("transaction", "batch"):
            entry["request"] = {"method": "PUT", "url": path}
        entries.append(entry)
    bundle = {
        "resourceType": "Bundle",
        "id": f"ivig-fhir-{bundle_type}",
        "identifier": {"system": f"{base}/identifier/bundle",
                       "value": f"ivig-fhir-{curated.release.content_version}-{bundle_type}"
                                + ("" if fhir_version == "R5" else f"-{fhir_version.lower()}")},
        "type": bundle_type,
        "entry": entries,
    }
    # Not checked here: the build validates the whole Bundle (every layer of `validate`)
    # before anything is written.
    return bundle


def dumps(data: Any) -> bytes:
    """The one JSON layout of every file the tool writes: 2-space indent, UTF-8, final newline;
    the bytes of `json.dumps(data, indent=2, ensure_ascii=False)` and a newline. NaN and
    infinities are refused (ValueError): JSON has no such numbers."""
    parts: list[str] = []
    try:
        _encode(data, "\n", parts)
        text = "".join(parts)
    except (TypeError, ValueError):  # keys that are not strings, values of no JSON type, NaN
        text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


# json.dumps writes an indented document with its pure-Python encoder, a generator per level
# (its C encoder does not indent): a tenth of a build. These two functions write the same text
# into one list, the strings (most values) through the C escaping json.dumps itself uses.
def _encode(value: Any, newline: str, out: list[str]) -> None:
    append = out.append
    if isinstance(value, dict):
        if not value:
            append("{}")
            return
        inner = newline + "  "
        separator = "{" + inner
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(key)
            if type(item) is str:
                append(f"{separator}{_string(key)}: {_string(item)}")
            elif isinstance(item, dict | list | tuple):
                append(f"{separator}{_string(key)}: ")
                _encode(item, inner, out)
            else:
                append(f"{separator}{_string(key)}: {_scalar(item)}")
            separator = "," + inner
        append(newline + "}")
    elif isinstance(value, list | tuple):
        if not value:
            append("[]")
            return
        inner = newline + "  "
        separator = "[" + inner
        for item in value:
            if isinstance(item, dict | list | tuple):
                append(separator)
                _encode(item, inner, out)
            else:
                append(separator + _scalar(item))
            separator = "," + inner
        append(newline + "]")
    else:
        append(_scalar(value))


def _scalar(value: Any) -> str:
    # json.dumps' own tests, in its order (bool before int: True is an int)
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(value)
        return float.__repr__(value)
    raise TypeError(value)
