"""Validation problems as a FHIR OperationOutcome, JUnit XML, SARIF 2.1.0, or table rows."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ivig_fhir import __version__
from ivig_fhir.problems import Problem

__all__ = ["issue_type", "rows", "to_junit", "to_operation_outcome", "to_sarif"]

# Problem.code -> OperationOutcome issue-type, where the code says more than the layer.
_CODE_TYPES: Mapping[str, str] = {
    "required": "required",
    "code-invalid": "code-invalid",
    "code-missing": "required",
    "duplicate-fullurl": "duplicate",
    "json-duplicate-key": "duplicate",
    "missing-request": "required",
    "unresolved-reference": "not-found",
    "external-reference": "not-found",
    "unknown-element": "structure",
    "invalid-id": "value",
    "invalid-value": "value",
    "invalid-format": "value",
    "wrong-type": "structure",
    "json-syntax": "structure",
    "json-encoding": "structure",
    "xhtml-element": "security",
    "xhtml-event-attribute": "security",
    "xhtml-script-url": "security",
    "profile-not-checked": "not-supported",
    "profile-partly-checked": "not-supported",
    "version-undetermined": "not-supported",
    "limit": "too-costly",
    "manifest-skipped": "informational",
    "unreadable": "exception",
}
# Layer -> issue-type otherwise.
_LAYER_TYPES: Mapping[str, str] = {
    "json": "invalid",
    "structure": "structure",
    "invariant": "invariant",
    "binding": "code-invalid",
    "terminology": "code-invalid",
    "bundle": "invalid",
    "narrative": "invalid",
}
_SARIF_LEVEL: Mapping[str, str] = {
    "fatal": "error",
    "error": "error",
    "warning": "warning",
    "information": "note",
}


def issue_type(p: Problem) -> str:
    """The OperationOutcome issue-type code for a problem."""
    return _CODE_TYPES.get(p.code) or _LAYER_TYPES.get(p.layer, "processing")


def _where(p: Problem) -> str:
    where = p.file
    if p.line is not None:
        where += f":{p.line}"
        if p.column is not None:
            where += f":{p.column}"
    return where


def to_operation_outcome(problems: Iterable[Problem]) -> dict[str, Any]:
    """A FHIR OperationOutcome (R4B/R5) with one issue per problem. No problems: one
    informational 'all OK' issue, as an OperationOutcome needs at least one."""
    issues: list[dict[str, Any]] = []
    for p in problems:
        issue: dict[str, Any] = {
            "severity": p.severity,
            "code": issue_type(p),
            "diagnostics": f"{_where(p)}: [{p.layer}{'/' + p.code if p.code else ''}] "
            f"{p.message}",
        }
        if p.field:
            issue["expression"] = [p.field]
        if p.line is not None:
            issue["location"] = [f"line {p.line}" + (f", col {p.column}" if p.column else "")]
        issues.append(issue)
    if not issues:
        issues.append({"severity": "information", "code": "informational",
                       "diagnostics": "no problems found"})
    return {"resourceType": "OperationOutcome", "issue": issues}


def to_junit(problems: Iterable[Problem], files: Sequence[str]) -> str:
    """JUnit XML: one testsuite, one testcase per file, one <failure> per error (warnings and
    information go to the testcase's system-out)."""
    by_file: dict[str, list[Problem]] = {f: [] for f in files}
    for p in problems:
        by_file.setdefault(p.file, []).append(p)
    suite = ET.Element("testsuite", name="ivig-fhir validate", tests=str(len(by_file)))
    failures = 0
    for f, found in by_file.items():
        case = ET.SubElement(suite, "testcase", classname="ivig-fhir.validate", name=f)
        errs = [p for p in found if p.is_error]
        for p in errs:
            failure = ET.SubElement(case, "failure", type=f"{p.layer}/{p.code}" if p.code
                                    else p.layer, message=p.message)
            failure.text = p.render()
        if errs:
            failures += 1
        others = [p for p in found if not p.is_error]
        if others:
            ET.SubElement(case, "system-out").text = "\n".join(p.render() for p in others)
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _rule_id(p: Problem) -> str:
    return f"{p.layer}/{p.code}" if p.code else p.layer


def to_sarif(problems: Iterable[Problem]) -> dict[str, Any]:
    """A SARIF 2.1.0 log: one run, tool ivig-fhir, a rule per layer/code, a result per
    problem with its file (and line, where known)."""
    found = list(problems)
    rule_ids = sorted({_rule_id(p) for p in found})
    index = {r: i for i, r in enumerate(rule_ids)}
    rules = [
        {
            "id": r,
            "name": r.replace("/", "-"),
            "shortDescription": {"text": f"ivig-fhir {r.split('/')[0]} check"
                                 + (f" {r.split('/', 1)[1]}" if "/" in r else "")},
        }
        for r in rule_ids
    ]
    results = []
    for p in found:
        region: dict[str, Any] = {}
        if p.line is not None:
            region["startLine"] = p.line
            if p.column is not None:
                region["startColumn"] = p.column
        physical: dict[str, Any] = {"artifactLocation": {"uri": p.file}}
        if region:
            physical["region"] = region
        location: dict[str, Any] = {"physicalLocation": physical}
        if p.field:
            location["logicalLocations"] = [{"fullyQualifiedName": p.field, "kind": "member"}]
        results.append({
            "ruleId": _rule_id(p),
            "ruleIndex": index[_rule_id(p)],
            "level": _SARIF_LEVEL[p.severity],
            "message": {"text": f"{p.field}: {p.message}" if p.field else p.message},
            "locations": [location],
        })
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "ivig-fhir",
                "version": __version__,
                "informationUri": "https://hl7.org/fhir/R5/validation.html",
                "rules": rules,
            }},
            "results": results,
        }],
    }


def rows(problems: Iterable[Problem]) -> list[tuple[str, str, str, str, str, str]]:
    """(where, severity, layer, code, field, message) per problem, for a plain-text table."""
    return [(_where(p), p.severity, p.layer, p.code, p.field, p.message) for p in problems]
