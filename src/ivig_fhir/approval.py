"""Recorded sign-off of the curated content: who approved which content, in which role, when.

`ivig-fhir approve` appends an approval to `source_data/approval.yaml`. An approval names the
content by the hash of the curated inputs (every other `source_data/*.yaml`, as the build
manifest records it), so editing any curated fact voids it: `build` then warns and the export
carries no approval. `build` puts the approvals that hold into the export (mapping.approval);
`review` shows them and `upload` looks for them (`release_approvals`).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivig_fhir.problems import BadInput, Problem

APPROVAL_FILE = "approval.yaml"
# Provenance.agent.type of a sign-off (FHIR R5 Provenance; CRMI uses the same codes).
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
SIGN_OFF_TYPES = ("attester", "verifier")
APPROVAL_PROVENANCE_ID = "prov-release-approval"
CONTENT_HASH_SYSTEM = "urn:ietf:rfc:3986"

_HEADER = """\
# Sign-offs of the curated content, appended by `ivig-fhir approve`; never edit by hand.
# An approval holds only for the content whose hash it records (content_sha256, the hash of
# every other source_data/*.yaml): editing any curated fact voids it, and `ivig-fhir build`
# then warns and puts no approval into the export.
"""
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HASH = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Approval:
    reviewer: str
    role: str
    date: str  # YYYY-MM-DD
    content_sha256: str
    content_version: str
    note: str = ""

    def as_yaml(self) -> dict[str, str]:
        out = {"reviewer": self.reviewer, "role": self.role, "date": self.date,
               "content_sha256": self.content_sha256, "content_version": self.content_version}
        if self.note:
            out["note"] = self.note
        return out


def check_date(value: str) -> str:
    """A calendar date YYYY-MM-DD, or BadInput."""
    try:
        if _DATE.match(value):
            return datetime.date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise BadInput(f"not a date (YYYY-MM-DD): {value!r}")


def read_approvals(source_dir: Path) -> list[Approval]:
    """Every approval recorded in `source_dir`, oldest first; none when there is no file.
    A malformed file raises BadInput naming each bad line."""
    from ivig_fhir.load.yaml_files import read_yaml

    path = source_dir / APPROVAL_FILE
    if not path.exists():
        return []
    yf, problems = read_yaml(path, str(path))
    if yf is None or problems:
        raise BadInput(f"cannot read {path}", problems)
    entries = yf.data.get("approvals") if isinstance(yf.data, dict) else None
    if not isinstance(entries, list):
        raise BadInput(f"cannot read {path}", [yf.problem((), "expected `approvals:`, a list",
                                                          "approval")])
    out: list[Approval] = []
    for i, entry in enumerate(entries):
        fields = entry if isinstance(entry, dict) else {}
        wrong = [name for name in ("reviewer", "role", "date", "content_sha256",
                                   "content_version")
                 if not isinstance(fields.get(name), str) or not fields[name].strip()]
        if not wrong and not (_DATE.match(fields["date"]) and _HASH.match(
                fields["content_sha256"])):
            wrong = ["date" if not _DATE.match(fields["date"]) else "content_sha256"]
        if wrong:
            problems += [yf.problem(("approvals", i, name), "missing or malformed", "approval")
                         for name in wrong]
            continue
        out.append(Approval(fields["reviewer"], fields["role"], fields["date"],
                            fields["content_sha256"], fields["content_version"],
                            str(fields.get("note") or "")))
    if problems:
        raise BadInput(f"cannot read {path}", problems)
    return out


def approvals_holding(source_dir: Path, content_sha256: str) -> tuple[list[Approval],
                                                                      list[Problem]]:
    """The approvals of exactly this content, and a warning when approvals exist but none
    holds any more (the content changed after sign-off)."""
    recorded = read_approvals(source_dir)
    holding = [a for a in recorded if a.content_sha256 == content_sha256]
    if recorded and not holding:
        last = recorded[-1]
        return [], [Problem(
            str(source_dir / APPROVAL_FILE), None, None, "approvals",
            f"the approval by {last.reviewer} ({last.role}) on {last.date} is void: it is for "
            f"content sha256 {last.content_sha256[:12]}…, the curated inputs now hash to "
            f"{content_sha256[:12]}…; the export carries no approval until the new content is "
            "reviewed and approved (`ivig-fhir review`, `ivig-fhir approve`)",
            severity="warning", layer="approval")]
    return holding, []


def record_approval(source_dir: Path, approval: Approval) -> bool:
    """Append `approval` to the file (created when absent); False when the same approval is
    already recorded. Earlier approvals are kept: they are the history of sign-offs."""
    from ruamel.yaml import YAML

    recorded = read_approvals(source_dir)
    if approval in recorded:
        return False
    path = source_dir / APPROVAL_FILE
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    if path.exists():
        data = yaml.load(path.read_text(encoding="utf-8"))
    else:
        data = yaml.load(_HEADER + "approvals: []\n")
    data["approvals"].append(approval.as_yaml())
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)
    tmp.replace(path)
    return True


# --- reading an approval back from an export --------------------------------------------------

@dataclass(frozen=True)
class SignOff:
    """One reviewer's sign-off as an export carries it."""

    reviewer: str
    role: str
    kind: str  # attester | verifier
    date: str
    content_sha256: str


def release_approvals(resources: Iterable[Mapping[str, Any]]) -> list[SignOff]:
    """The sign-offs an export carries: agents of type attester or verifier on a Provenance.
    Read from the FHIR alone, so it works on any export (R5 or R4B, any format)."""
    out: list[SignOff] = []
    for resource in resources:
        if resource.get("resourceType") != "Provenance":
            continue
        content = next((str(e["what"]["identifier"].get("value", "")).removeprefix("urn:sha256:")
                        for e in resource.get("entity", [])
                        if isinstance(e.get("what", {}).get("identifier"), dict)
                        and e["what"]["identifier"].get("system") == CONTENT_HASH_SYSTEM), "")
        for agent in resource.get("agent", []):
            kind = next((c.get("code") for c in agent.get("type", {}).get("coding", [])
                         if c.get("system") == PARTICIPANT_TYPE
                         and c.get("code") in SIGN_OFF_TYPES), None)
            if kind is None:
                continue
            role = "; ".join(str(r.get("text") or "") for r in agent.get("role", []))
            out.append(SignOff(str(agent.get("who", {}).get("display", "")), role, str(kind),
                               str(resource.get("recorded", ""))[:10], content))
    return out
