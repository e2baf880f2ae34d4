"""The official examples packages and the HL7 engine's verdicts on them: what
tests/referee/test_examples_parity.py and scripts/referee-verdicts share."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REFEREE = ROOT / "scripts" / "referee"
VERDICTS = Path(__file__).resolve().parent / "verdicts"
PACKAGES = {"R5": ("hl7.fhir.r5.examples", "5.0.0"), "R4B": ("hl7.fhir.r4b.examples", "4.3.0")}
# Files this large (whole-spec Bundles) go last: each takes the engine minutes.
LARGE_BYTES = 1_000_000
ABORTED = "referee: validation aborted"
# Kept per file: enough to read why, small enough to check in.
KEEP_ERRORS = 5


def cache() -> Path:
    base = os.environ.get("IVIG_FHIR_CACHE")
    return Path(base) if base else Path.home() / ".cache" / "ivig-fhir"


def package(name: str, version: str) -> Path:
    folder = cache() / "npm"
    tgz = folder / f"{name}-{version}.tgz"
    if not tgz.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "pack", "--silent", f"{name}@{version}"], cwd=folder,
                       check=True, stdout=subprocess.DEVNULL, timeout=600)
    return tgz


def _order(name: str, size: int) -> tuple[bool, str]:
    return (size > LARGE_BYTES, hashlib.sha256(name.encode()).hexdigest())


def members(tgz: Path) -> list[str]:
    """Every example file of the package, in a fixed order: by the sha256 of its name, the
    few very large ones last. Any prefix is a deterministic sample."""
    found = []
    with tarfile.open(tgz, "r:gz") as tar:
        for m in tar.getmembers():
            parts = m.name.split("/")
            if (len(parts) == 2 and m.isfile() and parts[1].endswith(".json")
                    and parts[1] not in ("package.json", ".index.json")):
                found.append((_order(parts[1], m.size), parts[1]))
    return [n for _, n in sorted(found)]


def extract(tgz: Path, into: Path, names: set[str]) -> dict[str, Path]:
    out = {}
    with tarfile.open(tgz, "r:gz") as tar:
        for m in tar.getmembers():
            parts = m.name.split("/")
            if len(parts) == 2 and parts[1] in names and m.isfile():
                f = tar.extractfile(m)
                assert f is not None
                target = into / parts[1]
                target.write_bytes(f.read())
                out[parts[1]] = target
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def referee_version() -> str:
    """What decides the referee's verdicts: its module's pom and sources."""
    h = hashlib.sha256()
    module = ROOT / "java" / "referee"
    for f in sorted([module / "pom.xml", *(module / "src").rglob("*")]):
        if f.is_file():
            h.update(f.relative_to(module).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def key(tgz: Path) -> str:
    return f"{tgz.stem}-{sha256(tgz)[:16]}-referee-{referee_version()}"


def errors(outcome: dict[str, Any]) -> list[str]:
    return [f"{' '.join(i.get('expression', []))}: {i.get('diagnostics', '')}"[:300]
            for i in outcome.get("issue", []) if i.get("severity") in ("error", "fatal")]


def run_referee(version: str, files: list[Path], timeout: int = 7200) -> dict[str, list[str]]:
    """One referee run over `files`: each file's errors (at most KEEP_ERRORS of them, then a
    count of the rest)."""
    run = subprocess.run([str(REFEREE), "--fhir-version", version, *map(str, files)],
                         capture_output=True, text=True, check=False, timeout=timeout)
    if run.returncode != 0:
        raise RuntimeError(f"referee exit {run.returncode}: {run.stderr[-3000:]}")
    by_path = {Path(r["file"]).resolve(): r["outcome"] for r in json.loads(run.stdout)["results"]}
    out = {}
    for f in files:
        found = errors(by_path[f.resolve()])
        if len(found) > KEEP_ERRORS:
            found = [*found[:KEEP_ERRORS], f"... and {len(found) - KEEP_ERRORS} more errors"]
        out[f.name] = found
    return out
