"""A clinical diff of two exports: what changed in indications, undesirable effects,
interactions, contraindications, warnings, dosing and populations (and, after those, the rest),
keyed by the stable resource ids, with every changed field shown old -> new in human terms.

An export is read from a Bundle file (any type), an NDJSON file, a FHIR package `.tgz`, or an
output folder holding any of those. Provenance is left out: it changes with every citation
and says nothing clinical.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivig_fhir.limits import MAX_JSON_DEPTH, MAX_JSON_FILE_BYTES
from ivig_fhir.problems import BadInput, Problem

JsonDict = dict[str, Any]
Value = str | tuple[str, ...]  # one rendered value, or the rendered items of a list

# The order and headings of the report; the key is what `kind_of` returns.
KINDS = {
    "indication": "Indications",
    "contraindication": "Contraindications",
    "undesirable-effect": "Undesirable effects (reactions)",
    "interaction": "Interactions",
    "warning": "Warnings",
    "dosing": "Dosing",
    "population": "Populations",
    "adverse-event": "Potential adverse events",
    "other": "Other content",
}
# Folder contents tried in this order: the first that exists is the export.
FOLDER_FILES = ("ivig-fhir-bundle.json", "ivig-fhir-batch.json", "ivig-fhir-collection.json",
                "ndjson", "ivig-fhir-package.tgz")
SKIPPED_TYPES = {"Provenance", "Bundle"}
# Field names a reader knows better by another name.
LABELS = {"diseaseSymptomProcedure": "disease", "doseRange": "dose", "doseQuantity": "dose",
          "costMoney": "cost", "valueCodeableConcept": "value", "valueRange": "value",
          "valueQuantity": "value", "suspectEntity": "suspect"}
UNIT_NAMES = {"wk": "weeks", "d": "days", "h": "hours", "min": "minutes", "mo": "months",
              "a": "years"}


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Value | None
    new: Value | None

    def as_text(self) -> str:
        old, new = self.old, self.new
        if isinstance(old, tuple) and isinstance(new, tuple):
            gone = [f"− {x}" for x in old if x not in new]
            came = [f"+ {x}" for x in new if x not in old]
            return "; ".join(gone + came) or "same items, new order"
        return f"{_joined(old) or '(none)'} → {_joined(new) or '(none)'}"


def _joined(value: Value | None) -> str:
    return "; ".join(value) if isinstance(value, tuple) else (value or "")


@dataclass(frozen=True)
class Change:
    kind: str
    change: str  # added | removed | changed
    key: str  # Type/id, or Type/id#dosing/<part> for a dosing entry
    title: str
    fields: tuple[FieldChange, ...] = ()


@dataclass
class Diff:
    changes: list[Change] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not self.changes

    def as_json(self) -> JsonDict:
        counts = {c: sum(1 for x in self.changes if x.change == c)
                  for c in ("added", "removed", "changed")}
        return {"same": self.same, "counts": counts, "changes": [
            {"kind": c.kind, "change": c.change, "key": c.key, "title": c.title,
             "fields": [{"field": f.field,
                         "old": list(f.old) if isinstance(f.old, tuple) else f.old,
                         "new": list(f.new) if isinstance(f.new, tuple) else f.new}
                        for f in c.fields]}
            for c in self.changes]}

    def as_text(self) -> str:
        if self.same:
            return "No clinical differences."
        lines: list[str] = []
        marks = {"added": "+", "removed": "-", "changed": "~"}
        for kind, heading in KINDS.items():
            group = [c for c in self.changes if c.kind == kind]
            if not group:
                continue
            lines.append(f"{heading}:")
            for c in group:
                lines.append(f"  {marks[c.change]} {c.change:7s} {c.key}  {c.title}")
                for f in c.fields:
                    lines.append(f"      {f.field}: {f.as_text()}")
        counts = self.as_json()["counts"]
        lines.append(f"{counts['added']} added, {counts['removed']} removed, "
                     f"{counts['changed']} changed")
        return "\n".join(lines)


# --- reading an export ---------------------------------------------------------------------

def _bad(path: Path, message: str) -> BadInput:
    return BadInput(f"cannot read the export {path}",
                    [Problem(str(path), None, None, "", message, layer="diff")])


def _json(path: Path, data: bytes) -> JsonDict:
    try:
        loaded = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(path, f"not JSON: {exc}") from None
    except RecursionError:
        loaded = None
    if loaded is None or _too_deep(loaded):
        raise _bad(path, f"nested deeper than {MAX_JSON_DEPTH} levels (limit MAX_JSON_DEPTH)")
    if not isinstance(loaded, dict) or not isinstance(loaded.get("resourceType"), str):
        raise _bad(path, "not a FHIR resource")
    return loaded


def _too_deep(data: Any) -> bool:
    stack = [(data, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            if level > MAX_JSON_DEPTH:
                return True
            stack.extend((v, level + 1) for v in (node.values() if isinstance(node, dict)
                                                  else node))
    return False


def _read(path: Path, limit: int = MAX_JSON_FILE_BYTES,
          name: str = "MAX_JSON_FILE_BYTES") -> bytes:
    """The file's bytes, refused past `limit`: a diff holds both exports in memory."""
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise _bad(path, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise _bad(path, f"larger than {limit:,} bytes (limit {name})")
    return data


def _ndjson(path: Path, data: bytes) -> list[JsonDict]:
    return [_json(path, line) for line in data.splitlines() if line.strip()]


def _package(path: Path) -> list[JsonDict]:
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = [m for m in sorted(tar.getmembers(), key=lambda m: m.name)
                       if m.isfile() and m.name.endswith(".json")
                       and m.name.count("/") == 1 and not m.name.split("/")[1].startswith(".")
                       and m.name != "package/package.json"]
            if sum(m.size for m in members) > MAX_JSON_FILE_BYTES:
                raise _bad(path, f"unpacks to more than {MAX_JSON_FILE_BYTES:,} bytes (limit "
                           "MAX_JSON_FILE_BYTES)")
            return [_json(path, tar.extractfile(m).read())  # type: ignore[union-attr]
                    for m in members]
    except (OSError, tarfile.TarError) as exc:
        raise _bad(path, f"not a readable package: {exc}") from None


def read_export(path: Path) -> dict[str, JsonDict]:
    """Every resource of an export, by `Type/id`."""
    if path.is_dir():
        found = next((path / n for n in FOLDER_FILES if (path / n).exists()), None)
        if found is None and any(path.glob("*.ndjson")):
            found = path
        if found is None:
            raise _bad(path, f"no export here (looked for {', '.join(FOLDER_FILES)}, *.ndjson)")
        if found.is_dir():
            return _by_key([r for p in sorted(found.glob("*.ndjson"))
                            for r in _ndjson(p, _read(p))])
        path = found
    if path.suffix in (".tgz", ".gz"):
        _read(path)  # readable, and not too large even packed
        return _by_key(_package(path))
    data = _read(path)
    if path.suffix == ".ndjson":
        return _by_key(_ndjson(path, data))
    resource = _json(path, data)
    if resource["resourceType"] == "Bundle":
        entries = resource.get("entry", [])
        if not isinstance(entries, list):
            raise _bad(path, "Bundle.entry is not a list")
        inner = [e["resource"] for e in entries if isinstance(e, dict) and "resource" in e]
        if not all(isinstance(r, dict) and isinstance(r.get("resourceType"), str)
                   for r in inner):
            raise _bad(path, "a Bundle entry's resource is not a FHIR resource")
        return _by_key(inner)
    return _by_key([resource])


def _by_key(resources: list[JsonDict]) -> dict[str, JsonDict]:
    return {f"{r['resourceType']}/{r.get('id')}": r for r in resources}


# --- the clinical view of a resource -------------------------------------------------------

@dataclass(frozen=True)
class Item:
    kind: str
    title: str
    fields: dict[str, Value]


def items(resources: dict[str, JsonDict]) -> dict[str, Item]:
    """The clinical items of an export by key: a resource each, except that each dosing entry
    of a MedicationKnowledge is an item of its own."""
    out: dict[str, Item] = {}
    for key, resource in resources.items():
        kind = resource["resourceType"]
        if kind in SKIPPED_TYPES:
            continue
        body = {k: v for k, v in resource.items()
                if k not in ("resourceType", "id", "meta", "text")}
        if kind == "MedicationKnowledge":
            for part, dosage in _dosings(body.pop("indicationGuideline", [])):
                name = dosage.get("type", {}).get("text") or part
                out[f"{key}#dosing/{part}"] = Item("dosing", str(name), flatten(dosage))
        out[key] = Item(kind_of(resource), title(resource), flatten(body))
    return out


def _dosings(guidelines: list[JsonDict]) -> Iterator[tuple[str, JsonDict]]:
    for guideline in guidelines:
        indications = [_ref_id(i) for i in guideline.get("indication", [])]
        scope = "+".join(indications) or "general"
        for dosing in guideline.get("dosingGuideline", []):
            for dosage in dosing.get("dosage", []):
                code = next((c.get("code") for c in dosage.get("type", {}).get("coding", [])),
                            None)
                name = code or str(dosage.get("type", {}).get("text", "dosage"))
                entry = dict(dosage)
                if "treatmentIntent" in dosing:
                    entry["treatmentIntent"] = dosing["treatmentIntent"]
                yield f"{scope}/{name}", entry


def _ref_id(ref: JsonDict) -> str:
    target = ref.get("reference", ref)
    return str(target.get("reference", "?") if isinstance(target, dict) else target)


def kind_of(resource: JsonDict) -> str:
    kind = str(resource["resourceType"])
    if kind == "ClinicalUseDefinition" and resource.get("type") in KINDS:
        return str(resource["type"])
    return {"Group": "population", "AdverseEvent": "adverse-event"}.get(kind, "other")


def title(resource: JsonDict) -> str:
    kind = str(resource["resourceType"])
    if kind == "ClinicalUseDefinition":
        issue = resource.get(str(resource.get("type", "")).replace("undesirable-effect",
                                                                   "undesirableEffect"), {})
        for name in ("diseaseSymptomProcedure", "symptomConditionEffect", "interactant"):
            if name in issue:
                concept = issue[name].get("concept", {}) if isinstance(issue[name], dict) else {}
                return str(concept.get("text") or render(issue[name]))
        return render(issue.get("description") or resource.get("type"))
    for name in ("title", "name", "code", "description"):
        if name in resource:
            value = resource[name]
            return render(value[0] if isinstance(value, list) and value else value)
    return str(kind)


# --- human rendering -------------------------------------------------------------------------

def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _quantity(q: JsonDict) -> str:
    unit = q.get("unit") or q.get("code") or ""
    return f"{q.get('comparator', '')}{_num(q.get('value'))} {unit}".strip()


def _range(r: JsonDict) -> str:
    low, high = r.get("low", {}), r.get("high", {})
    if low and high and _quantity(low).split(" ")[1:] == _quantity(high).split(" ")[1:]:
        unit = " ".join(_quantity(high).split(" ")[1:])
        return f"{_num(low.get('value'))}–{_num(high.get('value'))} {unit}".strip()
    return f"{_quantity(low) if low else '…'}–{_quantity(high) if high else '…'}"


def _span(lo: Any, hi: Any, unit: Any) -> str:
    name = UNIT_NAMES.get(str(unit), str(unit))
    return f"{_num(lo)}–{_num(hi)} {name}" if hi is not None else f"{_num(lo)} {name}"


def _repeat(r: JsonDict) -> str:
    parts = []
    if "frequency" in r and "period" in r:
        parts.append(f"{_num(r['frequency'])}× every "
                     f"{_span(r['period'], r.get('periodMax'), r.get('periodUnit'))}")
    if "duration" in r:
        parts.append(f"over {_span(r['duration'], r.get('durationMax'), r.get('durationUnit'))}")
    rest = {k: v for k, v in r.items() if k not in (
        "frequency", "period", "periodMax", "periodUnit", "duration", "durationMax",
        "durationUnit")}
    parts += [f"{k} {render(v)}" for k, v in sorted(rest.items())]
    return ", ".join(parts)


def _coding(c: JsonDict) -> str:
    return str(c.get("display") or c.get("code"))


def render(node: Any) -> str:
    """One value as a reader would say it: a dose range as low-high and unit, a concept by
    its text, a reference by its display."""
    if node is None:
        return ""
    if isinstance(node, list):
        return "; ".join(render(n) for n in node)
    if not isinstance(node, dict):
        return _num(node)
    keys = set(node)
    if "value" in keys and keys <= {"value", "unit", "system", "code", "comparator"}:
        return _quantity(node)
    if keys and keys <= {"low", "high"}:
        return _range(node)
    if keys == {"value", "currency"}:
        return f"{_num(node['value'])} {node['currency']}"
    if keys and keys <= {"coding", "text"}:
        codes = ", ".join(str(c.get("code")) for c in node.get("coding", []))
        text = node.get("text") or "; ".join(_coding(c) for c in node.get("coding", []))
        return f"{text} [{codes}]" if codes else str(text)
    if keys and keys <= {"concept", "reference"}:
        return render(node.get("concept") or node.get("reference"))
    if "reference" in keys or ("display" in keys and keys <= {"display", "identifier"}):
        return str(node.get("display") or node.get("reference") or render(node["identifier"]))
    if keys == {"system", "value"}:
        return str(node["value"])
    if keys == {"repeat"}:
        return _repeat(node["repeat"])
    return json.dumps(node, ensure_ascii=False, sort_keys=True)


def _leaf(node: Any) -> bool:
    """Whether `render` says all that matters about the node on one line."""
    if not isinstance(node, dict):
        return not isinstance(node, list) or all(_leaf(n) and not isinstance(n, list)
                                                 for n in node)
    return not render(node).startswith("{")


def flatten(node: Any, path: str = "") -> dict[str, Value]:
    """The fields of a resource (or part) as `label: rendered value`; lists of plain values
    become one field, lists of structures are numbered from 1."""
    if isinstance(node, list) and _leaf(node):
        return {path or "value": tuple(render(n) for n in node)}
    if _leaf(node):
        return {path or "value": render(node)}
    out: dict[str, Value] = {}
    if isinstance(node, list):
        for i, item in enumerate(node, 1):
            out.update(flatten(item, f"{path}[{i}]"))
        return out
    for key, value in node.items():
        if key == "extension" and isinstance(value, list):
            for ext in value:
                name = str(ext.get("url", "")).rsplit("/", 1)[-1]
                val = next((v for k, v in ext.items() if k.startswith("value")), ext)
                out.update(flatten(val, f"{path}.{name}" if path else name))
            continue
        label = LABELS.get(key, key)
        out.update(flatten(value, f"{path}.{label}" if path else label))
    return out


# --- the comparison ---------------------------------------------------------------------------

def diff_exports(old: dict[str, JsonDict], new: dict[str, JsonDict]) -> Diff:
    before, after = items(old), items(new)
    changes: list[Change] = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        if a is None and b is not None:
            changes.append(Change(b.kind, "added", key, b.title))
        elif b is None and a is not None:
            changes.append(Change(a.kind, "removed", key, a.title))
        elif a is not None and b is not None and a.fields != b.fields:
            fields = tuple(FieldChange(f, a.fields.get(f), b.fields.get(f))
                           for f in sorted(a.fields.keys() | b.fields.keys())
                           if a.fields.get(f) != b.fields.get(f))
            changes.append(Change(b.kind, "changed", key, b.title, fields))
    order = list(KINDS)
    changes.sort(key=lambda c: (order.index(c.kind), c.key))
    return Diff(changes)
