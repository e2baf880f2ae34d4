"""Hand-made broken variants of the export, one small named function each.

A mutation gets the parsed export Bundle (a fresh deep copy) and breaks it in place, or, for
JSON-level breaks, gets the serialised text and returns broken text. Each one breaks exactly
one rule; the parity tests ask both validators about every one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

JsonDict = dict[str, Any]
UCUM = "http://unitsofmeasure.org"


@dataclass(frozen=True)
class Mutation:
    id: str
    what: str
    change: Callable[[Any], Any]
    raw: bool = False  # works on the JSON text instead of the parsed Bundle

    def apply(self, bundle: JsonDict) -> str:
        """The broken document as text."""
        if self.raw:
            return str(self.change(json.dumps(bundle, indent=2, ensure_ascii=False)))
        copy = json.loads(json.dumps(bundle))
        self.change(copy)
        return json.dumps(copy, indent=2, ensure_ascii=False)


MUTATIONS: list[Mutation] = []

# The mutated files leave out the export's two extension StructureDefinitions (the engine spends
# seconds per file failing to snapshot them offline; the export file, validated in the same
# referee run, lends them to all files). These mutations are about those definitions: keep them.
NEEDS_DEFINITIONS = frozenset({"extension-value-wrong-type"})


def mutation(fn: Callable[[JsonDict], None]) -> Callable[[JsonDict], None]:
    MUTATIONS.append(Mutation(fn.__name__.replace("_", "-"), (fn.__doc__ or "").strip(), fn))
    return fn


def raw_mutation(fn: Callable[[str], str]) -> Callable[[str], str]:
    MUTATIONS.append(Mutation(fn.__name__.replace("_", "-"), (fn.__doc__ or "").strip(), fn,
                              raw=True))
    return fn


def entry(b: JsonDict, rtype: str, **match: Any) -> JsonDict:
    """The first entry whose resource has this type (and these top-level values)."""
    for e in b["entry"]:
        r = e["resource"]
        if r.get("resourceType") == rtype and all(r.get(k) == v for k, v in match.items()):
            return e  # type: ignore[no-any-return]
    raise LookupError(f"no {rtype} {match} in the export")


def res(b: JsonDict, rtype: str, **match: Any) -> JsonDict:
    return entry(b, rtype, **match)["resource"]  # type: ignore[no-any-return]


def knowledge(b: JsonDict) -> JsonDict:
    return res(b, "MedicationKnowledge")


def dose_range(b: JsonDict) -> JsonDict:
    mk = knowledge(b)
    return mk["indicationGuideline"][0]["dosingGuideline"][0]["dosage"][0]["dosage"][0][
        "doseAndRate"][0]["doseRange"]  # type: ignore[no-any-return]


def source_locator(b: JsonDict) -> JsonDict:
    """The first source-locator extension (on a Provenance.entity)."""
    return next(e["extension"][0] for e in res(b, "Provenance")["entity"]  # type: ignore[no-any-return]
                if "extension" in e)


def div_of(r: JsonDict) -> str:
    return r["text"]["div"]  # type: ignore[no-any-return]


# --- cardinality -----------------------------------------------------------------------------

@mutation
def array_for_single_value(b: JsonDict) -> None:
    """MedicationKnowledge.status (0..1) given as a JSON array."""
    mk = knowledge(b)
    mk["status"] = [mk["status"]]


@mutation
def object_for_repeating_element(b: JsonDict) -> None:
    """ClinicalUseDefinition.subject (0..*) given as an object, not an array."""
    cud = res(b, "ClinicalUseDefinition", type="indication")
    cud["subject"] = cud["subject"][0]


@mutation
def missing_required_ae_actuality(b: JsonDict) -> None:
    """AdverseEvent.actuality (1..1) removed."""
    del res(b, "AdverseEvent")["actuality"]


@mutation
def missing_required_cud_type(b: JsonDict) -> None:
    """ClinicalUseDefinition.type (1..1) removed."""
    del res(b, "ClinicalUseDefinition", type="indication")["type"]


@mutation
def missing_required_provenance_target(b: JsonDict) -> None:
    """Provenance.target (1..*) removed."""
    del res(b, "Provenance")["target"]


@mutation
def missing_required_status(b: JsonDict) -> None:
    """DocumentReference.status (1..1) removed."""
    del res(b, "DocumentReference")["status"]


# --- unknown elements, JSON types ------------------------------------------------------------

@mutation
def unknown_element(b: JsonDict) -> None:
    """An element MedicationKnowledge does not have."""
    knowledge(b)["colour"] = "red"


@mutation
def r4b_only_element(b: JsonDict) -> None:
    """MedicationKnowledge.synonym: R4B has it, R5 renamed it to name."""
    knowledge(b)["synonym"] = ["IVIG"]


@mutation
def wrong_json_type_decimal_as_string(b: JsonDict) -> None:
    """Quantity.value (decimal) given as a JSON string."""
    dose_range(b)["low"]["value"] = "0.4"


@mutation
def wrong_json_type_boolean_as_string(b: JsonDict) -> None:
    """CodeSystem.experimental (boolean) given as the string "false"."""
    res(b, "CodeSystem")["experimental"] = "false"


@mutation
def wrong_json_type_object_for_string(b: JsonDict) -> None:
    """MedicationKnowledge.preparationInstruction (markdown) given as an object."""
    knowledge(b)["preparationInstruction"] = {"text": "at home"}


@mutation
def integer_with_fraction(b: JsonDict) -> None:
    """CodeSystem.count (unsignedInt) given as 2.5."""
    res(b, "CodeSystem")["count"] = 2.5


@mutation
def negative_unsigned_int(b: JsonDict) -> None:
    """CodeSystem.count (unsignedInt) given as -1."""
    res(b, "CodeSystem")["count"] = -1


@mutation
def missing_resource_type(b: JsonDict) -> None:
    """An entry's resource without resourceType."""
    del knowledge(b)["resourceType"]


