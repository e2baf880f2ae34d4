"""The export -> what a reviewer reads, in label order. Reads FHIR only (never source_data/).

Each clinical item carries its curated statement and curation notes (from the resource's
narrative, parsed as text, never re-emitted as markup), its structured fields, every code with
its official meaning and the ValueSets of the export that hold it, the source items its
Provenance cites, and the marks that must stand out: extensions and codes this module does not
know (conflicts, superseded statements, unverified codes are marked that way by the mapping),
ICD-10-CM codes missing from the shipped release or shown with another display, retired or
draft statuses.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from ivig_fhir.approval import SignOff, release_approvals
from ivig_fhir.diff import JsonDict, _dosings, flatten, render

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SYSTEM_NAMES = {
    ICD10CM: "ICD-10-CM",
    "http://snomed.info/sct": "SNOMED CT",
    "http://www.whocc.no/atc": "ATC",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://unitsofmeasure.org": "UCUM",
    "urn:iso:std:iso:3166": "ISO 3166",
    "http://standardterms.edqm.eu": "EDQM Standard Terms",
    "http://hl7.org/fhir/sid/cvx": "CVX",
}
# Extensions whose meaning the page already shows in its own words.
KNOWN_EXTENSIONS = ("/source-locator", "/undesirable-effect-manifestation")
# Words in an extension URL or a code that make a mark stand out as a warning.
ALARM_WORDS = ("conflict", "supersed", "unverified", "candidate", "disput", "retired",
               "withdrawn", "contradict", "void")

# The label order of the page (anchor, heading), as the HL7 ePI guide orders product information.
SECTIONS = (
    ("product", "Product: what it is"),
    ("dosing", "Dosing and administration"),
    ("uses", "Uses, by regulatory status and evidence"),
    ("warnings", "Contraindications and warnings"),
    ("interactions", "Interactions"),
    ("effects", "Undesirable effects and their frequency"),
    ("populations", "Populations"),
)
CUD_SECTION = {"indication": "uses", "contraindication": "warnings", "warning": "warnings",
               "interaction": "interactions", "undesirable-effect": "effects"}


def anchor(key: str) -> str:
    """An HTML id for a key such as `ClinicalUseDefinition/ind-x` or a source locator."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", key).strip("-")


@dataclass
class Code:
    system: str
    system_name: str
    code: str
    display: str  # as the export writes it
    official: str | None  # the code system's own display, where known offline
    official_from: str  # where `official` comes from, or why there is none
    value_sets: list[tuple[str, str]] = field(default_factory=list)  # (anchor, title)
    concept_text: str = ""  # the text of the CodeableConcept that holds it
    problem: str = ""  # not in the release, display differs


@dataclass
class SourceRef:
    anchor: str
    locator: str
    document: str  # anchor of the DocumentReference
    text: str  # document — section — item, as the Provenance says


@dataclass
class Mark:
    label: str
    value: str
    alarm: bool


@dataclass
class Item:
    anchor: str
    key: str
    kind: str  # ClinicalUseDefinition type, or the resource type in lower case
    title: str
    rows: list[tuple[str, list[str]]] = field(default_factory=list)  # the curated statement
    notes: list[str] = field(default_factory=list)  # curation notes
    remarks: list[str] = field(default_factory=list)  # other narrative paragraphs
    fields: list[tuple[str, str]] = field(default_factory=list)
    codes: list[Code] = field(default_factory=list)
    sources: list[SourceRef] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    status: str = ""
    regulatory: str = ""
    evidence: list[str] = field(default_factory=list)
    population: list[str] = field(default_factory=list)
    doses: list[tuple[str, str]] = field(default_factory=list)  # (anchor, dose text)
    search: str = ""

    @property
    def alarmed(self) -> bool:
        return any(m.alarm for m in self.marks)


@dataclass
class Group:
    heading: str
    items: list[Item]


@dataclass
class Section:
    anchor: str
    heading: str
    groups: list[Group]

    @property
    def count(self) -> int:
        return sum(len(g.items) for g in self.groups)


@dataclass
class Cited:
    anchor: str
    locator: str
    text: str
    cited_by: list[tuple[str, str]]  # (item anchor, item title)


@dataclass
class Document:
    anchor: str
    key: str
    title: str
    description: str
    identifiers: list[str]
    cited: list[Cited]


