"""write_tree: replaces only a previous export's files, in place, keeping the folder's mode;
undoes every step when one fails."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from ivig_fhir.problems import BadInput
from ivig_fhir.write import WriteFailed, check_out, read_tree, write_tree


def _manifest(files: dict[str, bytes]) -> bytes:
    return json.dumps({"tool": {"name": "ivig-fhir"}, "files": [
        {"path": p, "sha256": hashlib.sha256(d).hexdigest()} for p, d in sorted(files.items())
    ]}).encode()


def _export(files: dict[str, bytes]) -> dict[str, bytes]:
    return {**files, "manifest.json": _manifest(files)}


def test_a_new_folder_gets_the_umask_mode(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        write_tree(tmp_path / "new" / "out", _export({"a.json": b"{}"}))
    finally:
        os.umask(umask)
    assert (tmp_path / "new" / "out").stat().st_mode & 0o777 == 0o755
    assert read_tree(tmp_path / "new" / "out")["a.json"] == b"{}"


def test_a_rebuild_keeps_the_folder_and_its_mode_and_drops_only_listed_files(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(out, _export({"a.json": b"1", "ndjson/X.ndjson": b"x"}))
    out.chmod(0o750)
    inode = out.stat().st_ino  # same folder: a mount point stays a mount point
    write_tree(out, _export({"a.json": b"2", "b.json": b"3"}))
    assert out.stat().st_ino == inode
    assert out.stat().st_mode & 0o777 == 0o750
    assert sorted(read_tree(out)) == ["a.json", "b.json", "manifest.json"]
    assert not (out / "ndjson").exists()  # emptied by the rebuild, so removed
    assert not [p for p in out.iterdir() if p.name.startswith(".ivig-fhir-staging")]


def test_a_failed_swap_restores_the_previous_export(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(out, _export({"a.json": b"old", "x.json/inner": b"old"}))
    before = read_tree(out)
    # x.json is a folder in the previous export: a new file x.json cannot be renamed onto it,
    # after a.json was already replaced, so everything must be put back.
    with pytest.raises(WriteFailed, match="cannot write"):
        write_tree(out, _export({"a.json": b"new", "x.json": b"new"}))
    assert read_tree(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".ivig-fhir-staging")]


def test_check_out_lists_the_previous_files_and_refuses_others(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(out, _export({"a.json": b"1"}))
    assert check_out(out, {}) == {"a.json", "manifest.json"}
    (out / "notes.txt").write_text("mine")
    with pytest.raises(BadInput, match=r"notes\.txt"):
        check_out(out, {})


def test_a_failed_write_into_a_new_folder_leaves_no_folder(tmp_path: Path) -> None:
    # A file and a folder of the same name cannot both be written: the build fails while
    # staging, and the folders it made for --out (new/deeper/out) are gone again.
    with pytest.raises(WriteFailed):
        write_tree(tmp_path / "new" / "deeper" / "out", {"x": b"1", "x/y": b"2"})
    assert list(tmp_path.iterdir()) == []