@mutation
def unknown_resource_type(b: JsonDict) -> None:
    """An entry's resource of a type FHIR R5 does not have."""
    r = res(b, "Medication")
    r["resourceType"] = "Medicine"


@mutation
def null_value(b: JsonDict) -> None:
    """MedicationKnowledge.status is JSON null (FHIR JSON has no nulls)."""
    knowledge(b)["status"] = None


@mutation
def empty_string_value(b: JsonDict) -> None:
    """MedicationKnowledge.preparationInstruction is an empty string."""
    knowledge(b)["preparationInstruction"] = ""


@mutation
def empty_array(b: JsonDict) -> None:
    """MedicationKnowledge.name is an empty array."""
    knowledge(b)["name"] = []


@mutation
def empty_object(b: JsonDict) -> None:
    """MedicationKnowledge.author is an empty object."""
    knowledge(b)["author"] = {}


# --- primitive formats -------------------------------------------------------------------------

@mutation
def invalid_date(b: JsonDict) -> None:
    """CodeSystem.date is not a calendar date."""
    res(b, "CodeSystem")["date"] = "2026-13-45"


@mutation
def instant_without_timezone(b: JsonDict) -> None:
    """Provenance.recorded (instant) without a time zone."""
    res(b, "Provenance")["recorded"] = "2026-12-03T00:00:00"


@mutation
def instant_date_only(b: JsonDict) -> None:
    """Provenance.recorded (instant) given as a date."""
    res(b, "Provenance")["recorded"] = "2026-12-03"


@mutation
def datetime_free_text(b: JsonDict) -> None:
    """meta.lastUpdated (instant) as free text."""
    knowledge(b)["meta"] = {"lastUpdated": "yesterday"}


@mutation
def illegal_id_characters(b: JsonDict) -> None:
    """A resource id with an underscore and a '!' (ids are [A-Za-z0-9-.]{1,64})."""
    e = entry(b, "Group")
    e["resource"]["id"] = "pop_infants!"


@mutation
def id_too_long(b: JsonDict) -> None:
    """A resource id of 65 characters."""
    e = entry(b, "Group")
    new = "p" * 65
    e["resource"]["id"] = new
    e["fullUrl"] = e["fullUrl"].rsplit("/", 1)[0] + "/" + new
    e["request"]["url"] = "Group/" + new


@mutation
def code_with_leading_space(b: JsonDict) -> None:
    """AdverseEvent.actuality " potential" (a code has no leading whitespace)."""
    res(b, "AdverseEvent")["actuality"] = " potential"


@mutation
def uri_with_space(b: JsonDict) -> None:
    """Identifier.system (uri) containing a space."""
    knowledge(b)["identifier"][0]["system"] = (
        "https://ivig-fhir.org/fhir/identifier/medication knowledge")


@mutation
def canonical_with_space(b: JsonDict) -> None:
    """meta.profile (canonical) containing a space."""
    knowledge(b)["meta"] = {"profile": ["http://example.org/fhir/StructureDefinition/my profile"]}


# --- required bindings -----------------------------------------------------------------------

