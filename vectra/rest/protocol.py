"""The REST port's HTTP/1.1 protocol: uvicorn's httptools protocol with the two limits on a request head that
uvicorn lacks (``docs/limits.md``).

It also keeps at most ``max_connections`` connections open: one more is closed as soon as it is accepted, so that
a flood of connections can't take the descriptors the rest of the daemon needs.

uvicorn closes a kept-alive connection that stays idle for ``timeout_keep_alive``, but it arms that timer only
after an answer: a connection that never sends a byte, or sends a request head one byte every few seconds
(slowloris), is held for ever, and the head's size is not bounded either (httptools buffers a header line of any
length). Here a head must arrive whole within ``head_timeout`` seconds, counted from the connection's opening or
from the first byte of the request, and may take at most ``max_head_bytes``; past either the connection gets a
408 or a 431 (or, when it sent nothing at all, is just closed). A request whose ``Transfer-Encoding`` does not end
with ``chunked`` gets a 400 (RFC 9112 §6.3), which httptools would otherwise give only once it has read the body as
a second request.

Each of these refusals, and uvicorn's own 400 for a request httptools can't parse, is reported to ``on_refused``
(status, cause, peer address, the request's path when the head got that far), which the daemon records as an
``http.refused`` audit record (coalesced like refused access: docs/audit.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

__all__ = ["OnRefused", "limited_http_protocol"]

#: Told of each request the protocol refuses: status, cause, the peer's address, the path (None before it came).
OnRefused = Callable[[int, str, str, str | None], None]


class _AfterRefusal(Exception):
    """Raised in a parser callback to stop reading a connection that was refused (httptools hands it on as a
    parse error, which :meth:`_LimitedHttpProtocol.send_400_response` then leaves unanswered)."""


class _LimitedHttpProtocol(HttpToolsProtocol):
    head_timeout: float
    max_head_bytes: int
    max_connections: int
    on_refused: OnRefused

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0  # bytes received since the head began, while it is incomplete
        self._reading_head = True
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._refused = True
            transport.abort()
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._reading_head and self._head_bytes > self.max_head_bytes:  # a head still growing past the limit
            self._refuse_large_head()

    def on_message_begin(self) -> None:
        if self._refused:  # a request pipelined behind a refused one: stop the parser (uvicorn's 400 is not sent)
            raise _AfterRefusal
        super().on_message_begin()
        self._reading_head = True
        if self._head_timer is None:
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._cancel_head_timer()
        if len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers) > self.max_head_bytes:
            self._refuse_large_head()  # a whole head that arrived at once
            return
        codings = b",".join(value for name, value in self.headers if name == b"transfer-encoding")
        if codings and codings.rsplit(b",", 1)[-1].strip().lower() != b"chunked":
            # RFC 9112 §6.3: the body's length can't be known; httptools would take it for none and read the body
            # as the next request
            self._refuse(400, b"a request's Transfer-Encoding must end with chunked", "transfer_encoding")
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._reading_head, self._head_bytes = True, 0  # what comes next on this connection is a head
        super().on_message_complete()

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._refused:
            return
        if self._head_bytes:
            self._refuse(408, b"the request head did not arrive in time", "head_timeout")
        elif not self.transport.is_closing():
            self.transport.close()

    def _refuse_large_head(self) -> None:
        self._refuse(431, b"the request head is larger than %d bytes" % self.max_head_bytes, "head_too_large")

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request httptools can't parse (conflicting lengths, a bad header line, ...); none
        once this connection was refused (the parser may still trip over what followed the refused head)."""
        if self._refused:
            return
        self._report(400, "malformed_request")
        self._refused = True
        self._cancel_head_timer()
        super().send_400_response(msg)

    def _report(self, status: int, cause: str) -> None:
        url = getattr(self, "url", b"")  # what came of the request line; uvicorn sets it at each message's start
        path = url.split(b"?", 1)[0].decode("latin-1") if url else None
        self.on_refused(status, cause, self.client[0] if self.client else "", path)

    def _refuse(self, status: int, message: bytes, cause: str) -> None:
        """Answer ``status`` with a plain-text ``message`` and close, as uvicorn answers a request it can't parse;
        nothing more of the connection is read."""
        self._report(status, cause)
        self._reading_head, self._refused = False, True
        self._cancel_head_timer()
        if self.transport.is_closing():
            return
        self.transport.write(b"".join([
            STATUS_LINE[status], b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(message), b"connection: close\r\n\r\n", message,
        ]))
        self.transport.close()


def limited_http_protocol(head_timeout: float, max_head_bytes: int, max_connections: int,
                          on_refused: OnRefused) -> type[asyncio.Protocol]:
    """The protocol class for ``uvicorn.Config(http=...)``, with these limits."""
    return type("LimitedHttpProtocol", (_LimitedHttpProtocol,), {
        "head_timeout": head_timeout, "max_head_bytes": max_head_bytes, "max_connections": max_connections,
        "on_refused": staticmethod(on_refused),
    })
