"""The project's HAPI FHIR JPA server (scripts/hapi-server) as a test peer: start, stop,
restart in place on the same port and database, read its state."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 900  # a clean clone builds the server with Maven first


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class HapiServer:
    def __init__(self, workdir: Path, fhir_version: str = "R5",
                 settings: tuple[str, ...] = ()) -> None:
        self.workdir = workdir
        self.fhir_version = fhir_version
        # e.g. ("--client-id-strategy", "NOT_ALLOWED"): other servers' habits, from HAPI itself
        self.settings = settings
        self.data_dir = workdir / "data"
        self.port = free_port()
        self.url = ""
        self.token: str | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, token: str | None = None) -> None:
        args = [str(ROOT / "scripts" / "hapi-server"), "--port", str(self.port),
                "--data-dir", str(self.data_dir), "--log-file", str(self.workdir / "log"),
                "--fhir-version", self.fhir_version, *self.settings]
        if token:
            token_file = self.workdir / "required-token"
            token_file.write_text(token)
            args += ["--require-token-file", str(token_file)]
        self.token = token
        with open(self.workdir / "stderr", "ab") as stderr:
            self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr)
        self.starts += 1
        self.url = self._read_url_line(self.process)

    def _read_url_line(self, process: subprocess.Popen[bytes]) -> str:
        assert process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if selector.select(timeout=1.0):
                    line = process.stdout.readline().decode().strip()
                    if line.startswith("http"):
                        return line
                if process.poll() is not None:
                    break
        self.stop()
        log = (self.workdir / "stderr").read_text()[-2000:]
        raise RuntimeError(f"scripts/hapi-server printed no URL; stderr tail:\n{log}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None

    def restart(self, token: str | None = None) -> None:
        """Stop and start again on the same port and H2 database (~45 s)."""
        self.stop()
        self.start(token)

    def set_habits(self, **settings: int | str | bool) -> dict[str, Any]:
        """Change the server's habits while it runs (it was started with --runtime-settings):
        max_transaction_entries, max_request_bytes (0: no limit), client_id_strategy,
        suppress_unchanged. Returns them all as the server now has them."""
        params = {k.replace("_", "-"): str(v).lower() if isinstance(v, bool) else str(v)
                  for k, v in settings.items()}
        answer = httpx.post(f"{self.url.removesuffix('/fhir')}/admin/settings", params=params,
                            timeout=30)
        answer.raise_for_status()
        habits: dict[str, Any] = answer.json()
        return habits

    # --- reading the server's state ---------------------------------------------------
    def client(self) -> httpx.Client:
        headers = {"Accept": "application/fhir+json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return httpx.Client(base_url=self.url + "/", headers=headers, timeout=120)

    def env(self) -> dict[str, str]:
        """What an upload needs to reach this server (its token, when it requires one)."""
        return {"IVIG_FHIR_TOKEN": self.token} if self.token else {}

    def count(self, resource_type: str) -> int:
        with self.client() as c:
            r = c.get(resource_type, params={"_summary": "count"})
            r.raise_for_status()
            total: int = r.json()["total"]
            return total

    def counts(self, types: Any) -> dict[str, int]:
        return {t: self.count(t) for t in sorted(types)}

    def read_all(self, keys: list[str]) -> dict[str, dict[str, Any] | None]:
        """Type/id -> the stored resource (None when absent), by batch reads."""
        found: dict[str, dict[str, Any] | None] = {}
        with self.client() as c:
            for start in range(0, len(keys), 100):
                part = keys[start:start + 100]
                batch = {"resourceType": "Bundle", "type": "batch",
                         "entry": [{"request": {"method": "GET", "url": k}} for k in part]}
                r = c.post("", json=batch)
                r.raise_for_status()
                for key, entry in zip(part, r.json()["entry"], strict=True):
                    resource = entry.get("resource")
                    ok = resource and resource.get("resourceType") != "OperationOutcome"
                    found[key] = resource if ok else None
        return found

    def versions(self, keys: list[str]) -> dict[str, str | None]:
        return {k: (r or {}).get("meta", {}).get("versionId")
                for k, r in self.read_all(keys).items()}
