"""What a decision-support rule sees for a patient's coded problems, read from the export.

A rule matches a patient's code against the ValueSet linked from each coded concept (extension
concept-value-set, whose expansion lists every code that counts); a CodeableConcept without the
link matches on its own codings. This stage reads only the exported Bundle, never the curated
YAML, so it answers for exactly what a hospital would import.

For each code: every indication, contraindication, warning, interaction and undesirable effect
(ClinicalUseDefinition), every population (Group) and every authorization (RegulatedAuthorization)
with a concept the code falls in, with the regulatory status and evidence the export states.

The codes given together are one patient's problems. An indication or contraindication names a
condition and may name comorbidities: FHIR means the use holds for the condition in patients with
that comorbidity, so a hit is complete only when the patient's codes reach every part of it. A
hit on one part alone (multiple sclerosis alone for "optic neuritis in multiple sclerosis", a
transplant status alone for "transplant rejection") says what else the use needs (`needs`): a
rule that fired on it would reach patients who do not have the disease.

A use restricted in words (an uncoded disease status such as "chronic") or to a population
(adults, 15 years and older) is complete only when the patient's codes reach that too; otherwise
it is partial and says what to confirm in the record.

A code that puts the patient in a Group also reaches every issue that names the Group as its
population (role `population`) or as one of a warning's risk factors (extension `risk-factor`,
role `risk factor`, e.g. diabetes for the renal boxed warning; the warning itself applies to
every patient).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ivig_fhir.problems import BadInput, Problem
from ivig_fhir.terminology.systems import ICD10CM, NAMES, SNOMED

JsonDict = dict[str, Any]
LINK = "/StructureDefinition/concept-value-set"
_ICD = re.compile(r"[A-Z]\d[0-9A-Z](\.[0-9A-Z]{1,4})?")
# Where a ClinicalUseDefinition keeps its coded concepts, by the part of the issue they play.
_ROLES = {
    "indication.diseaseSymptomProcedure": "condition",
    "indication.comorbidity": "comorbidity",
    "contraindication.diseaseSymptomProcedure": "condition",
    "contraindication.comorbidity": "comorbidity",
    "warning.code": "condition",
    "interaction.interactant": "interactant",
    "interaction.effect": "effect",
    "undesirableEffect.symptomConditionEffect": "reaction",
    "undesirableEffect.extension": "sign",
    "characteristic.valueCodeableConcept": "characteristic",
    "indication": "authorized indication",
}
_NOT_CONDITIONS = frozenset({"text", "meta", "category", "subject", "status", "intendedEffect",
                             "type", "code"})
_MATCHED_TYPES = ("ClinicalUseDefinition", "Group", "RegulatedAuthorization")


@dataclass(frozen=True)
class PatientCode:
    system: str
    code: str

    def __str__(self) -> str:
        return f"{self.system}|{self.code}"


@dataclass(frozen=True)
class Hit:
    resource: str  # Type/id
    kind: str  # indication, warning, ..., population, authorization
    role: str  # condition, comorbidity, reaction, ...
    concept: str  # the concept's text
    via: str  # the ValueSet canonical, or 'coding'
    status: tuple[str, ...] = ()  # regulatory status, evidence, recommendation (category text)
    disease_status: str | None = None
    populations: tuple[str, ...] = ()
    needs: str | None = None  # what else the use requires that the patient's codes do not reach

    @property
    def complete(self) -> bool:
        return self.needs is None


@dataclass
class Answer:
    code: PatientCode
    display: str | None
    hits: list[Hit] = field(default_factory=list)


def parse_code(text: str) -> PatientCode:
    """'G70.01', 'G7001', '91637004' or 'system|code', the system as its URI or its short name
    ('CVX|03' for a vaccine order: a vaccine code is not a problem, but it is what a rule on an
    order would hold)."""
    if "|" in text:
        system, code = text.split("|", 1)
        if not system or not code:
            raise BadInput(f"{text!r}: write a code as CODE or SYSTEM|CODE")
        by_name = {name.upper().replace(" ", ""): uri for uri, name in NAMES.items()}
        uri = by_name.get(system.upper().replace(" ", ""), system)
        # A typo in the system would otherwise answer "0 matches": a patient without warnings.
        if uri not in NAMES and not re.fullmatch(r"(https?://|urn:)\S+", uri):
            raise BadInput(f"{text!r}: {system!r} is neither a system URI nor one of "
                           f"{', '.join(sorted(NAMES.values()))}")
        if uri == ICD10CM:
            try:
                icd = parse_code(code) if not code.isdigit() else None
            except BadInput:
                icd = None
            if icd is None or icd.system != ICD10CM:
                raise BadInput(f"{text!r}: {code!r} is not an ICD-10-CM code (e.g. G70.01)")
            return icd
        if uri == SNOMED and not code.isdigit():
            raise BadInput(f"{text!r}: a SNOMED CT id is digits only")
        return PatientCode(uri, code)
    code = text.strip().upper()
    if code.isdigit():
        return PatientCode(SNOMED, code)
    if "." not in code and len(code) > 3:
        code = f"{code[:3]}.{code[3:]}"
    if _ICD.fullmatch(code):
        return PatientCode(ICD10CM, code)
    raise BadInput(f"{text!r} is neither an ICD-10-CM code (e.g. G70.01) nor a SNOMED CT id; "
                   "give SYSTEM|CODE for another system")


def load_bundle(path: Path) -> JsonDict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInput(f"cannot read the export {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise BadInput(f"{path} is not a FHIR Bundle (build writes output/ivig-fhir-bundle.json)")
    return data


def match(bundle: JsonDict, codes: list[PatientCode]) -> tuple[list[Answer], list[Problem]]:
    resources = [e["resource"] for e in bundle.get("entry", [])
                 if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    sets = _expansions(resources)
    problems = []
    answers = []
    systems = {system for codes_ in sets.values() for system, _ in codes_}
    for code in codes:
        display = _display(code, sets)
        if code.system not in systems:
            problems.append(Problem(str(code), None, None, "system", f"no ValueSet of the export "
                                    f"holds a code of {code.system}: nothing can match it",
                                    "warning", "match"))
        if display is None and code.system == ICD10CM:
            from ivig_fhir.terminology import icd10cm

            display = icd10cm.release().description(code.code)
            if display is None:
                problems.append(Problem(str(code), None, None, "code", f"{code.code} is not in "
                                        "the ICD-10-CM release", "warning", "match"))
        answer = Answer(code, display)
        for res in resources:
            if res.get("resourceType") in _MATCHED_TYPES:
                answer.hits += _hits(res, code, sets)
        answer.hits += _through_populations(answer.hits, resources)
        answers.append(answer)
    reached: dict[str, set[str]] = {}
    for answer in answers:
        for hit in answer.hits:
            reached.setdefault(hit.resource, set()).add(hit.role)
    by_key = {f"{r.get('resourceType')}/{r.get('id')}": r for r in resources}
    for answer in answers:
        answer.hits = [_completed(hit, by_key[hit.resource], reached[hit.resource])
                       for hit in answer.hits]
    return answers, problems


def _through_populations(hits: list[Hit], resources: list[JsonDict]) -> list[Hit]:
    """The issues whose population is a Group the patient's code put them in."""
    groups = {f"Group/{r.get('id')}": r for r in resources if r.get("resourceType") == "Group"}
    found = []
    for hit in hits:
        group = groups.get(hit.resource)
        if hit.kind != "population" or group is None:
            continue
        risk = any(c.get("code") == "risk-factor"
                   for c in group.get("code", {}).get("coding", []))
        for res in resources:
            if res.get("resourceType") != "ClinicalUseDefinition" or not any(
                    p.get("reference") == hit.resource for p in _groups_of(res)):
                continue
            found.append(Hit(f"ClinicalUseDefinition/{res.get('id')}", res.get("type", "issue"),
                             "risk factor" if risk else "population",
                             f"{group.get('name', '')}: {hit.concept}", hit.via, _status(res),
                             _disease_status(res), (hit.resource,)))
    return found