@mutation
def bad_code_status(b: JsonDict) -> None:
    """MedicationKnowledge.status 'retired' (required: active | entered-in-error | inactive)."""
    knowledge(b)["status"] = "retired"


@mutation
def bad_code_cud_type(b: JsonDict) -> None:
    """ClinicalUseDefinition.type 'side-effect' (not in clinical-use-definition-type)."""
    res(b, "ClinicalUseDefinition", type="undesirable-effect")["type"] = "side-effect"


@mutation
def bad_code_ae_status(b: JsonDict) -> None:
    """AdverseEvent.status 'done' (required adverse-event-status)."""
    res(b, "AdverseEvent")["status"] = "done"


@mutation
def bad_code_group_membership(b: JsonDict) -> None:
    """Group.membership 'members-only' (required: definitional | enumerated)."""
    res(b, "Group")["membership"] = "members-only"


@mutation
def bad_code_narrative_status(b: JsonDict) -> None:
    """Narrative.status 'automatic' (required narrative-status)."""
    knowledge(b)["text"]["status"] = "automatic"


@mutation
def bad_code_bundle_type(b: JsonDict) -> None:
    """Bundle.type 'transactions'."""
    b["type"] = "transactions"


@mutation
def bad_code_http_verb(b: JsonDict) -> None:
    """Bundle.entry.request.method 'UPSERT'."""
    entry(b, "Medication")["request"]["method"] = "UPSERT"


@mutation
def bad_code_currency(b: JsonDict) -> None:
    """Money.currency 'USX' (required ISO 4217 currencies)."""
    knowledge(b)["cost"][0]["costMoney"]["currency"] = "USX"


@mutation
def bad_code_language(b: JsonDict) -> None:
    """Attachment.language 'english' (required BCP-47 all-languages)."""
    res(b, "DocumentReference")["content"][0]["attachment"]["language"] = "english"


@mutation
def bad_code_mime_type(b: JsonDict) -> None:
    """Attachment.contentType 'plain text' (required BCP-13 MIME types)."""
    res(b, "DocumentReference")["content"][0]["attachment"]["contentType"] = "plain text"


# --- references ------------------------------------------------------------------------------

@mutation
def broken_reference(b: JsonDict) -> None:
    """ClinicalUseDefinition.subject points at a urn:uuid no entry of the Bundle has (a relative
    Medication/x that no entry has is no error in a transaction, which may reference what the
    server holds: the build refuses it in its own export, tests/test_build.py)."""
    res(b, "ClinicalUseDefinition", type="indication")["subject"][0]["reference"] = (
        "urn:uuid:6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f")


@mutation
def reference_to_wrong_type(b: JsonDict) -> None:
    """MedicationKnowledge.associatedMedication (Reference(Medication)) points at a Group."""
    group = res(b, "Group")
    knowledge(b)["associatedMedication"][0]["reference"] = f"Group/{group['id']}"


@mutation
def reference_malformed(b: JsonDict) -> None:
    """A reference that is neither Type/id nor a URL."""
    res(b, "AdverseEvent")["subject"]["reference"] = "the IVIG recipients"


# --- invariants ------------------------------------------------------------------------------

@mutation
def cud_two_issue_kinds(b: JsonDict) -> None:
    """cud-1: an undesirable-effect ClinicalUseDefinition also given an indication."""
    ue = res(b, "ClinicalUseDefinition", type="undesirable-effect")
    ind = res(b, "ClinicalUseDefinition", type="indication")
    ue["indication"] = ind["indication"]


@mutation
def range_low_above_high(b: JsonDict) -> None:
    """rng-2: a dose range 3.0-2.0 g/kg."""
    dose_range(b)["low"]["value"] = 3.0


@mutation
def quantity_code_without_system(b: JsonDict) -> None:
    """qty-3: a Quantity with a code but no system."""
    del dose_range(b)["high"]["system"]


@mutation
def invalid_ucum_unit(b: JsonDict) -> None:
    """A UCUM Quantity whose code 'g/kgg' is not UCUM."""
    low = dose_range(b)["low"]
    low["code"] = low["unit"] = "g/kgg"


@mutation
def invalid_ucum_unit_syntax(b: JsonDict) -> None:
    """A UCUM Quantity whose code 'mg//kg' is not well-formed UCUM."""
    high = dose_range(b)["high"]
    high["code"] = "mg//kg"


@mutation
def extension_without_value(b: JsonDict) -> None:
    """ext-1: an extension with a url and neither a value nor extensions."""
    del source_locator(b)["valueString"]


@mutation
def extension_without_url(b: JsonDict) -> None:
    """Extension.url (1..1) removed."""
    del source_locator(b)["url"]


