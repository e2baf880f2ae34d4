"""Strict typing and linting are part of the suite, so CI holds every change to them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, check=False)


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "src", "tests", "scripts")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing() -> None:
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_merge_conflict_left_in_tracked_text() -> None:
    # A conflict resolved in code but not in prose once reached the README on main.
    result = subprocess.run(["git", "grep", "-n", "-I", "-E", "^(<<<<<<<|>>>>>>>) "],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode in (0, 1), result.stderr
    assert result.stdout == "", result.stdout
