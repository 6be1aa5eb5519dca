"""Real upstream servers for the forwarding tests, each on its own thread and event loop.

``UpstreamServer`` runs uvicorn with a raw ASGI app that answers by path:

- ``/bytes/{n}``: ``n`` deterministic binary bytes (``pattern(n)``), with Content-Length;
- ``/stream-back``: the request body, streamed back chunk by chunk as it arrives;
- ``/status/{code}``: that status;
- ``/redirect``: 302 to ``/echo``;
- ``/hop``: hop-by-hop headers beside end-to-end ones (repeated ``X-Kept`` and ``Set-Cookie``);
- ``/gzip``: a gzip-encoded body with ``Content-Encoding: gzip``;
- ``/slow-headers``: no answer for 5 s; ``/slow-body``: one chunk, then nothing for 5 s;
- ``/close``: an echo that closes its connection afterwards;
- anything else: a JSON echo of the method, raw path, query string, headers (in order) and the body's length and
  SHA-256.

Every request is also recorded in ``requests`` (the echo's fields, and ``whole``: its body was not cut off), so a
test can assert what arrived, or that nothing did; ``tls`` (certificate and key files) makes it an https server.
``StallingListener`` is a port whose accept queue is full, so connecting to it hangs. The raw servers keep each
request's bytes as read: a ``ResettingServer`` resets every connection once it has read the request, a
``CannedServer`` sends a fixed answer and closes, a ``OneAnswerServer`` answers the first request of each
connection and closes it on the second, a ``DrippingServer`` sends its answer one byte at a time, each connection
on a thread of its own.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import socket
import struct
import threading
import time
from typing import Any

import uvicorn

__all__ = [
    "CannedServer", "DrippingServer", "OneAnswerServer", "ResettingServer", "StallingListener", "UpstreamServer",
    "pattern",
]

Scope = dict[str, Any]
GZIPPED = gzip.compress(b"compressed " * 1000)


def pattern(size: int) -> bytes:
    """``size`` bytes covering every byte value, the same on every call."""
    block = bytes(range(256)) * 256 + hashlib.sha256(str(size).encode()).digest()
    return (block * (size // len(block) + 1))[:size]


class UpstreamServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, tls: tuple[str, str] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.endless: list[int] = []  # lines each /endless answer sent before its client went away
        self.scheme = "https" if tls else "http"
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()
        certificate, key = tls or (None, None)
        config = uvicorn.Config(self._app, interface="asgi3", log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=1, ssl_certfile=certificate, ssl_keyfile=key)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=lambda: asyncio.run(self._server.serve(sockets=[self._sock])),
                                        daemon=True)

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> UpstreamServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the upstream server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    async def _app(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == "/stream-back":
            self._record(scope, b"")
            await self._stream_back(receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen = self._record(scope, body, whole=message["type"] == "http.request")
        if path == "/endless":
            await self._endless(receive, send)
        elif path.startswith("/bytes/"):
            await _answer(send, 200, pattern(int(path.removeprefix("/bytes/"))), "application/octet-stream")
        elif path.startswith("/status/"):
            await _answer(send, int(path.removeprefix("/status/")), b"status", "text/plain")
        elif path == "/redirect":
            await _answer(send, 302, b"", "text/plain", [(b"location", b"/echo")])
        elif path == "/hop":
            await _answer(send, 200, b"hop", "text/plain", [
                (b"connection", b"X-Hop-Custom"), (b"x-hop-custom", b"1"), (b"keep-alive", b"timeout=5"),
                (b"proxy-authenticate", b"Basic"), (b"trailer", b"X-Checksum"), (b"upgrade", b"h2c"),
                (b"x-kept", b"a"), (b"set-cookie", b"a=1"), (b"x-kept", b"b"), (b"set-cookie", b"b=2"),
            ])
        elif path == "/gzip":
            await _answer(send, 200, GZIPPED, "text/plain", [(b"content-encoding", b"gzip")])
        elif path == "/slow-headers":
            await asyncio.sleep(5)
            await _answer(send, 200, b"late", "text/plain")
        elif path == "/slow-body":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]})
            await send({"type": "http.response.body", "body": b"12345", "more_body": True})
            await asyncio.sleep(5)
            await send({"type": "http.response.body", "body": b"67890"})
        else:
            extra = [(b"connection", b"close")] if path == "/close" else []
            await _answer(send, 200, json.dumps(seen).encode(), "application/json", extra)

    def _record(self, scope: Scope, body: bytes, whole: bool = True) -> dict[str, Any]:
        seen = {
            "method": scope["method"],
            "raw_path": scope["raw_path"].decode("latin-1"),
            "query_string": scope["query_string"].decode("latin-1"),
            "headers": [[name.decode("latin-1"), value.decode("latin-1")] for name, value in scope["headers"]],
            "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "client_port": scope["client"][1],
            "whole": whole,  # the body arrived to its end (not cut off by the client going away)
        }
        self.requests.append(seen)
        return seen

    async def _endless(self, receive: Any, send: Any) -> None:
        """A line every 50 ms until the client goes away (at most 20 s); how many were sent goes to ``endless``."""
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        gone = asyncio.ensure_future(receive())  # the body was read: the next message is the disconnect
        sent = 0
        while not gone.done() and sent < 400:
            await send({"type": "http.response.body", "body": b"tick\n", "more_body": True})
            sent += 1
            await asyncio.sleep(0.05)
        self.endless.append(sent)
        if not gone.done():
            gone.cancel()
            await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _stream_back(receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream")]})
        while True:
            message = await receive()
            if message.get("body"):
                await send({"type": "http.response.body", "body": message["body"], "more_body": True})
            if not message.get("more_body"):
                break
        await send({"type": "http.response.body", "body": b""})


async def _answer(send: Any, status: int, body: bytes, content_type: str,
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:
    head = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": head})
    chunk = 65536
    for start in range(0, max(len(body), 1), chunk):
        last = start + chunk >= len(body)
        await send({"type": "http.response.body", "body": body[start:start + chunk], "more_body": not last})


class StallingListener:
    """A listening port that never accepts, its queue filled: a new connection to it hangs in connect."""

    def __init__(self) -> None:
        self._sock = _listening(backlog=0)
        self.port = self._sock.getsockname()[1]
        self._fillers: list[socket.socket] = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", self.port))
            self._fillers.append(filler)

    def close(self) -> None:
        for sock in (*self._fillers, self._sock):
            sock.close()


class _RawServer:
    """A listening socket whose every connection gets :meth:`_respond` after its request was read."""

    def __init__(self) -> None:
        self._sock = _listening(backlog=16)
        self.port = self._sock.getsockname()[1]
        self.requests: list[bytes] = []
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            self.requests.append(conn.recv(65536))
            self._respond(conn)

    def _respond(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(timeout=5)


class ResettingServer(_RawServer):
    """Reads a request, then resets the connection (RST, no answer)."""

    def _respond(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()


class CannedServer(_RawServer):
    """Reads a request, then sends ``answer`` as it is, however wrong, and closes."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        super().__init__()

    def _respond(self, conn: socket.socket) -> None:
        conn.sendall(self.answer)
        conn.close()


class OneAnswerServer(_RawServer):
    """Answers the first request of a connection with ``answer`` (kept alive), then closes it on the next one:
    what a kept-alive connection looks like when the upstream closes it just as a request goes out."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        super().__init__()

    def _respond(self, conn: socket.socket) -> None:
        conn.sendall(self.answer)
        conn.recv(65536)
        conn.close()


class DrippingServer(_RawServer):
    """Reads a request, then sends ``answer`` one byte every ``delay`` seconds and closes; connections are served
    side by side, so that one slow answer does not hold up the next."""

    def __init__(self, answer: bytes, delay: float) -> None:
        self.answer = answer
        self.delay = delay
        super().__init__()

    def _respond(self, conn: socket.socket) -> None:
        threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            try:
                for byte in self.answer:
                    conn.sendall(bytes([byte]))
                    time.sleep(self.delay)
            except OSError:  # the gateway gave up on the answer
                pass


def _listening(backlog: int) -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    return sock
