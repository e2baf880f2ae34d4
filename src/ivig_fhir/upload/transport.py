"""Upload stage 2: one request, retried as a flaky network and a busy server need.

Retried: 429 and 503 (after the server's Retry-After, in seconds or as an HTTP date, or
Azure's `x-ms-retry-after-ms` / `retry-after-ms` in milliseconds, else backoff), 502 and 504,
timeouts and dropped or refused connections (exponential backoff with jitter). Bounded by a
count and by the total time spent on one request. Resending is safe because every write is a
PUT to a fixed id or a conditional update (a transaction of PUTs that landed before the
connection dropped lands again as "no change").
"""

from __future__ import annotations

import json
import random
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

import httpx

from ivig_fhir.upload.events import Event, Retrying

FHIR_JSON = "application/fhir+json"
RETRY_AFTER_STATUSES = frozenset({429, 503})
RETRY_STATUSES = RETRY_AFTER_STATUSES | {502, 504}


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    max_time: float = 300.0  # seconds, for one request with all its retries and waits
    backoff: float = 1.0  # first wait; doubles each retry
    backoff_cap: float = 30.0

    def backoff_wait(self, retry: int, rng: Callable[[], float]) -> float:
        # "Equal jitter": half fixed, half random, so clients that failed together spread out.
        step = min(self.backoff_cap, self.backoff * 2.0 ** (retry - 1))
        return step / 2 + rng() * step / 2


class GaveUp(Exception):
    """Retries exhausted (or pointless); `reason` is safe to show (no headers, no bodies)."""

    def __init__(self, reason: str, attempts: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts


MS_RETRY_HEADERS = ("x-ms-retry-after-ms", "retry-after-ms")  # Azure: milliseconds


def retry_after(response: httpx.Response, now: datetime | None = None) -> float | None:
    for header in MS_RETRY_HEADERS:  # finer than Retry-After, so read first
        ms = response.headers.get(header, "").strip()
        if ms.isdigit():
            return int(ms) / 1000.0
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Sender:
    """Sends requests through an httpx.Client with the retry policy; reports retries. With
    `requests_per_second`, requests (retries included) are spaced to stay under that rate."""

    def __init__(self, client: httpx.Client, policy: RetryPolicy,
                 on_event: Callable[[Event], None] = lambda _: None,
                 sleep: Callable[[float], None] = time.sleep,
                 rng: Callable[[], float] = random.random,
                 requests_per_second: float | None = None,
                 content_type: str = FHIR_JSON,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self._clock = clock
        self.content_type = content_type
        self.policy = policy
        self.on_event = on_event
        self._sleep = sleep
        self._rng = rng
        self._interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self._next = float("-inf")
        self._lock = threading.Lock()  # reads of several types run in threads
        self.requests = 0  # requests sent, retries included (reported by benchmarks and tests)

    def _pace(self) -> None:
        with self._lock:
            self.requests += 1
            if not self._interval:
                return
            now = self._clock()
            slot = max(now, self._next)  # this request's turn under the rate
            self._next = slot + self._interval
        if slot > now:
            self._sleep(slot - now)

    def send(self, method: str, url: str, *, what: str, body: Any = None,
             headers: dict[str, str] | None = None,
             form: dict[str, str] | None = None) -> httpx.Response:
        """`body` goes as FHIR JSON; `form` as a form-encoded search (`POST Type/_search`)."""
        if form is not None:
            content: bytes | None = urlencode(form).encode()
            kind = "application/x-www-form-urlencoded"
        else:
            content = None if body is None else json.dumps(body, ensure_ascii=False).encode()
            kind = self.content_type
        headers = {**({"Content-Type": kind} if content else {}), **(headers or {})}
        started = time.monotonic()
        retries = 0
        while True:
            wait: float | None = None
            self._pace()
            try:
                response = self.client.request(method, url, content=content, headers=headers)
            except httpx.TimeoutException:
                reason = f"no answer within {self.client.timeout.read}s"
            except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                if _tls_failure(exc):
                    raise GaveUp("TLS certificate verification failed (--ca-bundle adds a CA)",
                                 retries + 1) from None
                reason = f"connection failed ({type(exc).__name__})"
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                reason = status_line(response)
                if response.status_code in RETRY_AFTER_STATUSES:
                    wait = retry_after(response)
            retries += 1
            if wait is None:
                wait = self.policy.backoff_wait(retries, self._rng)
            elapsed = time.monotonic() - started
            if retries > self.policy.max_retries:
                raise GaveUp(f"{reason}; gave up after {retries} attempts", retries)
            if elapsed + wait > self.policy.max_time:
                raise GaveUp(f"{reason}; a retry in {wait:.1f}s would pass the retry time "
                             f"limit of {self.policy.max_time:g}s", retries)
            self.on_event(Retrying(what, retries, wait, reason))
            self._sleep(wait)


def status_line(response: httpx.Response) -> str:
    """'HTTP 400 Bad Request', also from servers that send no reason phrase (Tomcat)."""
    try:
        phrase = response.reason_phrase or HTTPStatus(response.status_code).phrase
    except ValueError:
        phrase = ""
    return f"HTTP {response.status_code} {phrase}".rstrip()


def _tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
