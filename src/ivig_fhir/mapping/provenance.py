"""Where every clinical resource comes from: a DocumentReference per source document and a
Provenance per resource naming the outline items (section and list item) it carries."""

from __future__ import annotations

from collections.abc import Sequence

from ivig_fhir.load.curated import Source
from ivig_fhir.mapping.context import JsonDict, MapContext, reference
from ivig_fhir.mapping.definitions import extension
from ivig_fhir.mapping.mapped import Mapped
from ivig_fhir.mapping.narrative import narrative


def document_id(source_key: str) -> str:
    return f"src-{source_key}"


DOCUMENT_TYPE = {
    "source-page": "Web page (plain-text capture)",
    "prescribing-information": "US prescribing information (label text)",
    "immunization-guidance": "US immunization guidance",
    "label-summary": "Summary of a US label (manufacturer or drug-information page)",
    "regulatory-document": "FDA regulatory document (e.g. an approval letter)",
}


def map_document(ctx: MapContext, source: Source) -> Mapped:
    items = sum(len(s.items) for s in source.sections)
    identifiers = [ctx.identifier("source-document", source.key)]
    if source.sha256:
        identifiers.append({"system": "urn:ietf:rfc:3986", "value": f"urn:sha256:{source.sha256}"})
    attachment = {"contentType": "text/plain" if source.seed_file else "text/html",
                  "language": "en", "title": source.title}
    if source.url:
        attachment["url"] = source.url
    resource = {
        "resourceType": "DocumentReference",
        "id": document_id(source.key),
        "text": narrative(source.title, [
            ("Description", source.description), ("Audience", source.audience),
            ("Publisher", source.publisher), ("Address", source.url),
            ("Document date", source.document_date), ("Read on", source.read_on),
            ("Outline", f"{len(source.sections)} sections, {items} items"),
            ("SHA-256", source.sha256)]),
        "identifier": identifiers,
        "status": "current",
        "docStatus": "final",
        "type": {"text": DOCUMENT_TYPE[source.kind]},
        "description": source.description,
        "content": [{"attachment": attachment}],
    }
    return Mapped(resource, (), source.at, provenance=False)


def provenance_id(target: Mapped) -> str:
    return f"prov-{target.id}"


def release_entity(ctx: MapContext) -> JsonDict:
    """The curated content release the target was mapped from, as a logical reference (by
    identifier): a release is not a resource of the export, but it is what the mapping
    activity used, so it is an entity with role `source` beside the source documents."""
    release = ctx.curated.release
    return {
        "role": "source",
        "what": {"identifier": ctx.identifier("content-release", release.content_version),
                 "display": f"ivig-fhir curated content, release {release.content_version} "
                            f"({release.date})"},
    }


def map_provenance(ctx: MapContext, target: Mapped) -> Mapped:
    locators = ctx.locators
    entities: list[JsonDict] = [release_entity(ctx)]
    for cite in sorted(target.cites):
        source, section, item = locators[cite]
        entities.append({
            "extension": [extension(ctx, "source-locator", cite)],
            "role": "source",
            "what": reference("DocumentReference", document_id(source.key),
                              f"{source.title} — {section.heading} — {item.summary}"),
        })
    kind = target.resource_type
    resource = {
        "resourceType": "Provenance",
        "id": provenance_id(target),
        "text": narrative(f"Provenance of {target.key}",
                          [("Sources", [e["what"]["display"] for e in entities])]),
        "target": [reference(kind, target.id)],
        "recorded": ctx.recorded,
        "activity": {"text": "Curated from the source documents and mapped by ivig-fhir"},
        "agent": [{"who": {"display": ctx.curated.release.publisher}}],
        "entity": entities,
    }
    return Mapped(resource, (), target.at, provenance=False)


def map_provenances(ctx: MapContext, targets: Sequence[Mapped]) -> list[Mapped]:
    return [map_provenance(ctx, t) for t in targets if t.provenance and t.cites]