@dataclass
class Definition:
    anchor: str
    key: str
    title: str
    url: str
    version: str
    approval_date: str
    rows: list[tuple[str, str]]


@dataclass
class Review:
    title: str
    release: str
    fhir_version: str
    sections: list[Section]
    documents: list[Document]
    definitions: list[Definition]
    value_sets: list[Definition]
    other: list[Item]
    approvals: list[SignOff]
    approval_notes: list[str]
    counts: dict[str, int]
    terminology_note: str


# --- narrative ------------------------------------------------------------------------------

class _Narrative(HTMLParser):
    """Title, table rows and curation notes of a narrative, as plain text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.rows: list[tuple[str, list[str]]] = []
        self.notes: list[str] = []
        self.paragraphs: list[str] = []
        self._buf: list[str] = []
        self._cell: list[str] = []
        self._where = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("p", "th", "td"):
            self._where, self._buf, self._cell = tag, [], []
        elif tag == "br" and self._where == "td":
            self._cell.append("".join(self._buf).strip())
            self._buf = []

    def handle_endtag(self, tag: str) -> None:
        text = " ".join("".join(self._buf).split())
        if tag == "th":
            self.rows.append((text, []))
        elif tag == "td" and self.rows:
            self.rows[-1][1].extend(v for v in [*self._cell, text] if v)
        elif tag == "p":
            if not self.title and not self.rows and not self.paragraphs:
                self.title = text
            elif text.startswith("Curation note:"):
                self.notes.append(text.removeprefix("Curation note:").strip())
            elif text:
                self.paragraphs.append(text)
        if tag in ("p", "th", "td"):
            self._where, self._buf = "", []

    def handle_data(self, data: str) -> None:
        if self._where:
            self._buf.append(data)


def parse_narrative(resource: JsonDict) -> _Narrative:
    parser = _Narrative()
    parser.feed(str(resource.get("text", {}).get("div", "")))
    parser.close()
    return parser


# --- codes ------------------------------------------------------------------------------------

def _codings(node: Any, text: str = "") -> Iterator[tuple[JsonDict, str]]:
    """Every Coding in a resource with the text of the CodeableConcept that holds it."""
    if isinstance(node, dict):
        if "system" in node and "code" in node and isinstance(node.get("code"), str):
            yield node, text
        here = str(node.get("text") or text) if "coding" in node else text
        for value in node.values():
            yield from _codings(value, here)
    elif isinstance(node, list):
        for value in node:
            yield from _codings(value, text)


class Terminology:
    """Official displays and ValueSet membership, from what ships offline and the export."""

    def __init__(self, resources: dict[str, JsonDict], fhir_version: str) -> None:
        from ivig_fhir import definitions
        from ivig_fhir.terminology.icd10cm import release

        self.icd = release()
        self.fhir: definitions.Definitions | None
        try:
            self.fhir = definitions.load(fhir_version)
        except (OSError, ValueError, KeyError):
            self.fhir = None
        self.local: dict[str, tuple[str, dict[str, str]]] = {}
        self.members: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        self.whole: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for key, r in resources.items():
            if r["resourceType"] == "CodeSystem" and r.get("url"):
                concepts: dict[str, str] = {}
                _concepts(r.get("concept", []), concepts)
                self.local[str(r["url"])] = (str(r.get("title") or r.get("name") or key),
                                             concepts)
        for key, r in resources.items():
            if r["resourceType"] == "ValueSet":
                self._index_value_set(key, r)

    def _index_value_set(self, key: str, vs: JsonDict) -> None:
        ref = (anchor(key), str(vs.get("title") or vs.get("name") or key))
        seen: set[tuple[str, str]] = set()
        for include in vs.get("compose", {}).get("include", []):
            system = str(include.get("system", ""))
            if not include.get("concept") and not include.get("filter") and system:
                self.whole[system].append(ref)
            for c in include.get("concept", []):
                seen.add((system, str(c.get("code"))))

        def walk(contains: list[JsonDict]) -> None:
            for c in contains:
                if "code" in c:
                    seen.add((str(c.get("system", "")), str(c["code"])))
                walk(c.get("contains", []))

        walk(vs.get("expansion", {}).get("contains", []))
        for pair in sorted(seen):
            self.members[pair].append(ref)

    def code(self, coding: JsonDict, text: str) -> Code:
        system, code = str(coding.get("system", "")), str(coding.get("code", ""))
        display = str(coding.get("display") or "")
        official: str | None = None
        source, problem = "", ""
        if system == ICD10CM:
            official = self.icd.description(code)
            source = self.icd.name
            if official is None:
                problem = f"not in the shipped ICD-10-CM release ({self.icd.name})"
        elif system in self.local:
            title, concepts = self.local[system]
            official = concepts.get(code)
            source = f"CodeSystem {title} (this export)"
            if official is None:
                problem = "not defined by the export's CodeSystem"
        elif self.fhir is not None and self.fhir.code_system(system) is not None:
            official = self.fhir.display(system, code)
            source = "FHIR definitions shipped with ivig-fhir"
            if official is None:
                problem = "not in the FHIR code system"
        else:
            source = "no offline source of displays for this system"
        if official and display and display.casefold() != official.casefold():
            problem = problem or "the export's display differs from the official one"
        name = SYSTEM_NAMES.get(system) or (self.local[system][0] if system in self.local
                                            else system)
        value_sets = [*self.members.get((system, code), []), *self.whole.get(system, [])]
        return Code(system, name, code, display, official, source, value_sets, text, problem)


def _concepts(nodes: list[JsonDict], out: dict[str, str]) -> None:
    for c in nodes:
        out[str(c.get("code"))] = str(c.get("display") or "")
        _concepts(c.get("concept", []), out)


# --- marks ------------------------------------------------------------------------------------

def _alarming(*texts: str) -> bool:
    low = " ".join(texts).casefold()
    return any(word in low for word in ALARM_WORDS)


def _extension_marks(node: Any, out: list[Mark]) -> None:
    if isinstance(node, dict):
        for key in ("extension", "modifierExtension"):
            for ext in node.get(key, []) if isinstance(node.get(key), list) else []:
                url = str(ext.get("url", ""))
                if url.endswith(KNOWN_EXTENSIONS):
                    continue
                value = next((v for k, v in ext.items() if k.startswith("value")), None)
                shown = render(value) if value is not None else render(
                    {k: v for k, v in ext.items() if k != "url"})
                name = url.rsplit("/", 1)[-1]
                out.append(Mark(name, shown, _alarming(url, shown) or key == "modifierExtension"))
        for key, value in node.items():
            if key not in ("extension", "modifierExtension"):
                _extension_marks(value, out)
    elif isinstance(node, list):
        for value in node:
            _extension_marks(value, out)


def marks(resource: JsonDict, codes: list[Code], provenances: list[JsonDict]) -> list[Mark]:
    out: list[Mark] = []
    _extension_marks(resource, out)
    for prov in provenances:
        for entity in prov.get("entity", []):
            if entity.get("role") in ("revision", "removal", "quotation"):
                out.append(Mark(f"source {entity['role']}", render(entity.get("what")),
                                entity.get("role") != "quotation"))
            _extension_marks({k: v for k, v in entity.items() if k != "what"}, out)
    for code in codes:
        if _alarming(code.system, code.code, code.display):
            out.append(Mark("code", f"{code.system_name} {code.code} {code.display}", True))
        if code.problem:
            out.append(Mark(f"{code.system_name} {code.code}", code.problem, True))
    status = resource.get("status")
    status_code = (next((c.get("code") for c in status.get("coding", [])), "")
                   if isinstance(status, dict) else status)
    if status_code and status_code not in ("active", "current", "final", "completed",
                                           "unknown"):
        out.append(Mark("status", str(status_code), True))
    return out


# --- the review -------------------------------------------------------------------------------

def _ref_key(ref: Any) -> str:
    return str(ref.get("reference", "")) if isinstance(ref, dict) else ""


def build_review(resources: dict[str, JsonDict], fhir_version: str, title: str) -> Review:
    terms = Terminology(resources, "R4B" if fhir_version.startswith("4") else "R5")
    provenance: dict[str, list[JsonDict]] = defaultdict(list)
    for r in resources.values():
        if r["resourceType"] == "Provenance":
            for target in r.get("target", []):
                provenance[_ref_key(target)].append(r)
    doc_titles = {k: str(r.get("content", [{}])[0].get("attachment", {}).get("title") or k)
                  for k, r in resources.items() if r["resourceType"] == "DocumentReference"}
    cited: dict[str, dict[str, Cited]] = defaultdict(dict)
    used_anchors: set[str] = set()

    def unique(base: str) -> str:
        name, n = base, 1
        while name in used_anchors:
            n += 1
            name = f"{base}-{n}"
        used_anchors.add(name)
        return name

    def sources_of(key: str, item_anchor: str, item_title: str) -> list[SourceRef]:
        out: list[SourceRef] = []
        for prov in provenance.get(key, []):
            for entity in prov.get("entity", []):
                doc = _ref_key(entity.get("what"))
                if not doc.startswith("DocumentReference/"):
                    continue
                locator = next((str(e.get("valueString")) for e in entity.get("extension", [])
                                if str(e.get("url", "")).endswith("/source-locator")), doc)
                text = str(entity.get("what", {}).get("display") or doc)
                entry = cited[doc].get(locator)
                if entry is None:
                    entry = Cited(unique(anchor(f"src-{locator}")), locator, text, [])
                    cited[doc][locator] = entry
                entry.cited_by.append((item_anchor, item_title))
                out.append(SourceRef(entry.anchor, locator, anchor(doc), text))
        return sorted(out, key=lambda s: s.locator)

    def item(key: str, resource: JsonDict, kind: str, fields: dict[str, Any] | None = None,
             heading: str | None = None, cite: bool = True) -> Item:
        story = parse_narrative(resource)
        name = heading or story.title or str(resource.get("id"))
        it = Item(unique(anchor(key)), key, kind, name, story.rows, story.notes)
        it.remarks = story.paragraphs
        shown = fields if fields is not None else flatten(
            {k: v for k, v in resource.items() if k not in ("resourceType", "id", "text")})
        it.fields = [(label, "; ".join(v) if isinstance(v, tuple) else v)
                     for label, v in shown.items()]
        # the publication status is shown as Status, not among the clinical codes
        it.codes = [terms.code(c, t) for c, t in _codings(
            {k: v for k, v in resource.items() if k != "status"})]
        it.sources = sources_of(key, it.anchor, name) if cite else []
        it.marks = marks(resource, it.codes, provenance.get(key, []) if cite else [])
        status = resource.get("status")
        it.status = render(status) if status is not None else ""
        for cat in resource.get("category", []):
            for coding in cat.get("coding", []):
                system = str(coding.get("system", ""))
                label = str(coding.get("display") or coding.get("code"))
                if system.endswith("/use-regulatory-status"):
                    it.regulatory = label
                elif system.endswith("/evidence-basis"):
                    it.evidence.append(label)
                else:  # a category this page has no place for is shown, never dropped
                    it.marks.append(Mark("category", f"{label} ({system})",
                                         _alarming(system, label, str(coding.get("code")))))
        it.population = [str(p.get("display") or p.get("reference"))
                         for p in resource.get("population", [])]
        it.search = " ".join([name, *(v for _, vs in it.rows for v in vs), *it.notes,
                              *it.remarks,
                              *(f"{c.code} {c.display} {c.official or ''}" for c in it.codes),
                              it.regulatory, *it.evidence]).casefold()
        return it

    groups: dict[str, dict[str, list[Item]]] = {a: defaultdict(list) for a, _ in SECTIONS}
    other: list[Item] = []
    definitions: list[Definition] = []
    value_sets: list[Definition] = []
    documents: list[str] = []
    doses: dict[str, list[tuple[str, str]]] = defaultdict(list)  # CUD key or "" -> doses
    for key, r in resources.items():
        kind = r["resourceType"]
        if kind == "ClinicalUseDefinition":
            cud = str(r.get("type", ""))
            it = item(key, r, cud)
            section = CUD_SECTION.get(cud)
            if section is None:
                other.append(it)
            elif section == "uses":
                head = it.regulatory or "Regulatory status not stated"
                groups["uses"][f"{head} — {', '.join(it.evidence) or 'evidence not stated'}"]\
                    .append(it)
            elif section == "warnings":
                groups[section]["Contraindications" if cud == "contraindication"
                                else "Warnings and precautions"].append(it)
            else:
                groups[section][""].append(it)
        elif kind in ("Medication", "MedicationKnowledge"):
            body = {k: v for k, v in r.items() if k not in (
                "resourceType", "id", "text", "indicationGuideline", "administrationGuidelines",
                "clinicalUseIssue")}
            groups["product"][""].append(item(key, r, kind.lower(), flatten(body)))
            if kind == "MedicationKnowledge":
                # keyed as `ivig-fhir diff` keys them, so the changes page links here
                for part, dosage in _dosings(_guidelines(r)):
                    name = str(dosage.get("type", {}).get("text") or part)
                    dose = item(f"{key}#dosing/{part}", dosage, "dosing", flatten(dosage), name,
                                cite=False)
                    groups["dosing"][""].append(dose)
                    texts = "; ".join(str(d.get("text")) for d in dosage.get("dosage", [])
                                      if d.get("text"))
                    scope = part.rsplit("/", 1)[0]
                    for target in ([""] if scope == "general" else scope.split("+")):
                        doses[target].append((dose.anchor, f"{name}: {texts}" if texts
                                              else name))
                if "preparationInstruction" in r:
                    groups["dosing"][""].append(item(
                        f"{key}#preparation", {}, "dosing",
                        {"preparation": str(r["preparationInstruction"])},
                        "Preparation and administration", cite=False))
        elif kind == "Group":
            groups["populations"][""].append(item(key, r, "population"))
        elif kind == "DocumentReference":
            documents.append(key)
        elif kind in ("CodeSystem", "StructureDefinition", "ValueSet") or "url" in r:
            target = value_sets if kind == "ValueSet" else definitions
            target.append(_definition(key, r, unique(anchor(key))))
        elif kind != "Provenance":
            other.append(item(key, r, kind.lower()))
    for group in groups["uses"].values():
        for it in group:
            specific = doses.get(it.key, [])
            it.doses = specific or [(a, f"{t} (the regimen given for all uses)")
                                    for a, t in doses.get("", [])]
    sections = [Section(a, h, [Group(g, sorted(its, key=lambda i: i.title.casefold()) if a in (
        "uses", "effects") else its) for g, its in sorted(groups[a].items())])
                for a, h in SECTIONS]
    docs = [Document(anchor(k), k, doc_titles[k], str(resources[k].get("description", "")),
                     [render(i) for i in resources[k].get("identifier", [])],
                     sorted(cited[k].values(), key=lambda c: c.locator))
            for k in documents]
    for doc in docs:
        used_anchors.add(doc.anchor)
    approvals = release_approvals(resources.values())
    notes = [note for r in resources.values() if r["resourceType"] == "Provenance"
             and any(a.get("type") for a in r.get("agent", []))
             for label, values in parse_narrative(r).rows if label == "Note" for note in values]
    counts: dict[str, int] = defaultdict(int)
    for r in resources.values():
        counts[str(r["resourceType"])] += 1
    release = next((str(e["what"]["identifier"]["value"]) for r in resources.values()
                    if r["resourceType"] == "Provenance" for e in r.get("entity", [])
                    if str(e.get("what", {}).get("identifier", {}).get("system", ""))
                    .endswith("/identifier/content-release")), "unknown")
    return Review(title, release, fhir_version, sections, docs, definitions, value_sets, other,
                  approvals, notes, dict(sorted(counts.items())),
                  f"ICD-10-CM descriptions from {terms.icd.name}")


def _guidelines(knowledge: JsonDict) -> list[JsonDict]:
    """Dosing guidelines in the R5 shape (`indicationGuideline`); an R4B export keeps them in
    `administrationGuidelines`, one level flatter."""
    if "indicationGuideline" in knowledge:
        return list(knowledge["indicationGuideline"])
    out = []
    for guide in knowledge.get("administrationGuidelines", []):
        ref = guide.get("indicationReference")
        out.append({"indication": [{"reference": ref}] if ref else [],
                    "dosingGuideline": [{"dosage": guide.get("dosage", [])}]})
    return out


def _definition(key: str, r: JsonDict, id_: str) -> Definition:
    rows: list[tuple[str, str]] = []
    for c in r.get("concept", []):
        rows.append((str(c.get("code")), f"{c.get('display', '')} — {c.get('definition', '')}"))
    for inc in r.get("compose", {}).get("include", []):
        for c in inc.get("concept", []):
            rows.append((str(c.get("code")), f"{c.get('display', '')} ({inc.get('system')})"))
        if not inc.get("concept"):
            rows.append(("include", render({k: v for k, v in inc.items()})))
    if r["resourceType"] == "StructureDefinition":
        rows.append(("context", render(r.get("context"))))
    if r.get("description"):
        rows.insert(0, ("description", str(r["description"])))
    return Definition(id_, key, str(r.get("title") or r.get("name") or key), str(r.get("url")),
                      str(r.get("version", "")), str(r.get("approvalDate", "")), rows)
