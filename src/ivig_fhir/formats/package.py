"""A FHIR NPM package (https://hl7.org/fhir/packages.html and the FHIR NPM Package
Specification): a gzipped tar holding `package/package.json`, `package/.index.json`
(index-version 2) and one `Type-id.json` per resource of the export.

The bytes are deterministic: members in sorted order, fixed mtime/uid/gid/mode, no user
names, and a gzip header with mtime 0 and no file name. (Compressed bytes are stable for a
given zlib; a different zlib implementation may compress the same tar differently.)
"""

from __future__ import annotations

import gzip
import io
import tarfile

from ivig_fhir.bundle import dumps
from ivig_fhir.formats.export import Export, JsonDict

PACKAGE_FILE = "ivig-fhir-package.tgz"
# Two or more dot-separated lowercase namespaces, the first naming the publisher.
PACKAGE_NAME = "org.ivig-fhir.ivig"

# Index fields beyond filename/resourceType/id/url/version, per resource type they describe.
_INDEX_EXTRA = {
    "StructureDefinition": ("kind", "type", "derivation"),
    "CodeSystem": ("content", "supplements"),
}


def resource_filename(resource: JsonDict) -> str:
    return f"{resource['resourceType']}-{resource['id']}.json"


def index_entry(resource: JsonDict) -> JsonDict:
    kind = resource["resourceType"]
    entry: JsonDict = {"filename": resource_filename(resource), "resourceType": kind,
                       "id": resource["id"]}
    for key in ("url", "version", *_INDEX_EXTRA.get(kind, ())):
        if key in resource:
            entry[key] = resource[key]
    return entry


def package_json(export: Export) -> JsonDict:
    release = export.release
    core, core_version = export.core_package
    return {
        "name": PACKAGE_NAME,
        "version": release.content_version,
        "type": "fhir.ig",
        "canonical": release.canonical_base,
        "url": release.canonical_base,
        "title": "IVIG knowledge (ivig-fhir)",
        "description": "Curated knowledge about intravenous immunoglobulin (IVIG): product, "
                       "dosing, indications, undesirable effects, interactions and warnings, "
                       "with their sources and provenance.",
        "fhirVersions": [export.fhir_version],
        "dependencies": {core: core_version},
        "author": release.publisher,
        "license": "Apache-2.0",
        "jurisdiction": (f"urn:iso:std:iso:3166#{release.jurisdiction}"
                         if release.jurisdiction else None),
    }


def package_members(export: Export) -> dict[str, bytes]:
    """The files of the package, by their path inside the tar."""
    resources = sorted(export.resources, key=resource_filename)
    members = {f"package/{resource_filename(r)}": dumps(r) for r in resources}
    members["package/package.json"] = dumps(
        {k: v for k, v in package_json(export).items() if v is not None})
    members["package/.index.json"] = dumps(
        {"index-version": 2, "files": [index_entry(r) for r in resources]})
    if export.withdrawn:  # `other/`: files that are not resources of the package
        members["package/other/deleted-Bundle.json"] = dumps(export.deleted_bundle())
    return members


def tgz(members: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(members[name]))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def package(export: Export) -> dict[str, bytes]:
    return {PACKAGE_FILE: tgz(package_members(export))}