def _groups_of(res: JsonDict) -> list[JsonDict]:
    """The Groups an issue names: its populations and its warning's risk factors."""
    return [*res.get("population", []), *(
        e["valueReference"] for e in res.get("extension", [])
        if isinstance(e, dict) and str(e.get("url", "")).endswith("/risk-factor")
        and isinstance(e.get("valueReference"), dict))]


def _completed(hit: Hit, res: JsonDict, reached: set[str]) -> Hit:
    """The hit, with `needs` naming each part of its use the patient's codes do not reach."""
    missing = [what for role, what in _parts(res).items() if role not in reached]
    return replace(hit, needs="; ".join(missing)) if missing else hit


def _parts(res: JsonDict) -> dict[str, str]:
    """role -> how to say it, for each part an indication or contraindication requires."""
    for name in ("indication", "contraindication"):
        part = res.get(name)
        if res.get("resourceType") != "ClinicalUseDefinition" or not isinstance(part, dict):
            continue
        parts = {}
        condition = part.get("diseaseSymptomProcedure", {}).get("concept")
        prevention = any(c.get("code") == "prevention" for c in
                         part.get("intendedEffect", {}).get("concept", {}).get("coding", []))
        if isinstance(condition, dict) and _matchable(condition):
            parts["condition"] = f"the condition {condition.get('text', '')!r}"
        elif isinstance(condition, dict) and not prevention:
            parts["condition"] = (f"the condition {condition.get('text', '')!r} (not coded: "
                                  "confirm it in the patient's record)")
        # else: prevention names what is prevented, not a problem of the patient: the patient
        # is the comorbidity's, narrowed by the disease status below.
        # A restriction in words ("chronic", "refractory to standard therapy") narrows the use
        # below what its codes say: no code can show it, so the record must.
        status = part.get("diseaseStatus", {}).get("concept", {})
        if status.get("text") and not _matchable(status):
            parts["status"] = (f"the disease status {status['text']!r} (not coded: "
                               "confirm it in the patient's record)")
        # A population (adults, 15 years and older, infants) no coded problem places the
        # patient in: age and the like are for the record to confirm.
        groups = [p.get("display") or p.get("reference", "") for p in res.get("population", [])
                  if isinstance(p, dict)]
        if groups:
            parts["population"] = ("the population " + " or ".join(repr(g) for g in groups)
                                   + " (confirm the patient is in it)")
        comorbid = [c.get("concept", {}) for c in part.get("comorbidity", [])
                    if isinstance(c, dict)]
        if comorbid:
            parts["comorbidity"] = "a comorbidity: " + " or ".join(
                repr(c.get("text", "")) for c in comorbid)
        return parts
    return {}


