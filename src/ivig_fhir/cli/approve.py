"""`ivig-fhir approve`: record a reviewer's sign-off of the curated content as it is now."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Annotated

import typer

from ivig_fhir.cli._common import SourceOpt, err, fail
from ivig_fhir.problems import BadInput, IvigFhirError


def approve(
    reviewer: Annotated[str, typer.Option("--reviewer", metavar="NAME", help="Who approves, e.g. "
                                          "'Dr Jane Doe, PharmD'.")],
    role: Annotated[str, typer.Option("--role", metavar="ROLE",
        help="In which role, e.g. 'Clinical "
                                      "pharmacist, P&T committee'.")],
    note: Annotated[str, typer.Option(
        "--note", metavar="TEXT", help="A remark kept with the approval.")] = "",
    date: Annotated[str | None, typer.Option(
        "--date", metavar="YYYY-MM-DD",
        help="Approval date YYYY-MM-DD [default: today].", show_default=False)] = None,
    source: SourceOpt = Path("source_data"),
    export: Annotated[Path, typer.Option(
        "--export", metavar="DIR",
        help="The built export that was reviewed (its manifest must record the "
        "current curated inputs).")] = Path("output"),
) -> None:
    """Record a reviewer's sign-off of the curated content.

    Writes to SOURCE/approval.yaml that REVIEWER, in ROLE, approved the curated content as
    it is now (named by the hash of the curated inputs). The next `build` puts the approval
    into the export; editing any curated fact afterwards voids it. Refuses (exit 2) when the
    export in --export was not built from the current content: review that first."""
    import json

    from ivig_fhir.approval import Approval, check_date, record_approval
    from ivig_fhir.pipeline import MANIFEST_FILE, BuildSettings, input_hash, load_checked

    try:
        if not reviewer.strip() or not role.strip():
            raise BadInput("--reviewer and --role must name someone and a role")
        day = check_date(date) if date else datetime.date.today().isoformat()
        curated, _ = load_checked(BuildSettings(source))
        content = input_hash(source)
        manifest = export / MANIFEST_FILE
        try:
            built = json.loads(manifest.read_text(encoding="utf-8"))["inputs"][
                "source_data_sha256"]
        except (OSError, ValueError, KeyError, TypeError):
            raise BadInput(f"no build manifest at {manifest}: run `ivig-fhir build` and "
                           "review the export before approving it") from None
        if built != content:
            raise BadInput(f"{export}/ was built from other content than {source}/ holds now "
                           f"(sha256 {str(built)[:12]}… vs {content[:12]}…): run `ivig-fhir "
                           "build`, review the new export, then approve")
        approval = Approval(reviewer.strip(), role.strip(), day, content,
                            curated.release.content_version, note.strip())
        added = record_approval(source, approval)
    except IvigFhirError as exc:
        raise fail(exc) from None
    what = (f"release {approval.content_version}, curated inputs sha256 {content[:12]}…")
    if not added:
        err(f"already recorded: {reviewer} ({role}) approved {what} on {day}")
        return
    typer.echo(f"recorded in {source}/approval.yaml: {approval.reviewer} ({approval.role}) "
               f"approved {what} on {day}")
    typer.echo("run `ivig-fhir build` to put the approval into the export")
