"""`_fastpath` answers as fhirpathpy does, on every constraint at every element of the export
and of the test data, so the invariant layer reports the same whichever evaluates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fixtures import official_examples

from ivig_fhir.definitions import load, normalize_version
from ivig_fhir.validate import _detect, _fastpath, _fhirpath, _invariant, _json, validate_bytes
from ivig_fhir.validate._walk import walk

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = 25  # official examples per package: fhirpathpy takes 0.1-1 s on each
FILES = [ROOT / "output" / "ivig-fhir-bundle.json",
         *sorted(p for p in (ROOT / "tests").rglob("*.json") if p.stat().st_size < 2_000_000)]


def _compare(path: Path) -> tuple[int, list[tuple[str, str, object, object]]]:
    data, _ = _json.parse(path.read_bytes(), file=str(path))
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        return 0, []
    version = normalize_version(_detect(data)[0])
    try:
        w = walk(data, load(version), file=str(path))
    except RecursionError:
        return 0, []
    compared, differ = 0, []
    resolver = _invariant._Resolver(data)
    token = _fhirpath.RESOLVER.set(resolver)
    try:
        for node in w.nodes:
            resolver.root = node.root
            for c in node.constraints:
                try:
                    _fhirpath.compiled(c.expression)
                except Exception:  # noqa: S112 - fhirpathpy cannot parse it: not ours
                    continue
                args = {"resource": node.resource, "root": node.root, "version": version}
                ours: object
                try:
                    ours = _fhirpath.evaluate_fast(c.expression, node.value, node.fp_base, **args)
                except _fastpath.Fallback:
                    continue
                except Exception as e:  # the invariant layer would report it: a difference
                    ours = f"the fast path raises {type(e).__name__}: {e}"
                if ours is None:
                    continue
                try:
                    theirs: object = _fhirpath.evaluate_fhirpathpy(
                        c.expression, node.value, node.fp_base, resource=node.resource,
                        root=node.root, version=version)
                except Exception as e:  # a failure is a difference too
                    theirs = f"raises {type(e).__name__}"
                compared += 1
                if ours != theirs:
                    differ.append((node.loc, c.expression, ours, theirs))
    finally:
        _fhirpath.RESOLVER.reset(token)
    return compared, differ


@pytest.mark.parametrize("version", ["R5", "R4B"])
def test_the_fast_path_agrees_on_official_examples(version: str, tmp_path: Path) -> None:
    """A deterministic sample of the official examples: resources and constraints the export
    does not have (the whole package agreed: 446,468 comparisons for R4B)."""
    examples = official_examples()
    tgz = examples.package(*examples.PACKAGES[version])
    names = examples.members(tgz)[:SAMPLE]
    files = examples.extract(tgz, tmp_path, set(names))
    compared, differ = 0, []
    for name in names:
        n, found = _compare(files[name])
        compared += n
        differ += [(name, *d) for d in found]
    assert not differ, differ[:20]
    assert compared > 1_000


def test_the_fast_path_agrees_with_fhirpathpy() -> None:
    compared, differ = 0, []
    for path in FILES:
        n, found = _compare(path)
        compared += n
        differ += [(str(path.relative_to(ROOT)), *d) for d in found]
    assert not differ, differ[:20]
    assert compared > 10_000  # the export alone has about 12,000


@pytest.mark.parametrize(("expression", "compiles"), [
    ("code.exists() or display.exists()", True),
    ("extension.exists() != value.exists()", True),
    ("code.exists().not() implies display.exists().not()", True),
    ("fullUrl.exists() implies fullUrl.contains('/_history/').not()", True),
    ("code.exists() or abstract = true", True),
    ("(concept.exists() or filter.exists()) implies system.exists()", True),
    ("text.`div`.exists()", True),
    ("ClinicalUseDefinition.indication.count() + ClinicalUseDefinition.contraindication"
     ".count() = 1", True),
    ("name.matches('^[A-Z]')", True),
    ("who.resolve().ofType(Organization).exists() implies who.resolve() != "
     "onBehalfOf.resolve()", True),
    ("%resource.id.exists()", True),
    ("code.count() > 1", True),
    ("iif(max != '*', min <= max.toInteger())", True),
    ("(snapshot | differential).element.all(path.contains('.').not())", True),
    ("$this.length() <= 255", True),  # $this inside an operator is the focus
    ("contained.where(id.exists()).trace('unmatched', id).empty()", True),
    ("type!='display' and (repeats=true or %extension.valueInteger=1)", True),
    ("$this.exists()", False),  # fhirpathpy has no $this outside an operator or argument
    ("%vs-name.exists()", False),  # a variable fhirpathpy does not define here
    ("code.matches(code & 'x')", False),  # an argument on the focus: fhirpathpy's $this leaks
    ("value.toQuantity().exists()", False),
    ("period.start <= @2020", False),  # date literals
    ("value is FHIR.string", False),  # a qualified type
    ("a[0].exists()", False),
])
def test_what_the_fast_path_takes(expression: str, compiles: bool) -> None:
    assert (_fhirpath.fast(expression) is not None) is compiles


@pytest.mark.parametrize(("expression", "node", "base", "expected"), [
    ("extension.exists() != value.exists()", {"url": "u", "valueString": "x"}, "Extension",
     [True]),
    ("extension.exists() != value.exists()", {"url": "u"}, "Extension", [False]),
    ("code.exists()", {"_code": {"extension": [{"url": "u", "valueString": "x"}]}}, "Coding",
     [True]),
    ("code.exists() or abstract = true", {"abstract": True}, "CodeSystem.concept", [True]),
    ("code.exists() or abstract = true", {"display": "x"}, "CodeSystem.concept", []),
    ("code.exists().not()", {"code": "x"}, "Coding", [False]),
])
def test_the_fast_path_on_its_cases(expression: str, node: dict[str, object], base: str,
                                    expected: list[object]) -> None:
    args = {"resource": node, "root": node, "version": "r5"}
    assert _fhirpath.evaluate(expression, node, base, **args) == expected
    assert _fhirpath.evaluate_fhirpathpy(expression, node, base, **args) == expected


CUD1 = ("(ClinicalUseDefinition.indication.count() + ClinicalUseDefinition.contraindication"
        ".count() + ClinicalUseDefinition.interaction.count() + ClinicalUseDefinition"
        ".undesirableEffect.count() + ClinicalUseDefinition.warning.count())  = 1")
PRV = ["who.resolve().exists() and onBehalfOf.resolve().exists() implies who.resolve() != "
       "onBehalfOf.resolve()",
       "who.resolve().ofType(PractitionerRole).practitioner.resolve().exists() and "
       "onBehalfOf.resolve().ofType(Practitioner).exists() implies "
       "who.resolve().practitioner.resolve() != onBehalfOf.resolve()",
       "who.resolve().ofType(Organization).exists() and onBehalfOf.resolve()"
       ".ofType(PractitionerRole).organization.resolve().exists() implies who.resolve() != "
       "onBehalfOf.resolve().organization.resolve()"]
ORG = {"resourceType": "Organization", "id": "o1", "name": "A"}
ROLE = {"resourceType": "PractitionerRole", "id": "r1", "organization": {"reference":
                                                                          "Organization/o1"}}
BUNDLE = {"resourceType": "Bundle", "type": "collection", "entry": [
    {"fullUrl": "urn:uuid:o1", "resource": ORG},
    {"fullUrl": "urn:uuid:o2", "resource": {**ORG, "id": "o2"}},
    {"fullUrl": "urn:uuid:r1", "resource": ROLE}]}
ED = "ElementDefinition"
SD = {"resourceType": "StructureDefinition", "kind": "resource", "type": "Observation",
      "derivation": "constraint", "url": "http://x/StructureDefinition/y",
      "differential": {"element": [{"id": "Observation", "path": "Observation"},
                                   {"id": "Observation.code", "path": "Observation.code"},
                                   {"id": "Patient.x", "path": "Patient.x"}]},
      "snapshot": {"element": [{"id": "Observation", "path": "Observation", "label": "l"}]}}
CS = {"resourceType": "CodeSystem", "concept": [
    {"code": "a", "concept": [{"code": "b"}, {"code": "a"}]}, {"code": "c"}]}

# (expression, context node, its type path, does the fast path decide it): empty collections,
# several items, strings against numbers, booleans against integers, resolved resources.
EDGES: list[tuple[str, object, str, bool]] = [
    ("name.matches('^[A-Z]([A-Za-z0-9_]){1,254}$')", {"name": "Abc"}, "ValueSet", True),
    ("name.matches('^[A-Z]([A-Za-z0-9_]){1,254}$')", {"name": "abc"}, "ValueSet", True),
    ("name.matches('^[A-Z]([A-Za-z0-9_]){1,254}$')", {}, "ValueSet", True),
    ("name.matches('^[A-Z]')", {"name": 5}, "ValueSet", False),  # fhirpathpy raises
    ("given.matches('^[A-Z]')", {"given": ["A", "b"]}, "HumanName", False),
    ("exists() implies matches('^[^|# ]+$')", "http://x|1", "ValueSet.url", True),
    ("exists() implies matches('^[^|# ]+$')", "http://x\n", "ValueSet.url", True),
    (CUD1, {"resourceType": "ClinicalUseDefinition", "indication": [{}]}, "", True),
    (CUD1, {"resourceType": "ClinicalUseDefinition"}, "", True),
    (CUD1, {"resourceType": "ClinicalUseDefinition", "indication": [{}], "warning": {}}, "",
     True),
    ("given = 'a'", {"given": ["a", "b"]}, "HumanName", True),
    ("given != 'a'", {"given": ["a", "b"]}, "HumanName", True),
    ("given = given", {"given": ["a", "b"]}, "HumanName", False),
    ("family = 1", {"family": "1"}, "HumanName", True),
    ("count = 1", {"count": 1.0}, "Timing.repeat", True),
    ("count = true", {"count": 1}, "Timing.repeat", True),  # Python's 1 == True, as fhirpathpy
    ("family = {}", {"family": "x"}, "HumanName", True),
    ("use in ('official' | 'usual')", {"use": "usual"}, "HumanName", True),
    ("use in ('official' | 'usual')", {}, "HumanName", True),
    ("use in {}", {"use": "x"}, "HumanName", True),
    ("given in ('a' | 'b')", {"given": ["a", "b"]}, "HumanName", False),
    ("('a' | 'b' | 'a').count() = 2", {}, "HumanName", True),
    ("(given | family).count()", {"given": ["a", "a"], "family": "a"}, "HumanName", True),
    ("given.isDistinct()", {"given": ["a", "a"]}, "HumanName", True),
    ("given.isDistinct()", {}, "HumanName", True),
    ("given.where($this = 'a').count()", {"given": ["a", "b", "a"]}, "HumanName", True),
    ("given.where(length())", {"given": ["a"]}, "HumanName", False),
    ("given.select($this & '!')", {"given": ["a", "b"]}, "HumanName", True),
    ("given.all($this.startsWith('a'))", {"given": ["ab", "b"]}, "HumanName", True),
    ("given.all($this.startsWith('a'))", {}, "HumanName", True),
    ("given.all(1)", {"given": ["a"]}, "HumanName", False),
    ("iif(family.exists(), 'y', 'n')", {}, "HumanName", True),
    ("iif(given.exists(), given.first(), given.tail())", {"given": ["a", "b"]}, "HumanName",
     True),
    ("family.toInteger()", {"family": "12"}, "HumanName", True),
    ("family.toInteger()", {"family": "1.5"}, "HumanName", True),
    ("value.toInteger()", {"value": 2.0}, "Quantity", True),
    ("value.toInteger()", {"value": 2.5}, "Quantity", True),
    ("min <= max.toInteger()", {"min": 1, "max": "*"}, ED, True),
    ("min <= max.toInteger()", {"min": 2, "max": "1"}, ED, True),
    ("min <= max", {"min": 1, "max": "2"}, ED, False),  # fhirpathpy raises on a type mismatch
    ("duration >= 0", {"duration": 0.5}, "Timing.repeat", True),
    ("duration >= 0", {"duration": 0.5, "_duration": {"id": "x"}}, "Timing.repeat", False),
    ("empty() or ($this = '*') or (toInteger() >= 0)", "*", "ElementDefinition.max", True),
    ("empty() or ($this = '*') or (toInteger() >= 0)", "-1", "ElementDefinition.max", True),
    ("family & given", {"given": ["a"]}, "HumanName", True),
    ("family & given", {"given": ["a", "b"]}, "HumanName", False),
    ("given.not()", {"given": ["a"]}, "HumanName", False),
    ("family.hasValue()", {"family": "x"}, "HumanName", True),
    ("family.hasValue()", {"_family": {"id": "x"}}, "HumanName", True),
    ("given.hasValue()", {"given": ["a", "b"]}, "HumanName", True),
    ("given.allFalse()", {"given": ["a"]}, "HumanName", False),
    ("family.trace('x').exists()", {"family": "x"}, "HumanName", True),
    ("family.trace('x', given).exists()", {"family": "x"}, "HumanName", True),
    ("family.trace('x', given.nothing()).exists()", {}, "HumanName", True),
    ("$this.length() <= 3", "abcd", "Questionnaire.item.linkId", True),
    ("$this.length() <= 255", "abcd", "Questionnaire.item.linkId", True),
    ("family.length()", {}, "HumanName", True),
    ("given.length()", {"given": ["a", "b"]}, "HumanName", False),  # fhirpathpy raises
    ("%extension.exists()", {}, "HumanName", False),  # undefined here: fhirpathpy raises
    ("family.replaceMatches('\\\\..*', '') & '.'", {"family": "a.b.c"}, "HumanName", True),
    ("family.contains('.')", {"family": "a.b"}, "HumanName", True),
    ("family.contains('.')", {}, "HumanName", True),
    ("family.startsWith(%resource.type)", {"family": "Observation.x"}, "HumanName", True),
    ("Observation.code.exists()", {"code": {}}, "Observation", True),
    ("Observation.code.exists()", {"resourceType": "Observation", "code": {}}, "", True),
    ("children().count()", {"resourceType": "Organization", "name": "a", "_name": {}}, "",
     True),
    ("children().count()", {"name": "a"}, "HumanName", True),
    ("value is string", {"valueString": "x"}, "Extension", True),
    ("value.ofType(Quantity).exists()", {"valueQuantity": {"value": 1}}, "Extension", True),
    ("%resource.is(Organization)", {}, "HumanName", True),  # plain JSON: System.Object
    ("$this.exists() and (family | given).is(string)", {"family": "x"}, "HumanName", False),
]


def _both(expression: str, node: object, base: str, data: dict[str, object]
          ) -> tuple[object, object]:
    resource = node if isinstance(node, dict) and "resourceType" in node else SD
    args = {"resource": resource, "root": data, "version": "r5"}
    token = _fhirpath.RESOLVER.set(_invariant._Resolver(data))
    try:
        try:
            ours: object = _fhirpath.evaluate_fast(expression, node, base, **args)
        except _fastpath.Fallback:
            ours = "falls back"
        if ours is None:
            ours = "falls back"  # not compiled: fhirpathpy evaluates it
        try:
            theirs: object = _fhirpath.evaluate_fhirpathpy(expression, node, base, **args)
        except Exception as e:  # the fast path must fall back there
            theirs = f"raises {type(e).__name__}"
    finally:
        _fhirpath.RESOLVER.reset(token)
    return ours, theirs


@pytest.mark.parametrize(("expression", "node", "base", "fast"), EDGES)
def test_the_fast_path_on_edge_cases(expression: str, node: object, base: str,
                                     fast: bool) -> None:
    ours, theirs = _both(expression, node, base, BUNDLE)
    assert (ours != "falls back") is fast, (ours, theirs)
    if fast:
        assert ours == theirs


@pytest.mark.parametrize("expression", PRV)
@pytest.mark.parametrize(("who", "on_behalf_of"), [
    ("urn:uuid:o1", None), ("urn:uuid:o1", "urn:uuid:o1"), ("urn:uuid:o1", "urn:uuid:o2"),
    ("urn:uuid:r1", "urn:uuid:o1"), ("urn:uuid:r1", "Organization/o1"), ("urn:uuid:x", None),
    (None, None)])
def test_provenance_agents_as_fhirpathpy_reads_them(expression: str, who: str | None,
                                                   on_behalf_of: str | None) -> None:
    agent: dict[str, object] = {}
    if who:
        agent["who"] = {"reference": who}
    if on_behalf_of:
        agent["onBehalfOf"] = {"reference": on_behalf_of}
    ours, theirs = _both(expression, agent, "Provenance.agent", BUNDLE)
    assert ours == theirs


@pytest.mark.parametrize(("resource", "base"), [(SD, ""), (SD["differential"],
                                                            "StructureDefinition.differential"),
                                                (CS, "")])
def test_the_fast_path_on_definitional_resources(resource: dict[str, object], base: str) -> None:
    """Every R5 constraint of StructureDefinition and CodeSystem (children(), descendants(),
    combine(), select(), isDistinct(), replaceMatches() among them) on small hand-made ones."""
    from ivig_fhir.definitions import load

    defs = load("r5")
    name = base or str(resource["resourceType"])
    sd = defs.structure(name.split(".")[0])
    assert sd is not None
    element = sd.element(name)
    assert element is not None
    constraints = [*element.constraints, *(defs.root_constraints(name) if not base else ())]
    compared = 0
    for c in constraints:
        if (c.key in _invariant.KNOWN_SKIPS or c.key in _invariant.NATIVE
                or c.expression in _invariant.NATIVE_EXPRESSIONS):
            continue  # dom-2..5 only go to FHIRPath with contained resources
        ours, theirs = _both(c.expression, resource, base or name, {"resourceType": "Bundle"})
        assert ours != "falls back", c.expression
        assert ours == theirs, c.expression
        compared += 1
    assert compared >= 2


ITEM = "Questionnaire.item"


@pytest.mark.parametrize("expression", [
    "type!='display' and (repeats=true or %extension.valueInteger=1)",
    "type!='display' and (required=true or %extension.valueInteger=0)",
    "%extension.value = 1", "%extension.url.exists()"])
@pytest.mark.parametrize("item", [
    {"linkId": "1", "type": "string", "repeats": True},
    {"linkId": "1", "type": "string", "required": False},
    {"linkId": "1", "type": "display"}])
@pytest.mark.parametrize("extension", [
    {"url": "u", "value": 1}, {"url": "u", "valueInteger": 1}, {"url": "u", "value": 0}, {}])
def test_extension_context_invariants_as_fhirpathpy(expression: str, item: dict[str, object],
                                                    extension: dict[str, object]) -> None:
    """%extension: the extension whose context invariant `_extensions` evaluates on its
    host element (its value renamed `value`)."""
    args: dict[str, Any] = {"resource": SD, "root": SD, "version": "r5",
                            "extra_vars": {"extension": extension}}
    ours = _fhirpath.evaluate_fast(expression, item, ITEM, **args)
    assert ours is not None
    assert ours == _fhirpath.evaluate_fhirpathpy(expression, item, ITEM, **args)


@pytest.mark.parametrize(("expression", "who", "expected"), [
    ("who.resolve() is Organization", "urn:uuid:o1", [True]),
    ("who.resolve() is Practitioner", "urn:uuid:o1", [False]),
    ("who.resolve().ofType(PractitionerRole).exists()", "urn:uuid:r1", [True]),
    ("who.resolve().ofType(Organization).exists()", "urn:uuid:r1", [False]),
    ("who.resolve().ofType(PractitionerRole).organization.resolve().name", "urn:uuid:r1",
     ["A"]),
])
def test_resolve_types_what_it_finds(expression: str, who: str, expected: list[object]
                                     ) -> None:
    # The specification types a resolved resource by its resourceType (the HL7 engine does,
    # e.g. CareTeam's ctm-1, `member.resolve() is Practitioner`); so do both evaluators.
    ours, theirs = _both(expression, {"who": {"reference": who}}, "Provenance.agent", BUNDLE)
    assert ours == theirs == expected


@pytest.mark.parametrize(("member", "errors"), [("Practitioner", 0), ("Organization", 1)])
def test_ctm1_reads_the_contained_member_s_type(member: str, errors: int) -> None:
    team = {"resourceType": "CareTeam", "id": "t", "text": {"status": "generated", "div":
            '<div xmlns="http://www.w3.org/1999/xhtml">team</div>'},
            "contained": [{"resourceType": member, "id": "m", "name": [{"family": "X"}]
                           if member == "Practitioner" else "X"}],
            "participant": [{"member": {"reference": "#m"},
                             "onBehalfOf": {"display": "Acme"}}]}
    found = validate_bytes(json.dumps(team).encode(), file="t.json", fhir_version="R5")
    ctm1 = [f for f in found if f.is_error and "ctm-1" in f.render()]
    assert len(ctm1) == errors, [f.render() for f in found]
