"""approval.yaml is appended to, never rewritten, and reads back exactly as recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivig_fhir.approval import APPROVAL_FILE, Approval, read_approvals, record_approval
from ivig_fhir.problems import BadInput

FIRST = Approval("Dr. A: Smith", "pharmacist #1", "2026-01-02", "a" * 64, "1.0.0", "note: yes")
# texts YAML would read as a number, a boolean or a date if written plain
SECOND = Approval('José "J"', "on", "2026-01-03", "b" * 64, "1e5", "2026-01-01")


def test_appended_approvals_read_back_as_recorded(tmp_path: Path) -> None:
    assert record_approval(tmp_path, FIRST)
    before = (tmp_path / APPROVAL_FILE).read_bytes()
    assert record_approval(tmp_path, SECOND)
    assert not record_approval(tmp_path, SECOND)  # recorded once
    after = (tmp_path / APPROVAL_FILE).read_bytes()
    assert after.startswith(before)
    assert read_approvals(tmp_path) == [FIRST, SECOND]


def test_a_file_written_by_the_earlier_writer_keeps_its_bytes(tmp_path: Path) -> None:
    old = ("approvals:\n- reviewer: José\n  role: on\n  date: '2026-01-03'\n  content_sha256: \n"
           f"    {'b' * 64}\n  content_version: '1e5'\n")
    (tmp_path / APPROVAL_FILE).write_text(old, encoding="utf-8")
    assert record_approval(tmp_path, FIRST)
    assert (tmp_path / APPROVAL_FILE).read_text(encoding="utf-8").startswith(old)
    assert read_approvals(tmp_path)[1] == FIRST


@pytest.mark.parametrize(("existing", "approval"), [
    ("approvals: []\n", FIRST),  # not a block list at the end: appending cannot extend it
    (None, Approval("x\u0085", "r", "2026-01-03", "c" * 64, "1")),  # a control character
])
def test_what_cannot_be_appended_leaves_the_file_as_it_was(
        tmp_path: Path, existing: str | None, approval: Approval) -> None:
    path = tmp_path / APPROVAL_FILE
    if existing is not None:
        path.write_text(existing, encoding="utf-8")
    with pytest.raises(BadInput, match=APPROVAL_FILE):
        record_approval(tmp_path, approval)
    assert sorted(p.name for p in tmp_path.iterdir()) == ([APPROVAL_FILE] if existing else [])
    if existing is not None:
        assert path.read_text(encoding="utf-8") == existing
