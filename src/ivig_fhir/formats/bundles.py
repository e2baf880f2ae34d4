"""Bundles: the transaction Bundle of the build, and the same content as a batch or a
collection. The entries (order, fullUrls, resources) are identical in all three."""

from __future__ import annotations

from ivig_fhir.bundle import BUNDLE_FILE, dumps
from ivig_fhir.formats.export import Export, JsonDict

BATCH_FILE = "ivig-fhir-batch.json"
COLLECTION_FILE = "ivig-fhir-collection.json"


def retyped(export: Export, bundle_type: str) -> JsonDict:
    """The transaction Bundle as another Bundle type; a collection carries no requests. Only
    what differs is copied: the resources are the transaction Bundle's own (copying them was
    a tenth of a second per format), so the result is read, never changed."""
    bundle = dict(export.bundle)
    bundle["id"] = f"ivig-fhir-{bundle_type}"
    # Keep the version suffix of a non-R5 export ("-r4b", "-r4"): it is a different Bundle.
    prefix = f"ivig-fhir-{export.release.content_version}-transaction"
    suffix = str(bundle["identifier"]["value"]).removeprefix(prefix)
    bundle["identifier"] = {**bundle["identifier"], "value": (
        f"ivig-fhir-{export.release.content_version}-{bundle_type}{suffix}")}
    bundle["type"] = bundle_type
    if bundle_type == "collection":
        bundle["entry"] = [{k: v for k, v in entry.items() if k != "request"}
                           for entry in bundle["entry"]]
    return bundle


def transaction(export: Export) -> dict[str, bytes]:
    return {BUNDLE_FILE: dumps(export.bundle)}


def batch(export: Export) -> dict[str, bytes]:
    return {BATCH_FILE: dumps(retyped(export, "batch"))}


def collection(export: Export) -> dict[str, bytes]:
    return {COLLECTION_FILE: dumps(retyped(export, "collection"))}
