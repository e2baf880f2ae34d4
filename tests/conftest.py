"""Suite-wide rules: tests marked `java` need Java 17 and Maven; tests marked `browser` need
Debian's chromium and the Playwright package that drives it.

Where they are absent the tests skip with the reason, except when IVIG_FHIR_REQUIRE_JAVA=1 or
IVIG_FHIR_REQUIRE_BROWSER=1 (both set by .ci/run): then a missing tool fails the run instead of
hiding the tests that use the real HL7 engine, the real HAPI server or the real browser.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

import pytest


def _missing_java_tools() -> list[str]:
    return [tool for tool in ("java", "mvn") if shutil.which(tool) is None]


def _missing_browser_tools() -> list[str]:
    missing = [] if shutil.which("chromium") else ["chromium"]
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package")
    return missing


def _gate(items: list[pytest.Item], marker: str, missing: list[str], needs: str,
          env: str) -> None:
    if not missing or not any(item.get_closest_marker(marker) for item in items):
        return
    reason = f"needs {' and '.join(missing)} ({needs})"
    if os.environ.get(env) == "1":
        raise pytest.UsageError(f"{env}=1 but the {marker} tests cannot run: {reason}")
    for item in items:
        if item.get_closest_marker(marker):
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _gate(items, "java", _missing_java_tools(), "Java 17 and Maven on PATH",
          "IVIG_FHIR_REQUIRE_JAVA")
    _gate(items, "browser", _missing_browser_tools(),
          "apt-get install chromium; pip install -e '.[test]'", "IVIG_FHIR_REQUIRE_BROWSER")


# Modules of tests/integration whose tests use the session's HAPI server (the `hapi` fixture);
# test_upload_r4 and test_upload_r4b start their own R4 / R4B servers.
_OWN_SERVER = ("tests/integration/test_upload_r4.py", "tests/integration/test_upload_r4b.py")


def _scope(nodeid: str) -> str:
    """The unit of work one xdist worker takes whole: a module, so a module fixture (an
    export, an engine run, a server) is made once; and all of tests/integration that shares
    the session's HAPI server, so one such server starts, not one per worker."""
    module = nodeid.split("::")[0]
    if module.startswith("tests/integration/") and module not in _OWN_SERVER:
        return "tests/integration (the session's HAPI server)"
    return module


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist (`-n 2`, as pyproject sets) schedules by `_scope`. (Its `loadgroup` mode
    would do it with markers, but with pytest 9 it sends a group's tests to both workers.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ByScope(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

    return ByScope(config, log)


_JARS = {"java/referee": "target/referee.jar", "java/hapi-server": "target/ivig-hapi-server.jar"}


def pytest_sessionstart(session: pytest.Session) -> None:
    """Say at once that Maven will build the Java modules (minutes on a clean clone), so the
    suite does not sit silent while scripts/referee and scripts/hapi-server build. Said by the
    process that owns the terminal: xdist's workers have none."""
    config = session.config
    if hasattr(config, "workerinput") or "not java" in (config.option.markexpr or ""):
        return
    root = config.rootpath
    unbuilt = [module for module, jar in _JARS.items() if not (root / module / jar).is_file()]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if unbuilt and reporter is not None:
        reporter.write_line(f"{' and '.join(unbuilt)} not built yet: the first java tests "
                            f"build {'them' if len(unbuilt) > 1 else 'it'} with Maven (several "
                            "minutes, ~3 GB memory)",
                            yellow=True)


# A release that withdraws one use: pure red cell aplasia is removed from source_data/ (its
# ClinicalUseDefinition, Provenance and ValueSet go; MedicationKnowledge no longer lists it).
# Built once per session with every withdrawn-listing format; the uploads use its Bundle.
WITHDRAWN_USE = "pure-red-cell-aplasia"  # tests name it too: keep them in step


@pytest.fixture(scope="session")
def withdrawn_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of that release, built with --previous output/."""
    from typer.testing import CliRunner

    from ivig_fhir.cli import app

    root = Path(__file__).resolve().parents[1]
    work = tmp_path_factory.mktemp("withdrawn")
    source = work / "source_data"
    shutil.copytree(root / "source_data", source)
    path = source / "indications.yaml"
    text = path.read_text()
    start = text.index(f"  - key: {WITHDRAWN_USE}\n")
    path.write_text(text[:start] + text[text.index("  - key: ", start + 1):])
    out = work / "out"
    run = CliRunner().invoke(app, [
        "build", "--source", str(source), "--out", str(out), "--format", "transaction",
        "--format", "ndjson", "--format", "package", "--previous", str(root / "output")])
    assert run.exit_code == 0, run.output
    return out
