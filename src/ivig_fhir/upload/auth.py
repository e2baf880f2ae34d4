"""Credentials for the upload: a bearer token, or one from an OAuth2 token endpoint (client
credentials with a client secret, or with a signed JWT assertion as in SMART Backend Services).

Secrets come from files or the environment, never from the command line, and never appear in
an exception message: errors name the file or endpoint, not the value.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from ivig_fhir.problems import BadInput, FindingsError

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class AuthFailed(FindingsError):
    """The token endpoint refused the client, or the server refused the credentials."""


def read_secret(path: Path, what: str) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise BadInput(f"cannot read the {what} file {path}: {exc.strerror}") from None
    if not value:
        raise BadInput(f"the {what} file {path} is empty")
    return value


class BearerToken(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


@dataclass(frozen=True)
class ClientCredentials:
    token_url: str
    client_id: str
    client_secret: str | None = None  # client_secret_basic
    private_key_pem: bytes | None = None  # private_key_jwt (SMART Backend Services)
    key_id: str | None = None
    scope: str | None = None

    def __repr__(self) -> str:  # keeps the secret out of any accidental rendering
        return f"ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r})"

    def assertion(self, now: float) -> str:
        try:
            key = load_pem_private_key(self.private_key_pem or b"", password=None)
        except (ValueError, TypeError):
            raise BadInput("the private key file is not an unencrypted PEM private key") from None
        if isinstance(key, rsa.RSAPrivateKey):
            algorithm = "RS384"
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            algorithm = "ES384"
        else:
            raise BadInput("the private key must be RSA (RS384) or EC (ES384), as SMART asks")
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": self.token_url,
                  "iat": int(now), "exp": int(now) + 300, "jti": uuid.uuid4().hex}
        headers = {"kid": self.key_id} if self.key_id else None
        return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


class OAuth2ClientCredentials(httpx.Auth):
    """Fetches an access token before the first request and when it expires; asks again once
    if the server answers 401 to a token it accepted before."""

    def __init__(self, credentials: ClientCredentials, token_client: httpx.Client) -> None:
        self._credentials = credentials
        self._client = token_client
        self._token: str | None = None
        self._expires = 0.0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._token is None or time.time() >= self._expires:
            self._fetch()
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:
            self._fetch()
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request

    def _fetch(self) -> None:
        c = self._credentials
        form = {"grant_type": "client_credentials"}
        if c.scope:
            form["scope"] = c.scope
        auth: httpx.BasicAuth | None = None
        if c.private_key_pem is not None:
            form.update(client_assertion_type=JWT_BEARER,
                        client_assertion=c.assertion(time.time()))
        elif c.client_secret is not None:
            auth = httpx.BasicAuth(c.client_id, c.client_secret)
        else:
            form["client_id"] = c.client_id
        try:
            response = self._client.post(c.token_url, data=form,
                                         auth=auth or httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as exc:
            raise AuthFailed(f"token endpoint {c.token_url} unreachable "
                             f"({type(exc).__name__})") from None
        body = _json_object(response)
        token = body.get("access_token")
        if response.status_code != 200 or not isinstance(token, str) or not token:
            detail = " ".join(str(body[k]) for k in ("error", "error_description") if k in body)
            raise AuthFailed(f"token endpoint {c.token_url} refused the client "
                             f"{c.client_id!r}: HTTP {response.status_code}"
                             + (f" ({detail})" if detail else ""))
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 300.0
        self._token = token
        self._expires = time.time() + max(lifetime - 30, lifetime / 2)


def _json_object(response: httpx.Response) -> dict[str, object]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
