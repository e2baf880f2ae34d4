"""Stage 3b (optional): the mapped R5 resources -> FHIR R4 (4.0.1), element by element.

R4 and R4B define the same elements for every resource type the export writes (compared
element by element: HAPI's R4 definitions against hl7.fhir.r4b.core), so the moves are
convert.common's, shared with R4B. What R4 has no element for goes where HL7 puts R5 content
in R4 (https://hl7.org/fhir/versions.html#extensions, and the cross-version package
hl7.fhir.uv.xver-r5.r4): into the cross-version extension
`http://hl7.org/fhir/5.0/StructureDefinition/extension-<Resource>.<element>` on the R4
resource; a backbone element becomes a complex extension whose parts are named by the child
elements. An R5 resource type R4 lacks (ClinicalUseDefinition, RegulatedAuthorization,
MedicinalProductDefinition) becomes a Basic resource with the same id, `code` naming the R5
type, and every R5 element as such an extension. Every element and its fate:
docs/r4-mapping.md.

fhir.resources has no R4 models; since the structures are the same, each result is parsed by
its R4B model (Basic included), so an R5 element this module does not handle fails the build
here. The R4 definitions check codes and invariants when the build validates.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from ivig_fhir.convert import common
from ivig_fhir.convert.common import JsonDict, NotConvertible
from ivig_fhir.convert.dump import model_json
from ivig_fhir.definitions import ElementDef, StructureDef, load
from ivig_fhir.mapping.mapped import Mapped

FHIR_VERSION = "4.0.1"
XVER = "http://hl7.org/fhir/5.0/StructureDefinition/extension-"
# Names of R5 resource types (R4's own `resource-types` lacks ClinicalUseDefinition).
RESOURCE_TYPES = "http://hl7.org/fhir/fhir-types"
# R5 resource types R4 does not have with the same meaning, each carried by a Basic resource.
# R4's MedicinalProduct and MedicinalProductAuthorization (maturity 0, replaced in R4B) are
# shaped differently: not a home for MedicinalProductDefinition or RegulatedAuthorization.
AS_BASIC = ("ClinicalUseDefinition", "RegulatedAuthorization", "MedicinalProductDefinition")

NotInR4 = NotConvertible


def to_r4(resources: Sequence[Mapped]) -> list[Mapped]:
    """Each resource in its R4 form; same ids and order. A resource R4 lacks becomes Basic,
    and every reference to it is rewritten (`ClinicalUseDefinition/x` -> `Basic/x`)."""
    converted = []
    moved: dict[str, str] = {}
    identifiers: dict[str, JsonDict] = {}
    for mapped in resources:
        data = mapped.resource
        r4 = convert(data)
        if r4["resourceType"] != data["resourceType"]:
            key = f"{data['resourceType']}/{data['id']}"
            moved[key] = f"{r4['resourceType']}/{r4['id']}"
            if data.get("identifier"):
                identifiers[key] = data["identifier"][0]
        converted.append((mapped, r4))
    out = []
    for mapped, r4 in converted:
        _logical_subjects(r4, identifiers)
        _rewrite_references(r4, moved)
        model = get_fhir_model_class(r4["resourceType"])  # R4B class: the same structure
        out.append(replace(mapped, resource=model_json(model.model_validate(r4))))
    return out


def convert(resource: JsonDict) -> JsonDict:
    """One R5 resource (JSON) -> its R4 JSON. Types without differences pass unchanged."""
    data = copy.deepcopy(resource)  # the steps rename elements in place
    step = _STEPS.get(data["resourceType"])
    return step(data) if step else data


def _logical_subjects(r4: JsonDict, identifiers: dict[str, JsonDict]) -> None:
    """A `subject` beyond Basic.subject that names a resource R4 lacks (a label's
    MedicinalProductDefinition) cannot be a literal reference to its Basic: the engine gives
    the cross-version `.subject` extension only R4 types as targets. It becomes a logical
    reference: the product's identifier (its Basic carries the same) and display."""
    for ext in r4.get("extension", []):
        ref = ext.get("valueReference", {})
        if str(ext.get("url", "")).endswith(".subject") and ref.get("reference") in identifiers:
            ext["valueReference"] = {"identifier": identifiers[ref["reference"]],
                                     **({"display": ref["display"]} if "display" in ref
                                        else {})}


