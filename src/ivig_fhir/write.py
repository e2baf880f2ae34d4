"""Stage 6: write files atomically. Everything goes to a temporary folder beside the target,
which is then swapped in; a failed run leaves the previous output as it was."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path


def write_tree(out_dir: Path, files: Mapping[str, bytes]) -> None:
    """Replace `out_dir` with exactly `files` (relative path -> bytes)."""
    out_dir = out_dir.absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        for rel, data in sorted(files.items()):
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        old = None
        if out_dir.exists():
            old = out_dir.with_name(f"{out_dir.name}.old-{os.getpid()}")
            out_dir.rename(old)
        try:
            tmp.rename(out_dir)
        except OSError:
            if old is not None:
                old.rename(out_dir)
            raise
        if old is not None:
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def read_tree(out_dir: Path) -> dict[str, bytes]:
    if not out_dir.is_dir():
        return {}
    return {p.relative_to(out_dir).as_posix(): p.read_bytes()
            for p in sorted(out_dir.rglob("*")) if p.is_file()}


def compare_tree(out_dir: Path, files: Mapping[str, bytes]) -> list[tuple[str, str]]:
    """How `out_dir` differs from `files`: (relative path, "differs" | "missing" | "extra"),
    sorted by path; empty when the folder holds exactly these bytes."""
    current = read_tree(out_dir)
    found = [(name, "missing" if name not in current else "differs")
             for name, data in files.items() if current.get(name) != data]
    found += [(name, "extra") for name in current if name not in files]
    return sorted(found)
