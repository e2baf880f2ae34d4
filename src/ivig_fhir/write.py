"""Stage 6: write the export into `--out`, never destroying what ivig-fhir did not write.

`--out` may be replaced only when it is missing, empty, or holds a previous export recognised
by its manifest.json; then only the files that manifest lists are replaced or removed.
Anything else in the way is refused before the build starts (`check_out`).

Files are written inside `--out` itself (a mount point or a folder with its own mode stays
what it is): first into a staging folder there, then renamed into place one by one with the
previous files set aside, and the previous files restored if any step fails. A failure before
the renames (disk full, read-only) leaves the previous export exactly as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ivig_fhir.problems import BadInput, FindingsError

MANIFEST_FILE = "manifest.json"
STAGING_PREFIX = ".ivig-fhir-staging-"


class WriteFailed(FindingsError):
    """The disk refused (full, read-only, permissions): exit 1, previous export intact."""


def _refuse(out: Path, why: str) -> BadInput:
    return BadInput(f"--out {out}: refused, {why}; nothing was changed")


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError on Python 3.11)
        raise _refuse(path, f"cannot resolve the path ({exc})") from None


def listed_files(out_dir: Path) -> set[str] | None:
    """The files a previous export in `out_dir` wrote (its manifest included), or None when
    `out_dir` holds no manifest that ivig-fhir wrote."""
    try:
        manifest = json.loads((out_dir / MANIFEST_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict):
        return None
    tool, files = manifest.get("tool"), manifest.get("files")
    if not (isinstance(tool, dict) and tool.get("name") == "ivig-fhir"
            and isinstance(files, list)):
        return None
    listed = {MANIFEST_FILE}
    for item in files:
        path = item.get("path") if isinstance(item, dict) else None
        if not isinstance(path, str) or path.startswith("/") or ".." in path.split("/"):
            return None
        listed.add(path)
    return listed


def _contents(out_dir: Path) -> list[str]:
    """Every file and symlink under `out_dir` (relative paths), without following links."""
    found = []
    for root, dirs, files in os.walk(out_dir):
        here = Path(root)
        for name in files + [d for d in dirs if (here / d).is_symlink()]:
            found.append((here / name).relative_to(out_dir).as_posix())
    return sorted(found)


def check_out(out_dir: Path, protected: Mapping[str, Path | None]) -> set[str]:
    """Refuse (BadInput, exit 2) an `--out` that is not safe to replace; return the files of
    the previous export there (empty when the folder is missing or empty).

    `protected` names folders that must never be inside `--out` (e.g. {"--source": ...})."""
    out = _resolved(out_dir)
    cwd = Path.cwd().resolve()
    if out == cwd or out in cwd.parents:
        raise _refuse(out_dir, "it is the current folder or one of its parents")
    for option, folder in protected.items():
        if folder is None:
            continue
        guarded = _resolved(folder)
        if out == guarded or out in guarded.parents:
            raise _refuse(out_dir, f"it is or contains the {option} folder {folder}")
    if out_dir.is_symlink() and not out_dir.exists():
        raise _refuse(out_dir, "it is a broken symbolic link")
    if not out_dir.exists():
        return set()
    if not out_dir.is_dir():
        raise _refuse(out_dir, "it is a file, not a folder (give the folder to write the "
                      "export into)")
    try:
        present = _contents(out_dir)
    except OSError as exc:
        raise _refuse(out_dir, f"cannot list it ({exc.strerror})") from None
    staging = any(p.name.startswith(STAGING_PREFIX) for p in out_dir.iterdir())
    if not present and not staging:
        return set()
    listed = listed_files(out_dir)
    if listed is None:
        raise _refuse(out_dir, "it holds files but no manifest.json of an ivig-fhir export "
                      f"(e.g. {present[0]}); give an empty or new folder")
    stale = sorted(p.name for p in out_dir.iterdir() if p.name.startswith(STAGING_PREFIX))
    if stale:
        raise _refuse(out_dir, f"it holds {stale[0]} from an interrupted build; check and "
                      "remove it")
    extra = [p for p in present if p not in listed]
    if extra:
        shown = ", ".join(extra[:3]) + (f" and {len(extra) - 3} more" if len(extra) > 3 else "")
        raise _refuse(out_dir, f"it holds files the export's manifest does not list ({shown})")
    return {p for p in present if p in listed}


def write_tree(out_dir: Path, files: Mapping[str, bytes],
               protected: Mapping[str, Path | None] | None = None) -> None:
    """Make `out_dir` hold exactly `files` (relative path -> bytes) in place of the previous
    export's files. Raises BadInput when `check_out` refuses, WriteFailed when the disk does."""
    previous = check_out(out_dir, protected or {})
    created: Path | None = None  # the topmost folder this call made, removed on failure
    try:
        if not out_dir.exists():
            created = next(p for p in [*reversed(out_dir.absolute().parents), out_dir.absolute()]
                           if not p.exists())
            out_dir.mkdir(parents=True)  # the usual umask mode, never tempfile's 0700
        stage = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out_dir))
    except OSError as exc:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise _failed(out_dir, exc) from None
    try:
        _stage(stage / "new", files)
        _swap(out_dir, stage, files, previous)
    except OSError as exc:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise _failed(out_dir, exc) from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _failed(out_dir: Path, exc: OSError) -> WriteFailed:
    why = exc.strerror or str(exc)
    return WriteFailed(f"--out {out_dir}: cannot write ({why}); the previous export there is "
                       "unchanged")


def _stage(new: Path, files: Mapping[str, bytes]) -> None:
    for rel, data in sorted(files.items()):
        target = new / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def _swap(out_dir: Path, stage: Path, files: Mapping[str, bytes], previous: set[str]) -> None:
    """Set the previous files aside, move the new ones in; on any error, undo every step."""
    aside = stage / "old"
    moved_aside: list[str] = []
    moved_in: list[str] = []
    made_dirs: list[Path] = []
    try:
        for rel in sorted(previous):
            (aside / rel).parent.mkdir(parents=True, exist_ok=True)
            (out_dir / rel).rename(aside / rel)
            moved_aside.append(rel)
        for rel in sorted(files, key=lambda r: (r == MANIFEST_FILE, r)):  # manifest last
            target = out_dir / rel
            for parent in reversed(target.relative_to(out_dir).parents[:-1]):
                folder = out_dir / parent
                if not folder.is_dir():
                    folder.mkdir()
                    made_dirs.append(folder)
            (stage / "new" / rel).rename(target)
            moved_in.append(rel)
    except OSError:
        for rel in reversed(moved_in):
            (out_dir / rel).unlink(missing_ok=True)
        for folder in reversed(made_dirs):
            folder.rmdir()
        for rel in reversed(moved_aside):
            (aside / rel).rename(out_dir / rel)
        raise
    # Folders that held only files of the previous export (e.g. ndjson/ after --format changed).
    for rel in sorted(previous - set(files), reverse=True):
        for parent in Path(rel).parents[:-1]:
            try:
                (out_dir / parent).rmdir()
            except OSError:
                break


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