@mutation
def extension_with_value_and_extension(b: JsonDict) -> None:
    """ext-1: an extension with a value and nested extensions."""
    source_locator(b)["extension"] = [{"url": "part", "valueString": "x"}]


@mutation
def extension_value_wrong_type(b: JsonDict) -> None:
    """The source-locator extension (its definition says valueString) given a valueInteger."""
    ext = source_locator(b)
    del ext["valueString"]
    ext["valueInteger"] = 7


@mutation
def duplicate_resource_identity(b: JsonDict) -> None:
    """Two entries with the same resource type and id (and request url)."""
    groups = [e for e in b["entry"] if e["resource"]["resourceType"] == "Group"]
    second = groups[1]
    first_id = groups[0]["resource"]["id"]
    second["resource"]["id"] = first_id
    second["request"]["url"] = f"Group/{first_id}"
    second["fullUrl"] = groups[0]["fullUrl"]


# --- narrative -------------------------------------------------------------------------------

@mutation
def script_in_narrative(b: JsonDict) -> None:
    """A <script> element inside Narrative.div."""
    mk = knowledge(b)
    mk["text"]["div"] = div_of(mk).replace("</div>", "<script>alert(1)</script></div>", 1)


@mutation
def onclick_in_narrative(b: JsonDict) -> None:
    """An onclick attribute inside Narrative.div."""
    mk = knowledge(b)
    mk["text"]["div"] = div_of(mk).replace("<p>", '<p onclick="steal()">', 1)


@mutation
def narrative_without_xhtml_namespace(b: JsonDict) -> None:
    """Narrative.div without the XHTML namespace."""
    mk = knowledge(b)
    mk["text"]["div"] = div_of(mk).replace(' xmlns="http://www.w3.org/1999/xhtml"', "", 1)


@mutation
def narrative_not_well_formed(b: JsonDict) -> None:
    """Narrative.div with an unclosed element."""
    mk = knowledge(b)
    mk["text"]["div"] = div_of(mk).replace("</p>", "", 1)


@mutation
def narrative_empty_div(b: JsonDict) -> None:
    """txt-2: a Narrative.div with no text."""
    knowledge(b)["text"]["div"] = '<div xmlns="http://www.w3.org/1999/xhtml"></div>'


@mutation
def narrative_with_iframe(b: JsonDict) -> None:
    """An <iframe> (not allowed in FHIR narrative) inside Narrative.div."""
    mk = knowledge(b)
    mk["text"]["div"] = div_of(mk).replace(
        "</div>", '<iframe src="https://example.org/"></iframe></div>', 1)


# --- Bundle ----------------------------------------------------------------------------------

@mutation
def duplicate_full_url(b: JsonDict) -> None:
    """Two entries share a fullUrl."""
    b["entry"][1]["fullUrl"] = b["entry"][0]["fullUrl"]


@mutation
def missing_request_in_transaction(b: JsonDict) -> None:
    """bdl-3: a transaction entry without request."""
    del entry(b, "Medication")["request"]


@mutation
def request_without_url(b: JsonDict) -> None:
    """Bundle.entry.request.url (1..1) removed."""
    del entry(b, "Medication")["request"]["url"]


@mutation
def full_url_not_absolute(b: JsonDict) -> None:
    """An entry fullUrl that is a relative reference."""
    e = entry(b, "Medication")
    e["fullUrl"] = "Medication/" + e["resource"]["id"]


@mutation
def full_url_other_resource(b: JsonDict) -> None:
    """An entry fullUrl naming another resource id than the entry's resource."""
    e = entry(b, "Medication")
    e["fullUrl"] = e["fullUrl"] + "-other"


@mutation
def entry_without_resource_or_request(b: JsonDict) -> None:
    """bdl-5 and bdl-3: an empty-handed entry (only a fullUrl)."""
    b["entry"].append({"fullUrl": "https://ivig-fhir.org/fhir/Basic/nothing"})


# --- JSON text -------------------------------------------------------------------------------

@raw_mutation
def not_json(text: str) -> str:
    """The document cut off in the middle."""
    return text[: len(text) // 2]


@raw_mutation
def trailing_comma(text: str) -> str:
    """A trailing comma before the Bundle's closing brace."""
    body = text.rstrip()
    assert body.endswith("}")
    return body[:-1].rstrip() + ",\n}\n"


@raw_mutation
def duplicate_json_key(text: str) -> str:
    """The same property twice in one object (Bundle.type)."""
    return text.replace('"type": "transaction"', '"type": "transaction",\n  "type": "batch"', 1)