def _rewrite_references(node: Any, moved: dict[str, str]) -> None:
    """References to resources that changed type, and the narrative lines that name them."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and value in moved:
                node[key] = moved[value]
            elif key == "div" and isinstance(value, str):
                for old, new in moved.items():
                    value = value.replace(f">{old}<", f">{new}<").replace(f" {old}<",
                                                                            f" {new}<")
                node[key] = value
            else:
                _rewrite_references(value, moved)
    elif isinstance(node, list):
        for item in node:
            _rewrite_references(item, moved)


def _medication_knowledge(r: JsonDict) -> JsonDict:
    r, lifted = common.medication_knowledge(r)
    # R4 `contraindication` is Reference(DetectedIssue), not a clinical use: the link to
    # each use is the cross-version extension, pointing at its Basic.
    extensions = [e for name, value in lifted.items()
                  for e in xver(f"MedicationKnowledge.{name}", value)]
    return _with_extensions(r, extensions)


def _group(r: JsonDict) -> JsonDict:
    extensions = xver("Group.description", r.pop("description")) if "description" in r else []
    return _with_extensions(common.group(r), extensions)


def _as_basic(r: JsonDict) -> JsonDict:
    """A resource of a type R4 lacks (AS_BASIC) -> Basic: `identifier`, `text` and `extension`
    are Basic's own; the first `subject` is also Basic.subject (so R4 servers can search, e.g.
    the uses of a product, as HL7's guide maps `subject`); every other element, and any
    further `subject` (Basic.subject is 0..1), is a cross-version extension."""
    kind = r.pop("resourceType")
    common.no(r, kind, "meta", "implicitRules", "language", "contained", "modifierExtension")
    basic: JsonDict = {"resourceType": "Basic", "id": r.pop("id")}
    if "text" in r:
        basic["text"] = r.pop("text")
    if "identifier" in r:
        basic["identifier"] = r.pop("identifier")
    basic["code"] = {"coding": [{"system": RESOURCE_TYPES, "code": kind, "display": kind}]}
    # Basic.subject is 0..1: the first subject, which for a use that also names products is
    # the generic Medication (the mappers put it first), so `Basic?subject=Medication/ivig`
    # finds every use R5's `ClinicalUseDefinition?subject=` finds.
    if subjects := r.pop("subject", []):
        basic["subject"] = subjects[0]
        if len(subjects) > 1:
            r["subject"] = subjects[1:]
    hoisted: list[JsonDict] = list(r.pop("extension", []))
    extensions = [e for name, value in r.items()
                  for e in xver(f"{kind}.{name}", value, hoisted)]
    return _with_extensions(basic, extensions + hoisted)


def _canonical(r: JsonDict) -> JsonDict:
    """R4 CodeSystem and ValueSet have no approvalDate (R4 definitions, 4.0.1): its
    cross-version extension carries it."""
    r = common.canonical(r, FHIR_VERSION)
    extensions = (xver(f"{r['resourceType']}.approvalDate", r.pop("approvalDate"))
                  if "approvalDate" in r else [])
    return _with_extensions(r, extensions)


def _structure_definition(r: JsonDict) -> JsonDict:
    """The export's own extensions: one placed on an element of a type R4 lacks is placed on
    the Basic that carries it (R4 has no element path into the cross-version extension), or,
    where that element is a datatype (interaction.management, a CodeableConcept), on the
    datatype: there the extension stays inside the cross-version extension's value[x]."""
    r = common.canonical(r, FHIR_VERSION)
    for context in r.get("context", []):
        path = context.get("expression", "")
        head = path.split(".")[0]
        if context.get("type") == "element" and head in AS_BASIC:
            element = _r5(path).element(path) if "." in path else None
            types = element.types if element is not None else ()
            datatype = len(types) == 1 and types[0] not in ("BackboneElement", "Element")
            context["expression"] = types[0] if datatype else "Basic"
    return r


def _with_extensions(r: JsonDict, extensions: list[JsonDict]) -> JsonDict:
    if extensions:
        r["extension"] = [*r.get("extension", []), *extensions]
    return r


