"""Recorded sign-off of the curated content: who approved which content, in which role, when.

`ivig-fhir approve` appends an approval to `source_data/approval.yaml`. An approval names the
content by the hash of the curated inputs (every other `source_data/*.yaml`, as the build
manifest records it), so editing any curated fact voids it: `build` then warns and the export
carries no approval. `build` puts the approvals that hold into the export (mapping.approval);
`review` shows them and `upload` looks for them (`release_approvals`).
"""

from __future__ import annotations

import datetime
import json
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
    path = source_dir / APPROVAL_FILE
    if not path.exists():
        return []
    return _read_file(path, str(path))


def _read_file(path: Path, display: str) -> list[Approval]:
    from ivig_fhir.load.yaml_files import read_yaml

    yf, problems = read_yaml(path, display)
    if yf is None or problems:
        raise BadInput(f"cannot read {display}", problems)
    entries = yf.data.get("approvals") if isinstance(yf.data, dict) else None
    if not isinstance(entries, list):
        raise BadInput(f"cannot read {display}", [yf.problem((), "expected `approvals:`, a list",
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
        raise BadInput(f"cannot read {display}", problems)
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
    recorded = read_approvals(source_dir)
    if approval in recorded:
        return False
    path = source_dir / APPROVAL_FILE
    text = path.read_text(encoding="utf-8") if path.exists() else _HEADER + "approvals:\n"
    if not text.endswith("\n"):
        text += "\n"
    text += "".join(f"{'  ' if i else '- '}{key}: {_quoted(value)}\n"
                    for i, (key, value) in enumerate(approval.as_yaml().items()))
    # Appended, never rewritten: what the file held stays byte for byte. The result must read
    # back as the approvals before plus this one, or the file is left as it was.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        if _read_file(tmp, str(path)) != [*recorded, approval]:
            raise BadInput(f"{path}: `approvals:` is not the list at the end of the file, as "
                           "`ivig-fhir approve` writes it; the approval was not recorded")
    except BadInput:
        tmp.unlink()
        raise
    tmp.replace(path)
    return True


# Characters a YAML file here may not hold raw (ivig_fhir.load.yaml_files); escaped, the reader
# still refuses them in a text, so such a name is refused before anything is recorded.
_RAW_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _quoted(value: str) -> str:
    """`value` as a YAML double-quoted scalar (JSON's string escapes are YAML's), so no text
    is ever read back as a number, a date or a boolean."""
    return _RAW_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}",
                           json.dumps(value, ensure_ascii=False))


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
