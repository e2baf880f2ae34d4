"""scripts/referee's verdict cache (scripts/_referee_cache.py): the same engine on the same
bytes answers from the cache, whatever the files' paths; anything that could change a verdict
runs the engine again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REFEREE = ROOT / "scripts" / "referee"
CACHE = ROOT / "scripts" / "_referee_cache.py"
BASIC = {"resourceType": "Basic", "id": "b1", "code": {"text": "a note"}}


def _run(command: list[str], cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=900,
                          env={**os.environ, "IVIG_FHIR_CACHE": str(cache)})


@pytest.mark.java
def test_the_engine_answers_once_for_the_same_bytes(tmp_path: Path) -> None:
    first, moved = tmp_path / "a" / "basic.json", tmp_path / "b" / "other.json"
    for f in (first, moved):
        f.parent.mkdir()
        f.write_text(json.dumps(BASIC))
    ran = _run([str(REFEREE), str(first)], tmp_path / "cache")
    cached = _run([str(REFEREE), str(moved)], tmp_path / "cache")
    assert ran.returncode == 0 and cached.returncode == 0, ran.stderr + cached.stderr
    assert "from the cache" not in ran.stderr
    assert "from the cache" in cached.stderr
    got, again = json.loads(ran.stdout), json.loads(cached.stdout)
    assert [r["file"] for r in again["results"]] == [str(moved)]
    assert again["results"][0]["outcome"] == got["results"][0]["outcome"]
    assert again["validator"] == got["validator"]


# An engine stand-in that counts its runs: the cache's keys, not the engine, are under test.
STAND_IN = """
import json, sys
from pathlib import Path
runs = Path(sys.argv[1]); runs.write_text(str(int(runs.read_text() or 0) + 1))
files = [a for a in sys.argv[4:] if not a.startswith("-") and a != "R4"]
print(json.dumps({"results": [{"file": f, "outcome": {"n": len(Path(f).read_text())}}
                              for f in files]}))
sys.exit(3 if any("fails" in f for f in files) else 0)
"""


def test_the_key_is_contents_and_options_never_paths(tmp_path: Path) -> None:
    module = tmp_path / "module"
    (module / "src").mkdir(parents=True)
    (module / "pom.xml").write_text("<project/>")
    runs = tmp_path / "runs"
    runs.write_text("0")
    engine = tmp_path / "engine.py"
    engine.write_text(STAND_IN)
    cache = tmp_path / "cache"

    def referee(*args: str) -> subprocess.CompletedProcess[str]:
        return _run([sys.executable, str(CACHE), str(module), "--", sys.executable,
                     str(engine), str(runs), "-jar", "referee.jar", *args], cache)

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text("{}")
    b.write_text("{}")
    assert referee(str(a)).returncode == 0
    hit = referee(str(b))
    assert json.loads(hit.stdout)["results"][0]["file"] == str(b)
    assert runs.read_text() == "1"
    referee("--fhir-version", "R4", str(b))  # another option: another key
    b.write_text("{ }")
    referee(str(b))  # another content
    assert runs.read_text() == "3"
    (module / "src" / "Main.java").write_text("class Main {}")
    referee(str(b))  # another referee
    assert runs.read_text() == "4"
    fails = tmp_path / "fails.json"
    fails.write_text("{}")
    assert referee(str(fails)).returncode == 3
    assert referee(str(fails)).returncode == 3  # a failed run is never stored
    assert runs.read_text() == "6"
