"""Stage 5: the export in each output format. One small writer per format, each a function
from the built export to {relative path: bytes}; the file names are fixed per format:

    transaction  ivig-fhir-bundle.json        Bundle type transaction, every entry PUT Type/id
    batch        ivig-fhir-batch.json         the same entries and requests as a batch
    collection   ivig-fhir-collection.json    the same resources and fullUrls, no requests
    ndjson       ndjson/<Type>.ndjson         one resource per line, sorted by id, one file per
                 bulk-import-manifest.json    type, and a Bulk Data `$import` request body
    package      ivig-fhir-package.tgz        a FHIR NPM package (package.json, .index.json,
                                              one Type-id.json per resource)

Every writer reads the resources from the transaction Bundle of the build and the FHIR version
from `Export.fhir_version`, so the same writers serve any FHIR version the mapping produces.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ivig_fhir.formats.bundles import batch, collection, transaction
from ivig_fhir.formats.export import Export
from ivig_fhir.formats.ndjson import ndjson
from ivig_fhir.formats.package import package

Writer = Callable[[Export], dict[str, bytes]]

FORMATS: Mapping[str, Writer] = {
    "transaction": transaction,
    "batch": batch,
    "collection": collection,
    "ndjson": ndjson,
    "package": package,
}
DEFAULT_FORMATS: tuple[str, ...] = ("transaction",)

__all__ = ["DEFAULT_FORMATS", "FORMATS", "Export", "Writer", "write_formats"]


def write_formats(export: Export, formats: tuple[str, ...]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for name in formats:
        files.update(FORMATS[name](export))
    return files
