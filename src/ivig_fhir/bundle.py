"""Stage 4: resources -> one transaction Bundle with deterministic bytes.

Every entry is a PUT to `Type/id` with an absolute fullUrl under the canonical base, so
relative references resolve inside the Bundle and a re-upload updates the same resources.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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
    # Not checked against the Bundle model here: every resource is a model already, and the
    # build validates the whole Bundle (the structure layer) before anything is written.
    return bundle


def dumps(data: Any) -> bytes:
    """The one JSON layout of every file the tool writes: 2-space indent, UTF-8, final newline.
    NaN and infinities are refused: JSON has no such numbers."""
    return (json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode(
        "utf-8")


def entry_lines(written: bytes) -> list[int]:
    """The line (1-based) each entry of a Bundle written by `dumps` starts on: in that layout
    an entry opens on a line of its own, `{` four spaces in, inside `  "entry": [`. A
    fraction of the cost of scanning JSON of any layout (validate's entry lines)."""
    lines = written.split(b"\n")
    try:
        start = lines.index(b'  "entry": [')
    except ValueError:
        return []
    found = []
    for number in range(start + 1, len(lines)):
        line = lines[number]
        if line == b"    {":
            found.append(number + 1)
        elif line.startswith(b"  ]"):
            break
    return found
