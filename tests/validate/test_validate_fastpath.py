"""`_fastpath` answers as fhirpathpy does, on every constraint at every element of the export
and of the test data, so the invariant layer reports the same whichever evaluates."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivig_fhir.definitions import load, normalize_version
from ivig_fhir.validate import _detect, _fastpath, _fhirpath, _invariant, _json
from ivig_fhir.validate._walk import walk

ROOT = Path(__file__).resolve().parents[2]
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
    ("$this.exists()", False),  # fhirpathpy has no $this outside an operator or argument
    ("%vs-name.exists()", False),  # a variable fhirpathpy does not define here
    ("code.matches(code & 'x')", False),  # an argument on the focus: fhirpathpy's $this leaks
    ("value.toQuantity().exists()", False),
    ("period.start <= @2020", False),  # date literals
    ("value is FHIR.string", False),  # a qualified type
    ("a[0].exists()", False),
])
def test_what_the_fast_path_takes(expression: str, compiles: bool) -> None:
    assert (_fhirpath._fast(expression) is not None) is compiles


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
