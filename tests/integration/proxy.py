"""A fault-injecting HTTP proxy in front of the real server.

Every write (POST, PUT or DELETE; a `POST Type/_search` reads) takes the next fault from a
script: None passes it through, ("status", code, headers) answers without forwarding,
("reset",) drops the connection with a TCP reset, ("slow", seconds) forwards it (the server
does the work) and answers only after `seconds`. `after_write(n)` runs once the server
answered the n-th write, before the client gets the answer (e.g. to stop the server). Reads
pass through untouched. When the server is down the proxy answers 502, as a gateway does.
`arrivals` records when each request arrived (monotonic seconds), its method, path and body,
so tests can count requests per second and check what was sent.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
              "accept-encoding", "content-encoding"}


class FaultProxy:
    def __init__(self, upstream: str, faults: list[Any] | None = None,
                 after_write: Callable[[int], None] | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.faults: deque[Any] = deque(faults or [])
        self.after_write = after_write or (lambda _: None)
        self.log: list[tuple[str, str, str]] = []
        self.arrivals: list[tuple[float, str, str, bytes]] = []
        self.writes = 0
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=300)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy._handle(self)

            do_POST = do_PUT = do_GET

            def log_message(self, *_: Any) -> None:
                pass

            def finish(self) -> None:
                with contextlib.suppress(OSError, ValueError):  # client left, or a fault
                    super().finish()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if tls is not None:  # an HTTPS front: the proxy terminates TLS with `tls`
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        host, port = self._server.server_address[:2]
        # the server's base path (/fhir) is kept, so the proxy URL is a FHIR base too
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://{host!s}:{port}{httpx.URL(self.upstream).path}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length", 0) or 0))
        with self._lock:
            self.arrivals.append((time.monotonic(), h.command, h.path, body))
        fault = None
        # A search sent as POST Type/_search (compare before write) reads; it takes no fault.
        is_write = (h.command in ("POST", "PUT", "DELETE")
                    and not h.path.split("?")[0].endswith("/_search"))
        if is_write:
            with self._lock:
                fault = self.faults.popleft() if self.faults else None
                self.writes += 1
                n = self.writes
        self.log.append((h.command, h.path, repr(fault)))
        if fault is not None and fault[0] == "status":
            self._reply(h, fault[1], dict(fault[2]), b'{"resourceType":"OperationOutcome",'
                        b'"issue":[{"severity":"error","code":"transient"}]}')
            return
        if fault is not None and fault[0] == "reset":
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.close()
            h.close_connection = True
            return
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_BY_HOP}
        base_path = httpx.URL(self.upstream).path
        target = self.upstream + h.path.removeprefix(base_path)
        try:
            answer = self._client.request(h.command, target, content=body, headers=headers)
        except httpx.TransportError:
            self._reply(h, 502, {}, b"")
            return
        if fault is not None and fault[0] == "slow":
            time.sleep(fault[1])
        if is_write:
            self.after_write(n)  # before the answer: the client's next request sees its effect
        self._reply(h, answer.status_code,
                    {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP},
                    answer.content)

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, headers: dict[str, str],
               body: bytes) -> None:
        try:
            h.send_response(status)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(body)))
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(body)
        except OSError:
            pass  # the client gave up waiting (the slow fault)
        h.close_connection = True