def _matchable(concept: JsonDict) -> bool:
    return bool(concept.get("coding")) or any(
        str(e.get("url", "")).endswith(LINK) for e in concept.get("extension", [])
        if isinstance(e, dict))


def _expansions(resources: list[JsonDict]) -> dict[str, dict[tuple[str, str], str]]:
    """ValueSet canonical (url and url|version) -> {(system, code): display}."""
    out: dict[str, dict[tuple[str, str], str]] = {}
    for res in resources:
        if res.get("resourceType") != "ValueSet":
            continue
        codes = {(c["system"], c["code"]): c.get("display", "")
                 for c in _contains(res.get("expansion", {}).get("contains", []))}
        out[res["url"]] = codes
        if res.get("version"):
            out[f"{res['url']}|{res['version']}"] = codes
    return out


def _contains(items: list[JsonDict]) -> Iterator[JsonDict]:
    for item in items:
        if "code" in item and "system" in item:
            yield item
        yield from _contains(item.get("contains", []))


def _display(code: PatientCode, sets: dict[str, dict[tuple[str, str], str]]) -> str | None:
    for codes in sets.values():
        if (code.system, code.code) in codes:
            return codes[(code.system, code.code)]
    return None


def _hits(res: JsonDict, code: PatientCode,
          sets: dict[str, dict[tuple[str, str], str]]) -> list[Hit]:
    rtype = res["resourceType"]
    kind = res.get("type", "issue") if rtype == "ClinicalUseDefinition" else {
        "Group": "population", "RegulatedAuthorization": "authorization"}[rtype]
    found = []
    for path, concept in _concepts(res, ""):
        via = _matches(concept, code, sets)
        if via is None:
            continue
        role = next((r for p, r in _ROLES.items() if path.startswith(p)), path)
        found.append(Hit(f"{rtype}/{res.get('id')}", kind, role, concept.get("text", ""), via,
                         _status(res), _disease_status(res),
                         tuple(p.get("reference", "") for p in res.get("population", []))))
    return found


def _matches(concept: JsonDict, code: PatientCode,
             sets: dict[str, dict[tuple[str, str], str]]) -> str | None:
    links = [e.get("valueCanonical") for e in concept.get("extension", [])
             if isinstance(e, dict) and str(e.get("url", "")).endswith(LINK)]
    for link in links:
        if link in sets and (code.system, code.code) in sets[link]:
            return str(link)
    if not links and any(c.get("system") == code.system and c.get("code") == code.code
                         for c in concept.get("coding", [])):
        return "coding"
    return None


def _concepts(node: Any, path: str) -> Iterator[tuple[str, JsonDict]]:
    """Every CodeableConcept below `node` (a dict with coding or text), with its path."""
    if isinstance(node, list):
        for item in node:
            yield from _concepts(item, path)
        return
    if not isinstance(node, dict):
        return
    if "coding" in node or any(str(e.get("url", "")).endswith(LINK)
                               for e in node.get("extension", []) if isinstance(e, dict)):
        yield path, node
        return
    for key, value in node.items():
        # Labels of the issue, not conditions: only warning.code names one.
        if key in _NOT_CONDITIONS and not (key == "code" and path.endswith("warning")):
            continue
        yield from _concepts(value, f"{path}.{key}" if path else key)


def _status(res: JsonDict) -> tuple[str, ...]:
    return tuple(c.get("text") or (c.get("coding") or [{}])[0].get("display", "")
                 for c in res.get("category", []) if isinstance(c, dict))


def _disease_status(res: JsonDict) -> str | None:
    for part in ("indication", "contraindication"):
        status = res.get(part, {}).get("diseaseStatus", {}) if isinstance(res.get(part),
                                                                         dict) else {}
        if status:
            return str(status.get("concept", {}).get("text", "")) or None
    return None
