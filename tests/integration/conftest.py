"""One real HAPI FHIR server per test session (scripts/hapi-server on a free port, an H2
database in a temporary folder), shared by every integration test.

Isolation: each scenario uploads its own copy of the export under suffixed ids
(`ivig_fhir.upload.relabel`), so scenarios do not see each other's resources and a test can
expect a fresh copy to be created from nothing; counts are compared before and after.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ivig_fhir.upload import relabel
from ivig_fhir.upload.profiles import ServerProfile

from .hapi import ROOT, HapiServer

EXPORT = ROOT / "output" / "ivig-fhir-bundle.json"


@pytest.fixture(scope="session")
def hapi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HapiServer]:
    # --runtime-settings: tests make it behave like another server (`habits_of`) in turn.
    server = HapiServer(tmp_path_factory.mktemp("hapi"), settings=("--runtime-settings",))
    server.start()
    try:
        yield server
    finally:
        server.stop()


HAPI_DEFAULTS = {"max_transaction_entries": 0, "max_request_bytes": 0,
                 "client_id_strategy": "ALPHANUMERIC", "suppress_unchanged": True}


@contextmanager
def habits_of(server: HapiServer, profile: ServerProfile) -> Iterator[None]:
    """The server set to the profile's limits with HAPI's own settings (entries per
    transaction, client id strategy, no-op update suppression) and a byte limit (413 above
    each), then back to HAPI's defaults for the next test."""
    server.set_habits(max_transaction_entries=profile.max_entries or 0,
                      max_request_bytes=profile.max_bytes or 0,
                      client_id_strategy="ALPHANUMERIC" if profile.client_ids else "NOT_ALLOWED",
                      suppress_unchanged=not profile.versions_identical_updates)
    try:
        yield
    finally:
        if server.process is not None:
            server.set_habits(**HAPI_DEFAULTS)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_upload(*args: str, env: dict[str, str] | None = None) -> Run:
    """`ivig-fhir upload ...` in a subprocess, as a user runs it (not a terminal: plain
    progress lines). Credentials only from `env`, never inherited."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("IVIG_FHIR_") and k != "HAPI_REQUIRED_BEARER_TOKEN"}
    clean["PYTHONPATH"] = str(ROOT / "src")
    done = subprocess.run([sys.executable, "-m", "ivig_fhir", "upload", *args],
                          env={**clean, **(env or {})}, capture_output=True, text=True,
                          timeout=900, check=False)
    return Run(done.returncode, done.stdout, done.stderr)


@dataclass
class ExportCopy:
    path: Path
    bundle: dict[str, Any]

    @property
    def keys(self) -> list[str]:
        return [f"{e['resource']['resourceType']}/{e['resource']['id']}"
                for e in self.bundle["entry"]]

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.bundle["entry"]:
            counts[e["resource"]["resourceType"]] = counts.get(e["resource"]["resourceType"],
                                                               0) + 1
        return counts


def export_copy(folder: Path, tag: str | None, source: Path = EXPORT) -> ExportCopy:
    """The export (or `source`) written to `folder`, relabelled with `tag`, manifest beside."""
    bundle = json.loads(source.read_text())
    if tag:
        bundle = relabel(bundle, tag)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bundle.json"
    path.write_text(json.dumps(bundle))
    (folder / "manifest.json").write_text((source.parent / "manifest.json").read_text())
    return ExportCopy(path, bundle)
