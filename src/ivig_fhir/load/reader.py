"""Read `source_data/`: YAML -> JSON Schema -> merged sections -> typed `Curated` + checks.

All problems of a run are collected, then raised together, so a curator fixes them in one go.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs
from pydantic import ValidationError

from ivig_fhir.limits import PLAUSIBLE_COST, implausible, plausible_range
from ivig_fhir.load.curated import (
    At,
    Cost,
    Curated,
    Fact,
    QuantityValue,
    Range,
    Release,
    Verification,
    walk,
)
from ivig_fhir.load.yaml_files import JsonPath, YamlFile, dotted, read_yaml
from ivig_fhir.problems import BadInput, Problem

if TYPE_CHECKING:
    import jsonschema

REQUIRED_SECTIONS = ("release", "sources", "concepts", "product", "dosing", "indications",
                     "undesirable_effects")


@cache
def schema() -> dict[str, Any]:
    text = resources.files("ivig_fhir.load").joinpath("source_data.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _valid() -> jsonschema_rs.Draft202012Validator:
    return jsonschema_rs.Draft202012Validator(schema())


def schema_problems(yf: YamlFile) -> list[Problem]:
    """Every way a file's data breaks the JSON Schema, at its line.

    jsonschema-rs says whether the data is valid (in Rust: a hundredth of the time, and its
    import is lighter); only data it does not find valid goes to jsonschema, whose errors
    (their wording, order and paths) are the findings. Both follow draft 2020-12 with `format`
    as an annotation; the one divergence possible, the regular expression dialects, can only
    make jsonschema-rs stricter on these patterns (ECMA `$` is the end of the text, Python's
    also before a final newline; the `\\s` class differs in control characters, which
    read_yaml refuses earlier), and stricter only costs time."""
    try:
        if _valid().is_valid(yf.data):
            return []
    except ValueError:  # a value of no JSON type: jsonschema says what it makes of it
        pass
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    return [_schema_problem(yf, e) for e in validator.iter_errors(yf.data)]


def load_source_data(source_dir: Path, seeds_dir: Path | None = None) -> Curated:
    """Load and check every `*.yaml` in `source_dir`. Raises BadInput with every problem found.

    `seeds_dir`, when given, must be a folder of the original documents; their hashes must
    match the ones the outline was written against, so an edited seed cannot silently drift.
    """
    if not source_dir.is_dir():
        raise BadInput(f"--source {source_dir}: not a folder")
    if seeds_dir is not None and not seeds_dir.is_dir():
        raise BadInput(f"--seeds {seeds_dir}: not a folder, so the hashes of the source "
                       "documents cannot be checked")
    # approval.yaml records sign-offs of this content (ivig_fhir.approval), not curated facts
    files = sorted(p for p in source_dir.glob("*.yaml") if p.name != "approval.yaml")
    problems: list[Problem] = []
    merged: dict[str, Any] = {}
    origin: dict[str, YamlFile] = {}
    for path in files:
        yf, found = read_yaml(path, _display(path))
        problems += found
        if yf is None:
            continue
        if not isinstance(yf.data, dict):
            problems.append(yf.problem((), "expected a mapping of sections at the top", "schema"))
            continue
        found_in_schema = schema_problems(yf)
        problems += found_in_schema
        if found_in_schema:
            continue
        _annotate(yf, yf.data, ())
        for section, value in yf.data.items():
            if section == "at":
                continue
            if section in merged:
                first = origin[section].display
                problems.append(yf.problem((section,), f"section '{section}' is also in {first}",
                                           "schema"))
                continue
            merged[section] = value
            origin[section] = yf
    if not files:
        problems.append(Problem(str(source_dir), None, None, "", "no *.yaml files", layer="input"))
    if problems:
        raise BadInput("the curated source data has problems", problems)
    for section in REQUIRED_SECTIONS:
        if section not in merged:
            problems.append(Problem(str(source_dir), None, None, section,
                                    f"no file holds the required section '{section}'",
                                    layer="schema"))
    if problems:
        raise BadInput("the curated source data has problems", problems)
    try:
        curated = Curated.model_validate({**merged, "at": {"file": str(source_dir)}})
    except ValidationError as exc:  # the schema should make this unreachable; report, don't crash
        raise BadInput("the curated source data has problems", [
            Problem(str(source_dir), None, None, dotted(tuple(e["loc"])), e["msg"], layer="schema")
            for e in exc.errors()]) from None
    problems += check_references(curated)
    problems += check_plausible(curated)
    if seeds_dir is not None:
        problems += check_seeds(curated, seeds_dir)
    if any(p.is_error for p in problems):
        raise BadInput("the curated source data has problems", problems)
    return curated


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop (Python 3.11)
        return str(path)


def _schema_problem(yf: YamlFile, error: jsonschema.ValidationError) -> Problem:
    path: JsonPath = tuple(error.absolute_path)
    message = error.message
    if error.validator == "additionalProperties":
        message = f"unknown field: {message.split('(')[-1].rstrip(')')}"
        extra = [k for k in error.instance if k not in error.schema.get("properties", {})]
        if extra and (*path, extra[0]) in yf.locations:
            path = (*path, extra[0])  # point at the unknown field's own line
    elif error.validator == "pattern" and path and path[-1] == "cite":
        message = f"{message}: a cite looks like 'source-key#section.item'"
    if len(message) > 240:
        message = message[:237] + "..."
    return yf.problem(path, message, "schema")


def _annotate(yf: YamlFile, node: Any, path: JsonPath) -> None:
    """Give every object its `at`: file, line and the lines of its fields."""
    if isinstance(node, dict):
        for key, value in list(node.items()):
            _annotate(yf, value, (*path, key))
        fields: dict[str, tuple[int, int]] = {}
        for key, value in node.items():
            loc = yf.locations.get((*path, key))
            if loc:
                fields[key] = loc
            if isinstance(value, list):
                for index in range(len(value)):
                    loc = yf.locations.get((*path, key, index))
                    if loc:
                        fields[f"{key}[{index}]"] = loc
        line, column = yf.where(path)
        node["at"] = {"file": yf.display, "line": line, "column": column, "path": dotted(path),
                      "fields": fields}
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _annotate(yf, value, (*path, index))


def problem_at(at: At, field: str, message: str, layer: str = "curation",
               severity: str = "error") -> Problem:
    line, column = at.of(field)
    path = f"{at.path}.{field}" if at.path else field
    return Problem(at.file, line, column, path, message, severity, layer)  # type: ignore[arg-type]


# Fields that name a concept in the terminology table, by fact type.
_CONCEPT_FIELDS = {
    "Product": ("concept", "substance", "dose_form", "route", "classification"),
    "Mechanism": ("applies_to",),
    "Agent": ("concept", "route"),
    "Setting": ("concept",),
    "Indication": ("concept", "comorbidity"),
    "UndesirableEffect": ("concept", "manifestations"),
    "Interaction": ("interactant", "effect"),
    "Warning": ("concept", "examples", "comorbidity"),
    "PopulationCharacteristic": ("concept",),
    "Approval": ("concept", "comorbidity"),
}
_POPULATION_FIELDS = {"Indication": ("population",), "Warning": ("population", "risk_factors"),
                      "Cost": ("population",), "Approval": ("population",)}
_PRODUCT_FIELDS = {"Warning": ("products",), "Interaction": ("products",)}
_KEYED_LISTS = ("all_sources", "concepts", "indications", "undesirable_effects",
                "interactions", "warnings", "populations", "products")


def check_references(curated: Curated) -> list[Problem]:
    """Keys unique, every concept/population/cite reference known, every range ordered."""
    problems: list[Problem] = []
    for name in _KEYED_LISTS:
        problems += _duplicates(getattr(curated, name), "key")
    problems += _duplicates(curated.product.characteristics, "key")
    problems += _duplicates(curated.product.mechanisms, "key")
    problems += _duplicates(curated.dosing.settings, "key")
    problems += _duplicates(curated.dosing.regimens, "key")
    for product in curated.products:
        problems += _duplicates(product.approvals, "key")
    for source in curated.all_sources:
        problems += _duplicates(source.sections, "id")
        for section in source.sections:
            problems += _duplicates(section.items, "id")
    concepts = {c.key for c in curated.concepts}
    populations = {p.key for p in curated.populations}
    products = {p.key for p in curated.products}
    facts = {**{f"indication/{i.key}": i for i in curated.indications},
             **{f"interaction/{i.key}": i for i in curated.interactions},
             **{f"{w.kind}/{w.key}": w for w in curated.warnings},
             **{f"indication/{p.key}-{a.key}": a for p in curated.products for a in p.approvals}}
    effects = {u.key for u in curated.undesirable_effects}
    indications = {i.key for i in curated.indications}
    locators = curated.locators()
    for fact in walk(curated):
        kind = type(fact).__name__
        for name in _CONCEPT_FIELDS.get(kind, ()):
            for field, key in _values(fact, name):
                if key not in concepts:
                    problems.append(problem_at(fact.at, field,
                                               f"unknown concept '{key}': add it to the "
                                               "terminology table (concepts:) or fix the key"))
        for name in _POPULATION_FIELDS.get(kind, ()):
            for field, key in _values(fact, name):
                if key not in populations:
                    problems.append(problem_at(fact.at, field, f"unknown population '{key}'"))
        for name in _PRODUCT_FIELDS.get(kind, ()):
            for field, key in _values(fact, name):
                if key not in products:
                    problems.append(problem_at(fact.at, field, f"unknown product '{key}': add "
                                               "it to products: (labels.yaml)"))
        for field, key in _values(fact, "conflicts_with"):
            if key not in (facts if key.startswith("warning/") else effects):
                problems.append(problem_at(fact.at, field, f"unknown undesirable effect or "
                                           f"warning '{key}'"))
        if kind == "Regimen":
            for field, key in _values(fact, "indications"):
                if key not in indications:
                    problems.append(problem_at(fact.at, field, f"unknown indication '{key}'"))
        superseded = getattr(fact, "superseded", None)
        if superseded is not None and superseded.by not in facts:
            problems.append(problem_at(superseded.at, "by", f"'{superseded.by}' names no "
                                       "indication, interaction or warning"))
        # Every field of citations (`cite`, `application_cite`, `ndc_cite`): a locator that
        # names nothing would leave the fact unsupported without a word.
        cites = [f for f in type(fact).model_fields if f == "cite" or f.endswith("_cite")]
        for field, cite in (pair for name in cites for pair in _values(fact, name)):
            if cite not in locators:
                problems.append(problem_at(fact.at, field,
                                           f"cite '{cite}' names no item of a source outline"))
        if isinstance(fact, Range) and fact.low > fact.high:
            problems.append(problem_at(fact.at, "low",
                                       f"range low {fact.low:g} exceeds high {fact.high:g}"))
    cost = curated.dosing.cost
    if cost.low > cost.high:
        problems.append(problem_at(cost.at, "low",
                                   f"cost low {cost.low:g} exceeds high {cost.high:g}"))
    return problems


def check_plausible(curated: Curated) -> list[Problem]:
    """Every curated number within its documented plausible range (ivig_fhir.limits), every
    date a real one: a slip such as 1e308 g/kg or 2026-02-30 is an error at its line."""
    problems: list[Problem] = []

    def number(fact: Fact, field: str, value: float, bounds: tuple[float, float],
               what: str) -> None:
        why = implausible(float(value), bounds)
        if why:
            problems.append(problem_at(fact.at, field, f"{why} {what} (ivig_fhir.limits)"))

    def date(fact: Fact, field: str, value: str | None) -> None:
        try:
            if value is not None:
                datetime.date.fromisoformat(value)
        except ValueError as exc:
            problems.append(problem_at(fact.at, field, f"impossible date {value}: {exc}"))

    for fact in walk(curated):
        if isinstance(fact, Range):
            for field in ("low", "high"):
                number(fact, field, getattr(fact, field), plausible_range(fact.unit),
                       f"for unit {fact.unit}")
        elif isinstance(fact, QuantityValue):
            number(fact, "value", fact.value, plausible_range(fact.unit), f"for unit {fact.unit}")
        elif isinstance(fact, Cost):
            for field in ("low", "high"):
                number(fact, field, getattr(fact, field), PLAUSIBLE_COST,
                       f"{fact.currency} for a cost")
        elif isinstance(fact, Release):
            date(fact, "date", fact.date)
        elif isinstance(fact, Verification):
            date(fact, "checked_on", fact.checked_on)
    return problems


def _values(fact: Fact, name: str) -> Iterable[tuple[str, str]]:
    value = getattr(fact, name, None)
    if isinstance(value, str):
        yield name, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                yield f"{name}[{index}]", item


def _duplicates(items: list[Any], attr: str) -> list[Problem]:
    seen: dict[str, Fact] = {}
    problems = []
    for item in items:
        key = getattr(item, attr)
        if key in seen:
            first = seen[key].at
            problems.append(problem_at(item.at, attr, f"duplicate {attr} '{key}' (first at "
                                                      f"{first.file}:{first.line})"))
        else:
            seen[key] = item
    return problems


def check_seeds(curated: Curated, seeds_dir: Path) -> list[Problem]:
    problems = []
    for source in curated.sources:
        if source.seed_file is None:
            continue
        seed = seeds_dir / source.seed_file
        try:
            digest = hashlib.sha256(seed.read_bytes()).hexdigest()
        except OSError as exc:
            problems.append(problem_at(source.at, "seed_file",
                                       f"{seed}: {exc.strerror}; its hash was not checked",
                                       severity="warning"))
            continue
        if digest != source.sha256:
            problems.append(problem_at(source.at, "sha256",
                                       f"{seed} has changed since the outline was written "
                                       f"(sha256 {digest[:12]}…): review the outline, then update "
                                       "the hash", severity="warning"))
    return problems
