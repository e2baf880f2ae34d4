"""Indications, undesirable effects, interactions, warnings and contraindications as
ClinicalUseDefinitions: one issue per resource (invariant cud-1), subject the IVIG Medication.

Regulatory status (FDA-approved / off-label) and the basis of evidence are coded in `category`
from the export's own code systems: FHIR has no element for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ivig_fhir.load.curated import (
    Approval,
    DeferralInterval,
    Indication,
    Interaction,
    Setting,
    Superseded,
    UndesirableEffect,
    UsProduct,
    Warning,
)
from ivig_fhir.mapping.context import (
    PREFIX,
    JsonDict,
    MapContext,
    fmt_range,
    reference,
    ucum_quantity,
    ucum_range,
)
from ivig_fhir.mapping.definitions import (
    CORE_FREQUENCY,
    CORE_FREQUENCY_CODES,
    extension,
    local_concept,
)
from ivig_fhir.mapping.mapped import Mapped
from ivig_fhir.mapping.medication import MEDICATION_ID, product_definition_id
from ivig_fhir.mapping.narrative import Row, narrative
from ivig_fhir.mapping.population import group_id

STATUS_LABEL = {"fda-approved": "FDA-approved use", "off-label": "Off-label use"}
PUBLICATION_STATUS = "http://hl7.org/fhir/publication-status"
# Publication status is what a rule filters on: a superseded page statement is `retired`
# ("withdrawn or superseded"), a use in conflict with another fact is `draft` (not ready for
# normal use) until a clinical reviewer resolves it.
STATUS_DISPLAY = {"active": "Active", "retired": "Retired", "draft": "Draft"}


def _use(intent: str, name: str) -> str:
    """'prevention of X', unless the concept already names the intent ("Prevention of
    infection")."""
    return name[0].lower() + name[1:] if name.lower().startswith(intent) else f"{intent} of {name}"


def cud_id(kind: str, key: str) -> str:
    return f"{PREFIX[kind]}-{key}"


def cud_ref(by: str) -> str:
    """'kind/key' (as curated in `superseded.by`) -> the ClinicalUseDefinition id."""
    kind, _, key = by.partition("/")
    return cud_id(kind, key)


def _base(ctx: MapContext, kind: str, key: str, title: str, rows: list[Row],
          notes: list[str | None], population: str | None,
          products: list[str] | None = None, generic: bool = True,
          risk_factors: Sequence[str] = ()) -> JsonDict:
    """`products` (keys of labels.yaml) add each product's MedicinalProductDefinition as a
    subject; `generic` keeps the generic IVIG Medication as one."""
    subjects = [reference("Medication", MEDICATION_ID, ctx.curated.product.name)] if generic \
        else []
    subjects += [reference("MedicinalProductDefinition", product_definition_id(k),
                           ctx.curated.us_product(k).name) for k in products or []]
    data: JsonDict = {
        "resourceType": "ClinicalUseDefinition",
        "id": cud_id(kind, key),
        "text": narrative(title, rows, notes),
        "identifier": [ctx.identifier("clinical-use", f"{kind}/{key}")],
        "type": kind,
        "subject": subjects,
        "status": _status("active"),
    }
    if population:
        data["population"] = [reference("Group", group_id(population),
                                        ctx.curated.population(population).name)]
    # Risk factors are not `population`: FHIR reads that as whom the warning applies to, and
    # a boxed warning applies to every recipient, with or without a risk factor (review R2, Q1).
    if risk_factors:
        data["extension"] = [extension(ctx, "risk-factor", reference(
            "Group", group_id(k), ctx.curated.population(k).name)) for k in risk_factors]
    return data


def _status(code: str) -> JsonDict:
    return {"coding": [{"system": PUBLICATION_STATUS, "code": code,
                        "display": STATUS_DISPLAY[code]}]}


def _cud(data: JsonDict, cites: list[str], at: Any) -> Mapped:
    return Mapped(data, tuple(cites), at)


def _supersede(ctx: MapContext, data: JsonDict, sup: Superseded | None) -> None:
    """Keep a page statement that a current source replaced, marked so no rule uses it; one
    replaced for part of its scope (one product's approval) stays active for the rest."""
    if sup is None:
        return
    if not sup.in_part:
        data["status"] = _status("retired")
    data.setdefault("category", []).append(local_concept(
        ctx, "fact-qualifier", "superseded-in-part" if sup.in_part else "superseded"))
    data.setdefault("extension", []).extend([
        extension(ctx, "superseded-by", reference("ClinicalUseDefinition", cud_ref(sup.by))),
        extension(ctx, "supersession-reason", sup.reason),
    ])


def _conflict_target(ctx: MapContext, key: str) -> tuple[str, str]:
    """(ClinicalUseDefinition id, display) of what a use conflicts with: an undesirable effect
    by its key, or a warning as 'warning/key' (hemolysis: a reaction the label words as a
    warning, not as an adverse reaction)."""
    if key.startswith("warning/"):
        w = next(w for w in ctx.curated.warnings if f"warning/{w.key}" == key)
        return cud_ref(key), ctx.concepts[w.concept].display if w.concept else w.key
    return cud_id("undesirable-effect", key), ctx.concepts[ctx.effect(key).concept].display


def _conflicts(ctx: MapContext, data: JsonDict, others: list[str]) -> None:
    if not others:
        return
    data.setdefault("category", []).append(local_concept(ctx, "fact-qualifier", "conflict"))
    data.setdefault("extension", []).extend(
        extension(ctx, "conflicts-with", reference("ClinicalUseDefinition", other))
        for other in others)


def map_indication(ctx: MapContext, ind: Indication) -> Mapped:
    name = ctx.concepts[ind.concept].display
    comorbid = [ctx.concepts[k].display for k in ind.comorbidity]
    title = f"IVIG {_use(ind.intent, name)}" + (f" in {', '.join(comorbid)}" if comorbid else "")
    categories = [local_concept(ctx, "use-regulatory-status", ind.status),
                  {"text": ind.group}]
    evidence = local_concept(ctx, "evidence-basis", ind.evidence) if ind.evidence else None
    if evidence:
        categories.append(evidence)
    if ind.recommendation == "none-made":
        categories.append(local_concept(ctx, "evidence-basis", "no-recommendation"))
    status_text = "; ".join(s for s in (ind.qualifier, ind.disease_status) if s) or None
    indication: JsonDict = {"diseaseSymptomProcedure": ctx.concept_ref(ind.concept)}
    if status_text:
        indication["diseaseStatus"] = {"concept": {"text": status_text}}
    if ind.comorbidity:
        indication["comorbidity"] = [ctx.concept_ref(k) for k in ind.comorbidity]
    indication["intendedEffect"] = {"concept": local_concept(ctx, "ivig-knowledge", ind.intent)}
    rows: list[Row] = [
        ("Regulatory status", STATUS_LABEL[ind.status]),
        ("Listed under", ind.group),
        ("Condition", name),
        ("Context", comorbid),
        ("Disease status", status_text),
        ("Evidence", evidence["text"] if evidence else None),
        ("Recommendation", "None made by the source" if ind.recommendation else None),
        ("Population", ctx.curated.population(ind.population).name if ind.population else None),
        ("Summary", ind.description),
    ]
    if ind.superseded:
        rows.append(("Superseded", ind.superseded.reason))
    conflicts = [_conflict_target(ctx, k) for k in ind.conflicts_with]
    if conflicts:
        rows.append(("Held for review", "Conflicts with listed adverse reaction(s) or "
                     "warning(s): " + ", ".join(display for _, display in conflicts)))
    data = _base(ctx, "indication", ind.key, title, rows, [ind.note], ind.population)
    data["category"] = categories
    data["indication"] = indication
    _conflicts(ctx, data, [id_ for id_, _ in conflicts])
    if ind.conflicts_with:
        data["status"] = _status("draft")
    _supersede(ctx, data, ind.superseded)
    return _cud(data, ind.cite, ind.at)


def map_approval(ctx: MapContext, product: UsProduct, ap: Approval) -> Mapped:
    """A use the US prescribing information approves for one product: subject that product."""
    name = ctx.concepts[ap.concept].display
    comorbid = [ctx.concepts[k].display for k in ap.comorbidity]
    title = f"{product.name}: FDA-approved {_use(ap.intent, name)}" + (
        f" in {', '.join(comorbid)}" if comorbid else "")
    indication: JsonDict = {"diseaseSymptomProcedure": ctx.concept_ref(ap.concept)}
    if ap.disease_status:
        indication["diseaseStatus"] = {"concept": {"text": ap.disease_status}}
    if ap.comorbidity:
        indication["comorbidity"] = [ctx.concept_ref(k) for k in ap.comorbidity]
    indication["intendedEffect"] = {"concept": local_concept(ctx, "ivig-knowledge", ap.intent)}
    rows: list[Row] = [
        ("Product", product.name), ("Regulatory status", "FDA-approved (US label)"),
        ("Approved use", ap.text), ("Condition", name), ("Context", comorbid),
        ("Disease status", ap.disease_status),
        ("Population", ctx.curated.population(ap.population).name if ap.population else None),
    ]
    data = _base(ctx, "indication", f"{product.key}-{ap.key}", title, rows, [ap.note],
                 ap.population, [product.key], generic=False)
    data["category"] = [local_concept(ctx, "use-regulatory-status", "fda-approved"),
                        {"text": f"US prescribing information: {product.name}"},
                        local_concept(ctx, "evidence-basis", "fda-approved-labeling"),
                        local_concept(ctx, "fact-qualifier", "label-current")]
    data["indication"] = indication
    return _cud(data, ap.cite, ap.at)


def map_undesirable_effect(ctx: MapContext, ue: UndesirableEffect,
                           conflicting: Sequence[str] = ()) -> Mapped:
    name = ctx.concepts[ue.concept].display
    effect: JsonDict = {"symptomConditionEffect": ctx.concept_ref(ue.concept)}
    if ue.manifestations:
        effect["extension"] = [extension(ctx, "undesirable-effect-manifestation", ctx.concept(k))
                               for k in ue.manifestations]
    if ue.severity_text:
        effect["classification"] = {"text": ue.severity_text}
    if ue.frequency in CORE_FREQUENCY_CODES:
        display = CORE_FREQUENCY_CODES[ue.frequency]
        effect["frequencyOfOccurrence"] = {
            "coding": [{"system": CORE_FREQUENCY, "code": display, "display": display}],
            "text": display}
    elif ue.frequency:
        effect["frequencyOfOccurrence"] = local_concept(ctx, "undesirable-effect-frequency",
                                                        ue.frequency)
    rows: list[Row] = [
        ("Reaction", name),
        ("Severity", ue.severity_text),
        ("Frequency", effect.get("frequencyOfOccurrence", {}).get("text")),
        ("Signs", [ctx.concepts[k].display for k in ue.manifestations]),
        ("Summary", ue.description),
    ]
    if conflicting:
        # Words only: the reaction is a safety fact and stays in force, unflagged; the held
        # use points here (a link back would make a reference cycle uploads must keep in one
        # transaction).
        rows.append(("Conflict", "Also listed as a use (" + ", ".join(conflicting)
                     + "); that use is held for review, this reaction stays in force"))
    data = _base(ctx, "undesirable-effect", ue.key, f"Undesirable effect of IVIG: {name}", rows,
                 [ue.note], None)
    data["undesirableEffect"] = effect
    return _cud(data, ue.cite, ue.at)


_MONTHS = {"d": "days", "wk": "weeks", "mo": "months", "a": "years"}


def _interval_text(row: DeferralInterval, interactant: str) -> str:
    wait = f"{row.interval.value:g} {_MONTHS[row.interval.unit]}"
    d = row.dose
    dose = f"{d.low:g} {d.unit}" if d.low == d.high else fmt_range(d)
    return f"IVIG {dose} (e.g. {row.indication}): wait {wait} before {interactant}"


def _interval(ctx: MapContext, row: DeferralInterval, interactant: str) -> JsonDict:
    """One table row as a management entry a rule can compute with: the dose band (Range) and
    the interval (Duration) in extensions, the row in words as text, dose first because the
    interval follows the dose given, whatever the use."""
    return {"extension": [
        extension(ctx, "interval-dose", ucum_range(row.dose)),
        extension(ctx, "interval-duration",
                  ucum_quantity(row.interval.value, row.interval.unit)),
    ], "text": _interval_text(row, interactant)}


def map_interaction(ctx: MapContext, it: Interaction) -> Mapped:
    interactant = ctx.concepts[it.interactant].display
    effect_name = it.effect_text or ctx.concepts[it.effect].display
    lowered = interactant[0].lower() + interactant[1:]
    rows: list[Row] = [("Interacts with", interactant), ("Effect", effect_name),
                       ("Management", it.managements),
                       ("Intervals", [_interval_text(r, lowered) for r in it.intervals])]
    if it.superseded:
        rows.append(("Superseded", it.superseded.reason))
    data = _base(ctx, "interaction", it.key, f"Interaction of IVIG with {interactant}", rows,
                 [it.note], None, it.products)
    data["interaction"] = {
        "interactant": [{"itemCodeableConcept": ctx.concept(it.interactant)}],
        "type": {"coding": [{"system": "http://hl7.org/fhir/interaction-type", "code": it.type}]},
        "effect": ctx.concept_ref(it.effect, it.effect_text),
        "management": [{"text": m} for m in it.managements]
        + [_interval(ctx, r, lowered) for r in it.intervals],
    }
    if _label_current(ctx, it.cite):
        data["category"] = [local_concept(ctx, "fact-qualifier", "label-current")]
    _supersede(ctx, data, it.superseded)
    return _cud(data, [*it.cite, *(c for r in it.intervals for c in r.cite)], it.at)


def _label_current(ctx: MapContext, cites: list[str]) -> bool:
    return any(ctx.locators[c][0].kind != "source-page" for c in cites)


def map_warning(ctx: MapContext, w: Warning) -> Mapped:
    examples = [ctx.concepts[k].display for k in w.examples]
    name = ctx.concepts[w.concept].display if w.concept else w.key.replace("-", " ")
    rows: list[Row] = [("About", name), ("Description", w.description), ("Examples", examples),
                       ("Mitigation", w.mitigation)]
    if w.products:
        rows.append(("Stated by the US labels of",
                     [ctx.curated.us_product(k).name for k in w.products]))
    if w.comorbidity:
        rows.append(("With", [ctx.concepts[k].display for k in w.comorbidity]))
    if w.disease_status:
        rows.append(("Disease status", w.disease_status))
    if w.risk_factors:
        rows.append(("Risk factors",
                     [ctx.curated.population(k).name for k in w.risk_factors]))
    label = "Boxed warning" if w.boxed else ("Warning" if w.kind == "warning"
                                             else "Contraindication")
    title = f"{label} for IVIG: {name}"
    data = _base(ctx, w.kind, w.key, title, rows, [w.note], w.population, w.products,
                 generic=w.class_wide or not w.products, risk_factors=w.risk_factors)
    categories = []
    if w.boxed:
        categories.append(local_concept(ctx, "fact-qualifier", "boxed-warning"))
    if _label_current(ctx, w.cite):
        categories.append(local_concept(ctx, "fact-qualifier", "label-current"))
    if categories:
        data["category"] = categories
    description = w.description
    if examples:
        description += f" Examples: {', '.join(examples)}."
    if w.mitigation:
        description += f" Mitigation: {w.mitigation}"
    if w.kind == "warning":
        warning: JsonDict = {"description": description}
        if w.concept:
            warning["code"] = ctx.concept(w.concept)
        data["warning"] = warning
    else:
        if not w.concept:
            raise ValueError(f"contraindication {w.key} needs a concept")  # schema-guarded
        contra: JsonDict = {"diseaseSymptomProcedure": ctx.concept_ref(w.concept)}
        if w.disease_status:
            contra["diseaseStatus"] = {"concept": {"text": w.disease_status}}
        if w.comorbidity:
            contra["comorbidity"] = [ctx.concept_ref(k) for k in w.comorbidity]
        data["contraindication"] = contra
    return _cud(data, w.cite, w.at)


def map_setting(ctx: MapContext, s: Setting) -> Mapped:
    """Care settings are precautions in the source; each is a warning, coded by its setting
    only where a code says what the source says (a "highly supervised medical setting" is not
    SNOMED CT Hospital)."""
    name = ctx.concepts[s.concept].display if s.concept else None
    rows: list[Row] = [("When", s.when), ("Setting", name), ("Description", s.text)]
    data = _base(ctx, "warning", f"setting-{s.key}", f"Care setting for IVIG: {s.when}", rows,
                 [], None)
    warning: JsonDict = {"description": f"{s.when}: {s.text}"}
    if s.concept:
        warning["code"] = ctx.concept(s.concept)
    data["warning"] = warning
    return _cud(data, s.cite, s.at)


def map_supervision(ctx: MapContext) -> Mapped:
    sup = ctx.curated.dosing.supervision
    data = _base(ctx, "warning", "physician-supervision",
                 "IVIG should be given under physician supervision",
                 [("Description", sup.text)], [], None)
    data["warning"] = {"description": sup.text}
    return _cud(data, sup.cite, sup.at)


def map_clinical_uses(ctx: MapContext) -> list[Mapped]:
    c = ctx.curated
    conflicting: dict[str, list[str]] = {}
    for ind in c.indications:
        for key in ind.conflicts_with:
            conflicting.setdefault(key, []).append(cud_id("indication", ind.key))
    return [
        *(map_indication(ctx, i) for i in c.indications),
        *(map_approval(ctx, p, a) for p in c.products for a in p.approvals),
        *(map_undesirable_effect(ctx, u, conflicting.get(u.key, []))
          for u in c.undesirable_effects),
        *(map_interaction(ctx, i) for i in c.interactions),
        *(map_warning(ctx, w) for w in c.warnings),
        *(map_setting(ctx, s) for s in c.dosing.settings),
        map_supervision(ctx),
    ]
