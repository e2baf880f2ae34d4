"""ivig-fhir validate against the official HL7 engine (scripts/referee) on content nobody here
wrote: the official examples packages `hl7.fhir.r5.examples@5.0.0` and
`hl7.fhir.r4b.examples@4.3.0` (npm).

Per file, the verdicts are compared: does the file have an error (severity error/fatal)?
- a false negative: the engine finds an error, ivig-fhir none; at most 2% of the files the
  engine rejects;
- a false positive: ivig-fhir finds an error, the engine none; at most 0.3% of the files.
Every disagreement is listed below by name with its reason and asserted exactly, so a fix (or a
new miss) shows up.

The referee over a whole package takes over an hour on this machine (~1.8 s a file, 2,800
files a package), so the test takes a deterministic sample: the files whose name's sha256
falls in 1/SAMPLE_EVERY of the range, smaller than MAX_BYTES (R5: 107 files, R4B: 90). Cold,
the two referee runs took 3.0 and 3.3 minutes here (2 cores shared with other jobs); warm, the
test only runs ivig-fhir (R4B ~15 s, R5 ~2-5 min: a few StructureDefinitions dominate).
The packages are
fetched with `npm pack` into the cache ($IVIG_FHIR_CACHE, else ~/.cache/ivig-fhir), the
referee runs ONCE per package over the whole sample, and its verdicts are cached under the
package's sha256, the referee's version and the sample rule, so a re-run only runs ivig-fhir.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ivig_fhir.validate import validate_bytes

pytestmark = pytest.mark.java

ROOT = Path(__file__).resolve().parents[2]
REFEREE = ROOT / "scripts" / "referee"
PACKAGES = {"R5": ("hl7.fhir.r5.examples", "5.0.0"), "R4B": ("hl7.fhir.r4b.examples", "4.3.0")}
SAMPLE_EVERY = 28
MAX_BYTES = 1_000_000
FN_LIMIT = 0.02
_ABORTED = "referee: validation aborted"
FP_LIMIT = 0.003

# Files the engine rejects and ivig-fhir passes, with why.
FALSE_NEGATIVES: dict[str, str] = {}

# Files ivig-fhir rejects and the engine passes, with why.
FALSE_POSITIVES: dict[str, str] = {}


def _cache() -> Path:
    base = os.environ.get("IVIG_FHIR_CACHE")
    return Path(base) if base else Path.home() / ".cache" / "ivig-fhir"


def _package(name: str, version: str) -> Path:
    folder = _cache() / "npm"
    tgz = folder / f"{name}-{version}.tgz"
    if not tgz.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "pack", "--silent", f"{name}@{version}"], cwd=folder,
                       check=True, stdout=subprocess.DEVNULL, timeout=600)
    return tgz


def _in_sample(name: str) -> bool:
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % SAMPLE_EVERY == 0


def _extract(tgz: Path, into: Path) -> list[Path]:
    """The sampled example files of the package, written under `into`."""
    out = []
    with tarfile.open(tgz, "r:gz") as tar:
        for m in tar.getmembers():
            parts = m.name.split("/")
            if (len(parts) != 2 or not m.isfile() or not parts[1].endswith(".json")
                    or parts[1] in ("package.json", ".index.json") or m.size > MAX_BYTES
                    or not _in_sample(parts[1])):
                continue
            f = tar.extractfile(m)
            assert f is not None
            target = into / parts[1]
            target.write_bytes(f.read())
            out.append(target)
    return sorted(out)


def _referee_version() -> str:
    """What decides the referee's verdicts: its module's pom and sources."""
    h = hashlib.sha256()
    module = ROOT / "java" / "referee"
    for f in sorted([module / "pom.xml", *(module / "src").rglob("*")]):
        if f.is_file():
            h.update(f.relative_to(module).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def _errors(outcome: dict[str, Any]) -> list[str]:
    return [f"{' '.join(i.get('expression', []))}: {i.get('diagnostics', '')}"[:300]
            for i in outcome.get("issue", []) if i.get("severity") in ("error", "fatal")]


@dataclass(frozen=True)
class Parity:
    version: str
    files: list[str]
    engine: dict[str, list[str]]  # file -> the engine's errors
    ivig: dict[str, list[str]]  # file -> ivig-fhir's errors

    def aborted(self) -> list[str]:
        """Files the engine could not validate (a crash inside HAPI is not a verdict)."""
        return [f for f in self.files if any(_ABORTED in e for e in self.engine[f])]

    def judged(self) -> list[str]:
        aborted = set(self.aborted())
        return [f for f in self.files if f not in aborted]

    def rejected_by_engine(self) -> list[str]:
        return [f for f in self.judged() if self.engine[f]]

    def false_negatives(self) -> list[str]:
        return [f for f in self.judged() if self.engine[f] and not self.ivig[f]]

    def false_positives(self) -> list[str]:
        return [f for f in self.judged() if self.ivig[f] and not self.engine[f]]


def _engine_verdicts(version: str, tgz: Path, files: list[Path]) -> dict[str, list[str]]:
    sha = hashlib.sha256(tgz.read_bytes()).hexdigest()
    key = f"{tgz.stem}-{sha[:16]}-referee-{_referee_version()}-every{SAMPLE_EVERY}-max{MAX_BYTES}"
    cached = _cache() / "referee-verdicts" / f"{key}.json"
    if cached.is_file():
        data: dict[str, list[str]] = json.loads(cached.read_text(encoding="utf-8"))
        if sorted(data) == sorted(f.name for f in files):
            return data
    run = subprocess.run([str(REFEREE), "--fhir-version", version, *map(str, files)],
                         capture_output=True, text=True, check=False, timeout=3600)
    assert run.returncode == 0, run.stderr[-3000:]
    by_path = {Path(r["file"]).resolve(): r["outcome"] for r in json.loads(run.stdout)["results"]}
    verdicts = {f.name: _errors(by_path[f.resolve()]) for f in files}
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(verdicts, indent=1, sort_keys=True), encoding="utf-8")
    return verdicts


@pytest.fixture(scope="module", params=sorted(PACKAGES))
def parity(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Parity:
    version: str = request.param
    name, pkg_version = PACKAGES[version]
    tgz = _package(name, pkg_version)
    files = _extract(tgz, tmp_path_factory.mktemp(f"examples-{version}"))
    assert len(files) > 50, f"the sample of {name} has only {len(files)} files"
    engine = _engine_verdicts(version, tgz, files)
    ivig = {}
    for f in files:
        found = validate_bytes(f.read_bytes(), file=f.name, fhir_version=version)
        ivig[f.name] = [p.render() for p in found if p.is_error]
    return Parity(version, [f.name for f in files], engine, ivig)


def _label(p: Parity, name: str) -> str:
    return f"{p.version}/{name}"


def _show(p: Parity, names: list[str], side: dict[str, list[str]]) -> str:
    return "\n".join(f"{_label(p, n)}:\n    " + "\n    ".join(side[n][:3]) for n in names)


def test_false_negatives_are_the_listed_ones(parity: Parity) -> None:
    found = {_label(parity, n) for n in parity.false_negatives()}
    listed = {k for k in FALSE_NEGATIVES if k.startswith(parity.version + "/")}
    new = sorted(found - listed)
    assert not new, ("the engine rejects, ivig-fhir passes:\n"
                     + _show(parity, [n.split("/", 1)[1] for n in new], parity.engine))
    assert sorted(listed - found) == [], "listed but no longer a false negative: remove them"


def test_false_positives_are_the_listed_ones(parity: Parity) -> None:
    found = {_label(parity, n) for n in parity.false_positives()}
    listed = {k for k in FALSE_POSITIVES if k.startswith(parity.version + "/")}
    new = sorted(found - listed)
    assert not new, ("ivig-fhir rejects, the engine passes:\n"
                     + _show(parity, [n.split("/", 1)[1] for n in new], parity.ivig))
    assert sorted(listed - found) == [], "listed but no longer a false positive: remove them"


def test_rates_hold(parity: Parity) -> None:
    rejected = parity.rejected_by_engine()
    fn, fp = parity.false_negatives(), parity.false_positives()
    print(f"\n{parity.version}: {len(parity.files)} files ({len(parity.aborted())} the engine "
          f"could not validate: {', '.join(parity.aborted()) or 'none'}), "
          f"engine rejects {len(rejected)}; "
          f"false negatives {len(fn)} ({len(fn) / max(len(rejected), 1):.1%}), "
          f"false positives {len(fp)} ({len(fp) / len(parity.files):.2%})")
    assert len(fn) <= FN_LIMIT * len(rejected)
    assert len(fp) <= FP_LIMIT * len(parity.judged())