_STEPS: dict[str, Callable[[JsonDict], JsonDict]] = {
    "MedicationKnowledge": _medication_knowledge,
    "Medication": common.medication,
    "ClinicalUseDefinition": _as_basic,
    "RegulatedAuthorization": _as_basic,
    "MedicinalProductDefinition": _as_basic,
    "AdverseEvent": common.adverse_event,
    "Group": _group,
    "DocumentReference": common.document_reference,
    "Provenance": common.provenance,
    "CodeSystem": _canonical,
    "ValueSet": _canonical,
    "StructureDefinition": _structure_definition,
}


# -- cross-version extensions ------------------------------------------------------------

def xver(path: str, value: Any, hoisted: list[JsonDict] | None = None) -> list[JsonDict]:
    """The R5 element at `path` (e.g. 'ClinicalUseDefinition.indication') with its JSON value
    (one item or a list) as cross-version extensions, one per item. Extensions found inside a
    backbone go to `hoisted` (the caller puts them on the resource); without it they fail."""
    structure = _r5(path)
    element = structure.element(path)
    if element is None:
        raise NotConvertible(f"{path}: not an R5 element")
    items = value if isinstance(value, list) else [value]
    return [{"url": XVER + path, **_content(structure, element, item, hoisted)}
            for item in items]


def _content(structure: StructureDef, element: ElementDef, value: Any,
             hoisted: list[JsonDict] | None) -> JsonDict:
    """An extension's content for one value of `element`: `value[x]`, or for a backbone
    element one sub-extension per child element, named by it."""
    if element.content_reference:
        target = structure.element(element.content_reference.split("#")[-1])
        if target is None:
            raise NotConvertible(f"{element.path}: no element {element.content_reference}")
        element = target
    if element.types not in (("BackboneElement",), ("Element",)):
        return _value(element, value)
    parts = []
    for key, item in value.items():
        if key == "extension" and hoisted is not None:
            hoisted.extend(item)
            continue
        child, type_code = _child(structure, element, key)
        for one in item if isinstance(item, list) else [item]:
            if type_code:
                parts.append({"url": child.name[:-3], f"value{_cap(type_code)}": one})
            else:
                parts.append({"url": child.name,
                              **_content(structure, child, one, hoisted)})
    return {"extension": parts}


def _child(structure: StructureDef, element: ElementDef, key: str) -> tuple[ElementDef, str]:
    """The child element a JSON key names, and for a choice element the type the key picks."""
    children = structure.children(element.path)
    if key in children:
        return children[key], ""
    for name, child in children.items():
        if child.is_choice and key.startswith(name[:-3]):
            type_code = key[len(name) - 3:]
            if any(_cap(t) == type_code for t in child.types):
                return child, type_code
    raise NotConvertible(f"{element.path}.{key}: not an R5 element (no cross-version form)")


def _value(element: ElementDef, value: Any) -> JsonDict:
    """`value[x]` for a datatype element. CodeableReference, which R4 lacks, is its concept
    (valueCodeableConcept) or its reference (valueReference)."""
    if len(element.types) != 1:
        raise NotConvertible(f"{element.path}: a choice element needs its JSON key")
    type_code = element.types[0]
    if type_code == "CodeableReference":
        if "concept" in value and "reference" in value:
            raise NotConvertible(f"{element.path}: a CodeableReference with both a concept and "
                                 f"a reference has no one R4 value")
        if "concept" in value:
            return {"valueCodeableConcept": value["concept"]}
        return {"valueReference": value["reference"]}
    if type_code in _NOT_IN_R4:
        raise NotConvertible(f"{element.path}: R4 has no datatype {type_code}")
    return {f"value{_cap(type_code)}": value}


_NOT_IN_R4 = {"integer64", "RatioRange", "Availability", "ExtendedContactDetail",
              "VirtualServiceDetail", "MonetaryComponent"}


def _cap(type_code: str) -> str:
    return type_code[:1].upper() + type_code[1:]


def _r5(path: str) -> StructureDef:
    structure = load("R5").structure(path.split(".")[0])
    if structure is None:
        raise NotConvertible(f"{path}: no R5 definition of {path.split('.')[0]}")
    return structure


def extension_urls(resource: JsonDict) -> Iterator[str]:
    """The cross-version extension urls a resource uses (for reports and tests)."""
    for ext in resource.get("extension", []):
        if str(ext.get("url", "")).startswith(XVER):
            yield str(ext["url"])
