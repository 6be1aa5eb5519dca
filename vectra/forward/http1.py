"""One HTTP/1.1 connection to an upstream: an asyncio protocol around httptools' response parser.

A connection carries one exchange at a time (no pipelining). The caller writes the request with :meth:`start`
(a streamed body then goes up with :meth:`write` and :meth:`drain`, from a task of its own, and ends with
:meth:`body_sent`), and waits with :meth:`wait` until the answer's headers, body chunks or its end arrive; once the
request went up whole, each wait is bounded by the read timeout. Body bytes the consumer has not taken yet are
buffered up to ``HIGH_WATER``; past that the socket is no longer read, so a slow agent slows the upstream down
instead of filling memory. Interim 1xx answers are skipped. A failure is kept in ``failure``, the exception the
waiting caller raises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

import httptools

from vectra.domain.errors import UpstreamTimeout, UpstreamUnreachable

__all__ = ["HIGH_WATER", "MAX_HEADER_FIELDS", "MAX_HEAD_BYTES", "Connection", "Origin", "request_head"]

#: Where a connection goes: scheme, host (as the URL names it), port.
Origin = tuple[str, str, int]

#: Unread body bytes past which the socket is no longer read until the consumer catches up.
HIGH_WATER = 256 * 1024
#: The most an answer's status line and headers (and, apart, its trailers) may take, and how many fields it may have:
#: past either the answer is refused, before it can fill memory (nginx's own default buffer is 4 to 8 KiB).
MAX_HEAD_BYTES = 64 * 1024
MAX_HEADER_FIELDS = 256

_FRAMING = frozenset({"content-length", "transfer-encoding", "expect"})  # the client's own to write
_PARSE_ERRORS = (httptools.HttpParserError, httptools.HttpParserUpgrade)


def request_head(method: str, path: str, headers: list[tuple[str, str]], length: int | None, chunked: bool) -> bytes:
    """The request line and headers, byte for byte as given, but the framing: ``Content-Length: length`` (where
    the first one was, else last) when ``length`` is set, ``Transfer-Encoding: chunked`` when ``chunked``; any
    other ``Content-Length``, ``Transfer-Encoding`` or ``Expect`` is left out. Raises ValueError for text that
    would break the request's lines (CR, LF, NUL) or is not latin-1. The method and the header names were checked
    where they came in (``Forwarder.forward``, :func:`vectra.forward.headers.request_headers`): not again here,
    on every call."""
    lines = [f"{method} {path} HTTP/1.1"]
    for name, value in headers:
        lower = name.lower()
        if lower in _FRAMING:
            if lower == "content-length" and length is not None:
                lines.append(f"{name}: {length}")
                length = None
            continue
        lines.append(f"{name}: {value}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    lines += ("", "")
    text = "\r\n".join(lines)
    breaks = len(lines) - 1
    if text.count("\n") != breaks or text.count("\r") != breaks or "\0" in text:
        raise ValueError("a request line or header contains CR, LF or NUL")
    return text.encode("latin-1")


class Connection(asyncio.Protocol):
    """A kept-alive connection to one origin; ``on_gone`` is called once when it closes, however that happens."""

    __slots__ = (
        "_buffered", "_drain_waiter", "_field_bytes", "_head_bytes", "_head_only", "_interim", "_loop", "_on_gone",
        "_parser", "_paused",
        "_read_timeout", "_timed_out", "_transport", "_waiter", "_writing_paused", "active", "chunks", "closed",
        "complete", "failure", "headers", "headers_done", "idle_since", "keep_alive", "origin", "received",
        "reused", "sent", "status", "writer",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: Origin, read_timeout: float,
                 on_gone: Callable[[Connection], None]) -> None:
        self.origin = origin
        self.reused = False  # it served an exchange before the current one
        self.idle_since = 0.0
        self.closed = False
        self.active = False  # an exchange is under way
        self._loop = loop
        self._read_timeout = read_timeout
        self._on_gone = on_gone
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._writing_paused = False
        self._reset(head_only=False)

    def _reset(self, head_only: bool) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self._buffered = 0
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.sent = False  # the whole request was written
        self.received = False  # a byte of the answer arrived
        self.failure: Exception | None = None
        self.writer: asyncio.Task[None] | None = None  # the task streaming the request's body, if one does
        self._timed_out = False
        self._interim = False
        self._head_only = head_only
        self._head_bytes = 0  # bytes received while the answer's head was still coming
        self._field_bytes = 0  # header and trailer fields' names and values, counted

    # -- the caller's side --------------------------------------------------------------------------------------

    @property
    def reusable(self) -> bool:
        """Whether another exchange may follow: this one was whole both ways and both sides keep the connection."""
        return self.complete and self.keep_alive and self.sent and not self._head_only and not self.closed

    @property
    def retryable(self) -> bool:
        """Whether the upstream closed this kept-alive connection before answering a byte (it saw nothing)."""
        return self.reused and self.closed and not self.received and not self._timed_out

    def start(self, data: bytes, *, head_only: bool, sent: bool) -> None:
        """Begin an exchange by writing ``data``; ``sent``: it is the whole request. A HEAD's answer has no body."""
        self._reset(head_only)
        self.active = True
        self.sent = sent
        if self.closed:  # the upstream closed it while it was idle
            self.failure = UpstreamUnreachable("the upstream refused or dropped the connection")
        elif self._paused:  # the last answer was left unread past the high-water mark
            self._paused = False
            assert self._transport is not None
            self._transport.resume_reading()
        self.write(data)

    def write(self, data: bytes) -> None:
        if self._transport is not None and not self.closed:
            self._transport.write(data)

    async def drain(self) -> None:
        """Wait while the upstream is not taking what was written, at most the read timeout."""
        if not self._writing_paused or self.closed:
            return
        waiter = self._drain_waiter = self._loop.create_future()
        timer = self._loop.call_later(self._read_timeout, self._time_out)
        try:
            await waiter
        finally:
            timer.cancel()
            self._drain_waiter = None

    def body_sent(self) -> None:
        """The request's streamed body went up whole: the answer's waits are timed from now."""
        self.sent = True
        self._wake()

    async def wait(self) -> None:
        """Wait until something happens (headers, a chunk, the end, a failure); then check what did. Once the
        request is sent whole, a wait lasts at most the read timeout, which then closes the connection with
        ``failure`` set (while a streamed body still goes up, the upstream may wait for it)."""
        if self.closed:
            return
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_later(self._read_timeout, self._time_out) if self.sent else None
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._waiter = None

    def take(self) -> bytes:
        """The body bytes that arrived since the last call, as one piece; reading resumes if it was paused."""
        chunks = self.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.chunks = []
        self._buffered = 0
        if self._paused and self._transport is not None and not self.closed:
            self._paused = False
            self._transport.resume_reading()
        return data

    def close(self) -> None:
        """Close it cleanly (an idle connection, or one whose exchange is over); one with the request not all sent,
        or still waiting to be written, is dropped instead, so that no socket outlives its place in the pool."""
        transport = self._transport
        if transport is not None:
            if not self.sent or transport.get_write_buffer_size():
                transport.abort()
            else:
                transport.close()
        self._gone()

    def abort(self) -> None:
        """Drop it at once (an exchange cut short: nothing more from it may be read)."""
        if self._transport is not None:
            self._transport.abort()
        self._gone()

    def fail(self, failure: Exception) -> None:
        """End the exchange with ``failure`` (what its waiters raise) and drop the connection."""
        if self.failure is None:
            self.failure = failure
        self.abort()

    def _gone(self) -> None:
        if self.active and not self.complete and self.failure is None:
            self.failure = UpstreamUnreachable("the connection to the upstream was closed")
        self._wake()
        drain = self._drain_waiter
        if drain is not None and not drain.done():
            drain.set_result(None)
        writer = self.writer
        if writer is not None and not writer.done() and writer is not asyncio.current_task():
            writer.cancel()
        if not self.closed:
            self.closed = True
            self._on_gone(self)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _time_out(self) -> None:
        self._timed_out = True
        self.fail(UpstreamTimeout("the upstream did not answer in time"))

    # -- asyncio's side -----------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports don't subclass asyncio's

    def data_received(self, data: bytes) -> None:
        if not self.active:  # bytes nobody asked for: nothing can be trusted on this connection any more
            self.abort()
            return
        self.received = True
        if not self.headers_done:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except _PARSE_ERRORS:
            if self.complete:  # bytes after a whole answer
                self.keep_alive = False
            else:
                self.fail(self.failure or UpstreamUnreachable("the upstream sent a malformed answer"))
            return
        if not self.headers_done and self._head_bytes > MAX_HEAD_BYTES:  # httptools buffers a field until it ends
            self.fail(UpstreamUnreachable(f"the upstream's answer has a head larger than {MAX_HEAD_BYTES} bytes"))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.active and not self.complete and self.failure is None:
            if self.headers_done and exc is None and not self._framed():
                self.complete = True  # a body delimited by the end of the connection (RFC 9112 §6.3, rule 8)
            elif self.headers_done:
                self.failure = UpstreamUnreachable("the upstream dropped the connection in the middle of its answer")
            else:
                self.failure = UpstreamUnreachable("the upstream refused or dropped the connection")
        self._gone()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        drain = self._drain_waiter
        if drain is not None and not drain.done():
            drain.set_result(None)

    def _framed(self) -> bool:
        """Whether the answer said where its body ends: a Content-Length, or chunked as its last coding (any other
        Transfer-Encoding reads to the end of the connection, RFC 9112 §6.3)."""
        for name, value in self.headers:
            lower = name.lower()
            if lower == b"content-length" or (lower == b"transfer-encoding"
                                              and value.rsplit(b",", 1)[-1].strip().lower() == b"chunked"):
                return True
        return False

    # -- httptools' callbacks -----------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:  # a second answer to one request
            raise ValueError("an answer nobody asked for")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._field_bytes += len(name) + len(value)
        if self._field_bytes > MAX_HEAD_BYTES or len(self.headers) >= MAX_HEADER_FIELDS:
            self.failure = UpstreamUnreachable("the upstream's answer has too many or too large header fields")
            raise ValueError("header fields over the limit")
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            if status == 101:
                raise ValueError("the upstream switched protocols unasked")
            self._interim = True  # 100 Continue, 103 Early Hints...: the final answer follows
            self.headers = []
            return
        self.status = status
        self.headers_done = True
        if self._head_only:
            self.complete = True  # whatever Content-Length says, a HEAD's answer ends with its headers
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return  # a body sent after a HEAD's headers: ignored, and the connection is not reused
        self.chunks.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
        elif not self.complete:
            self.complete = True
            # an answer that came before the request went up whole leaves the connection in doubt: not reused
            self.keep_alive = self._parser.should_keep_alive() and self.sent
            self._wake()
