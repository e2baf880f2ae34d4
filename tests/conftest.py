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
