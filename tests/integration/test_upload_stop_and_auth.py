"""The server stopped in the middle of an upload, then restarted; and a server that requires
a bearer token. The restart after the stop brings the server back in token mode, so the whole
session starts the server twice (each start takes about 45 s)."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .conftest import export_copy, run_upload
from .hapi import HapiServer
from .proxy import FaultProxy

pytestmark = pytest.mark.java

TOKEN = f"tok-{secrets.token_hex(16)}"


def test_server_stopped_mid_upload_then_rerun_completes(hapi: HapiServer,
                                                        tmp_path: Path) -> None:
    copy = export_copy(tmp_path, "k")
    before = hapi.counts(copy.counts)

    def stop_after_third_chunk(n: int) -> None:
        if n == 3:
            hapi.stop()  # SIGTERM: a clean stop, as an operator or an orchestrator does

    with FaultProxy(hapi.url, after_write=stop_after_third_chunk) as proxy:
        run = run_upload(str(copy.path), "--server", proxy.url, "--max-entries", "25",
                         "--max-retries", "2", env=hapi.env())
    assert run.code == 1
    n = len(copy.keys)
    chunks = -(-n // 25)
    assert (f"ivig-fhir: chunk 4/{chunks}: HTTP 502 Bad Gateway; gave up after 3 attempts. "
            "landed: chunks 1-3 (75 resources); failed: chunk 4 (25 resources); "
            f"not sent: chunks 5-{chunks} ({n - 100} resources). A chunk that got no answer "
            "landed whole or not at all; re-run to complete the upload") in run.stderr, run.stderr

    hapi.restart(token=TOKEN)  # same port and H2 database
    landed = hapi.versions(copy.keys)
    assert sorted(v or "-" for v in landed.values()) == ["-"] * (n - 75) + ["1"] * 75
    rerun = run_upload(str(copy.path), "--server", hapi.url, "--max-entries", "25",
                       env=hapi.env())
    assert rerun.code == 0, rerun.output
    assert f"{n - 75} created, 0 updated, 75 unchanged" in rerun.stdout
    after = hapi.counts(copy.counts)
    assert {t: after[t] - before[t] for t in after} == copy.counts
    assert set(hapi.versions(copy.keys).values()) == {"1"}


@pytest.fixture
def token_hapi(hapi: HapiServer) -> HapiServer:
    if hapi.token is None:  # this file run alone: the stop test did not restart it
        hapi.restart(token=TOKEN)
    return hapi


def test_token_server_refuses_an_upload_without_token(token_hapi: HapiServer,
                                                      tmp_path: Path) -> None:
    assert token_hapi.token
    copy = export_copy(tmp_path, "t")
    run = run_upload(str(copy.path), "--server", token_hapi.url)
    assert run.code == 1
    # The first request after the open /metadata is the read of what the server holds.
    assert ("read CodeSystem: the server refused it: HTTP 401 Unauthorized (it needs "
            "credentials: IVIG_FHIR_TOKEN, --token-file, or the OAuth2 options); nothing sent"
            ) in run.stderr, run.stderr
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token-0123456789")
    refused = run_upload(str(copy.path), "--server", token_hapi.url, "--token-file", str(wrong))
    assert refused.code == 1
    assert "HTTP 401 Unauthorized (the server did not accept the credentials)" in refused.stderr
    assert "not-the-token-0123456789" not in refused.output
    assert set(token_hapi.versions(copy.keys).values()) == {None}

    accepted = run_upload(str(copy.path), "--server", token_hapi.url,
                          env={"IVIG_FHIR_TOKEN": token_hapi.token})
    assert accepted.code == 0, accepted.output
    assert f"{len(copy.keys)} created" in accepted.stdout
    token_file = tmp_path / "token"
    token_file.write_text(token_hapi.token + "\n")
    again = run_upload(str(copy.path), "--server", token_hapi.url, "--token-file",
                       str(token_file), "--fhir-version", "4.3.0")  # refused by preflight
    assert again.code == 2
    for output in (run.output, accepted.output, again.output):
        assert token_hapi.token not in output


class TokenEndpoint:
    """A small OAuth2 token endpoint (client credentials) that issues the server's token to
    a client with the right secret or a JWT assertion signed by the registered key."""

    def __init__(self, issued: str, client_id: str, secret: str,
                 public_key: ec.EllipticCurvePublicKey) -> None:
        self.requests: list[dict[str, Any]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                endpoint.requests.append({**form, "authorization": self.headers.get(
                    "Authorization", "")})
                if endpoint.accepts(form, self.headers.get("Authorization", "")):
                    self._answer(200, {"access_token": issued, "token_type": "bearer",
                                       "expires_in": 300})
                else:
                    self._answer(401, {"error": "invalid_client"})

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.client_id, self.secret, self.public_key = client_id, secret, public_key
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepts(self, form: dict[str, str], authorization: str) -> bool:
        if form.get("grant_type") != "client_credentials":
            return False
        if "client_assertion" in form:
            try:
                claims = jwt.decode(form["client_assertion"], self.public_key,
                                    algorithms=["ES384"], audience=self.url)
            except jwt.InvalidTokenError:
                return False
            return (form.get("client_assertion_type")
                    == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                    and claims["iss"] == claims["sub"] == self.client_id)
        expected = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
        return authorization == f"Basic {expected}"


@pytest.fixture
def oauth(token_hapi: HapiServer) -> Iterator[tuple[TokenEndpoint, ec.EllipticCurvePrivateKey]]:
    assert token_hapi.token
    key = ec.generate_private_key(ec.SECP384R1())
    endpoint = TokenEndpoint(token_hapi.token, "ivig-loader", f"sec-{secrets.token_hex(12)}",
                             key.public_key())
    yield endpoint, key
    endpoint.server.shutdown()
    endpoint.server.server_close()


def test_oauth2_client_secret(token_hapi: HapiServer, oauth: tuple[TokenEndpoint, Any],
                              tmp_path: Path) -> None:
    endpoint, _ = oauth
    copy = export_copy(tmp_path, "t")
    args = [str(copy.path), "--server", token_hapi.url, "--oauth-token-url", endpoint.url,
            "--client-id", "ivig-loader"]
    run = run_upload(*args, env={"IVIG_FHIR_CLIENT_SECRET": endpoint.secret})
    assert run.code == 0, run.output
    wrong = run_upload(*args, env={"IVIG_FHIR_CLIENT_SECRET": "wrong-secret-42"})
    assert wrong.code == 1
    assert (f"token endpoint {endpoint.url} refused the client 'ivig-loader': HTTP 401 "
            "(invalid_client)") in wrong.stderr
    for output in (run.output, wrong.output):
        assert endpoint.secret not in output
        assert "wrong-secret-42" not in output
        assert str(token_hapi.token) not in output


def test_oauth2_signed_jwt_assertion(token_hapi: HapiServer, oauth: tuple[TokenEndpoint, Any],
                                     tmp_path: Path) -> None:
    endpoint, key = oauth
    pem = tmp_path / "key.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    copy = export_copy(tmp_path, "t")
    run = run_upload(str(copy.path), "--server", token_hapi.url, "--oauth-token-url",
                     endpoint.url, "--client-id", "ivig-loader", "--private-key-file", str(pem),
                     "--key-id", "key-1", "--scope", "system/*.cu system/*.rs")
    assert run.code == 0, run.output
    sent = endpoint.requests[-1]
    assert sent["scope"] == "system/*.cu system/*.rs"
    assert jwt.get_unverified_header(sent["client_assertion"])["kid"] == "key-1"
    assert str(token_hapi.token) not in run.output
