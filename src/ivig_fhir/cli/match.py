"""`ivig-fhir match CODE...`: what a decision-support rule sees for a patient's coded problems."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from ivig_fhir.cli._common import err, fail, report
from ivig_fhir.problems import ExitCode, IvigFhirError


def match_cmd(
    codes: Annotated[list[str], typer.Argument(
        help="A patient's coded problems: ICD-10-CM (G70.01), a SNOMED CT id (91637004) or "
             "SYSTEM|CODE (http://snomed.info/sct|91637004, or by name: CVX|03 for a vaccine).")],
    export: Annotated[Path, typer.Option("--export", help="The exported Bundle to match "
                                         "against.")] = Path("output/ivig-fhir-bundle.json"),
    format_: Annotated[str, typer.Option("--format", help="text or json")] = "text",
) -> None:
    """Show what a decision-support rule sees for a patient's codes.

    Lists every use, contraindication, warning, interaction, undesirable effect and population
    of the export whose concept a code falls in (the ValueSet linked from the concept), with
    regulatory status, evidence and disease status. The codes given together are one
    patient's: a use that also needs a comorbidity or condition the codes do not reach is
    listed as partial, with what it needs. Reads the export, not the curated YAML.
    Exit 0 when the codes were matched (with or without hits), 2 on bad input."""
    from ivig_fhir.match import load_bundle, match, parse_code

    if format_ not in ("text", "json"):
        err("ivig-fhir: --format must be text or json")
        raise typer.Exit(int(ExitCode.BAD_INPUT))
    try:
        answers, problems = match(load_bundle(export), [parse_code(c) for c in codes])
    except IvigFhirError as exc:
        raise fail(exc) from None
    report(problems)
    if format_ == "json":
        typer.echo(json.dumps([{"system": a.code.system, "code": a.code.code,
                                "display": a.display,
                                "hits": [{**asdict(h), "complete": h.complete}
                                         for h in a.hits]}
                               for a in answers], indent=2, ensure_ascii=False))
        return
    for answer in answers:
        full = [h for h in answer.hits if h.complete]
        partial = [h for h in answer.hits if not h.complete]
        typer.echo(f"{answer.code} {answer.display or ''}".rstrip() +
                   f": {len(full)} match{'es' * (len(full) != 1)}" +
                   (f", {len(partial)} partial" if partial else ""))
        for hit in full + partial:
            details = "; ".join(s for s in (*hit.status, hit.disease_status) if s)
            typer.echo(f"  {hit.kind:<18} {hit.resource}  {hit.role}: {hit.concept}"
                       + (f"  [{details}]" if details else ""))
            if hit.needs:
                typer.echo(f"  {'':<18} partial: it also needs {hit.needs}")
