"""NDJSON for Bulk Data `$import`: one file per resource type, one resource per line (compact
JSON, sorted by id), plus the `$import` kick-off body that lists them.

The manifest follows the Bulk Data Import proposal (smart-on-fhir/bulk-import, import.md):
`inputFormat`, `inputSource`, `storageDetail`, `input[{type, url}]`. The URLs are relative to
the manifest (`ndjson/Type.ndjson`) by default; `--ndjson-base-url` puts the address where the
export is published in front.

Built with `--previous`, the resources of the previous release that this one no longer has are
listed as Bulk Data export lists deleted resources: `deleted/Bundle.ndjson`, one transaction
Bundle of `DELETE Type/id` entries, named in the manifest's `deleted` array (Bulk Data export
manifest, `deleted`; the `$import` proposal defines no such field, so an importer that does not
know it ignores it: `ivig-fhir upload --delete-withdrawn` or `--retire` acts on them).
"""

from __future__ import annotations

import json
from collections import defaultdict

from ivig_fhir.bundle import dumps
from ivig_fhir.formats.export import Export, JsonDict

NDJSON_DIR = "ndjson"
# Beside the folder, not in it, so the folder holds FHIR resources only (`validate ndjson/`).
IMPORT_MANIFEST = "bulk-import-manifest.json"
DELETED_FILE = "deleted/Bundle.ndjson"  # beside ndjson/: not a resource of this release


def ndjson_line(resource: JsonDict) -> bytes:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def ndjson(export: Export) -> dict[str, bytes]:
    by_type: dict[str, list[JsonDict]] = defaultdict(list)
    for resource in export.resources:
        by_type[resource["resourceType"]].append(resource)
    files: dict[str, bytes] = {}
    inputs = []
    for kind in sorted(by_type):
        name = f"{kind}.ndjson"
        rows = sorted(by_type[kind], key=lambda r: str(r["id"]))
        files[f"{NDJSON_DIR}/{name}"] = b"".join(ndjson_line(r) for r in rows)
        inputs.append({"type": kind, "url": f"{export.ndjson_base_url}{NDJSON_DIR}/{name}"})
    manifest: JsonDict = {
        "inputFormat": "application/fhir+ndjson",
        # The same source across releases, so a server can match a re-import to earlier data.
        "inputSource": export.release.canonical_base,
        "storageDetail": {"type": "https"},
        "input": inputs,
    }
    if export.withdrawn:
        files[DELETED_FILE] = ndjson_line(export.deleted_bundle())
        manifest["deleted"] = [{"type": "Bundle",
                                "url": f"{export.ndjson_base_url}{DELETED_FILE}"}]
    files[IMPORT_MANIFEST] = dumps(manifest)
    return files
