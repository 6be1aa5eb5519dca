"""The upstream HTTP client: a lean HTTP/1.1 client on asyncio protocols and httptools, chosen by measurement
(docs/forwarding.md: a quarter to a third of aiohttp's CPU per call).

One connection per exchange (``http1.py``), kept alive per origin and reused last in, first out (``pool.py``).
Environment proxies, ``.netrc`` and cookies don't exist here; redirects are handed back, not followed; bodies
stream both ways and nothing is decompressed or added, so the upstream sees the agent's bytes and the agent the
upstream's. The SSRF guard sits inside name resolution (``GuardedResolver``): a new connection goes to an address
that the guard has just checked, with no second lookup that a rebinding DNS server could answer differently;
hosts that are addresses in any spelling are checked as the address they spell. TLS verifies the upstream's
certificate against the host name with the default context.
"""

from __future__ import annotations

import asyncio
import functools
import re
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohappyeyeballs
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from vectra.domain.errors import InvalidInput, PayloadTooLarge, UpstreamUnreachable
from vectra.forward.headers import HeaderPairs
from vectra.forward.http1 import Connection, Origin, request_head
from vectra.forward.pool import Pool
from vectra.forward.ssrf import AddressGuard
from vectra.forward.target import Target

__all__ = ["POOL_SIZE", "GuardedResolver", "UpstreamClient", "UpstreamResponse"]

Body = AsyncIterable[bytes] | bytes | None

#: Upstream connections open at once, busy or idle, whatever their origin.
POOL_SIZE = 512
_DIGITS = re.compile(r"[0-9]{1,18}")
_INLINE = 64 * 1024  # a body of bytes up to this size goes out in one write with the request head
_HAPPY_EYEBALLS_DELAY = 0.25  # seconds before the next address is tried beside a slow one (RFC 8305)
#: RFC 9110 §9.2.2: methods whose request may be sent again after a connection failed under it
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


class GuardedResolver(AbstractResolver):
    """Resolves with ``inner`` and returns the addresses only when the guard allows every one of them."""

    def __init__(self, guard: AddressGuard, inner: AbstractResolver | None = None) -> None:
        self._guard = guard
        self._inner = inner or ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        addresses = await self._inner.resolve(host, port, family)
        self._guard.check(host, (address["host"] for address in addresses))
        return addresses

    async def close(self) -> None:
        await self._inner.close()


@dataclass(eq=False, slots=True)
class UpstreamResponse:
    """The upstream's answer: status and headers at once, the body as it arrives. Close it when done."""

    status: int
    headers: HeaderPairs
    _conn: Connection | None = field(repr=False)
    _pool: Pool = field(repr=False)

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in self.headers]

    async def body(self) -> AsyncIterator[bytes]:
        """The body's chunks as they come; an upstream failure mid-body raises UpstreamTimeout/Unreachable (and a
        streamed request body refused after the answer began raises PayloadTooLarge/InvalidInput here)."""
        conn = self._conn
        while conn is not None and conn is self._conn:
            if conn.chunks:
                yield conn.take()
            elif conn.complete:
                self._conn = None
                self._pool.release(conn)
            elif conn.failure is not None:
                self._conn = None
                conn.abort()
                raise conn.failure
            else:
                await conn.wait()

    async def close(self) -> None:
        """Drop the connection unless the whole answer arrived (then it goes back to the pool, if it may)."""
        conn = self._conn
        if conn is not None:
            self._conn = None
            if conn.complete:
                self._pool.release(conn)
            else:
                conn.abort()


class UpstreamClient:
    """One pooled client for all upstreams; create it once per process and ``close()`` it at shutdown.

    ``tls_context`` is what https connections verify with: ``ssl.create_default_context()`` on first use unless
    set before (tests trust their own certificate authority that way)."""

    def __init__(self, guard: AddressGuard, *, connect_timeout: float, read_timeout: float, max_body_bytes: int,
                 resolver: AbstractResolver | None = None, pool_size: int = POOL_SIZE) -> None:
        self._guard = guard
        self._resolver = GuardedResolver(guard, resolver)
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_body_bytes = max_body_bytes
        self._pool_size = pool_size
        self._pool: Pool | None = None
        self.tls_context: ssl.SSLContext | None = None

    async def send(self, method: str, target: Target, headers: HeaderPairs, body: Body) -> UpstreamResponse:
        """Send the request; return once the upstream's status line and headers arrived.

        ``headers`` go out as given, in order, but for the framing, which is the client's: a body of bytes gets
        its true Content-Length, none gets none, a streamed one keeps the agent's Content-Length (and must match
        it) or is sent chunked; it must stay within the size limit. ``Expect`` is dropped (no 100-continue).
        """
        stream: AsyncIterable[bytes] | None = None
        if isinstance(body, bytes) or body is None:
            length = None if body is None else len(body)
        else:
            stream, length = body, _content_length(headers)
        if length is not None and length > self._max_body_bytes:
            raise PayloadTooLarge(f"the request body is larger than {self._max_body_bytes} bytes")
        path = f"{target.path}?{target.query}" if target.query else target.path
        try:
            head = request_head(method, path, headers, length, chunked=stream is not None and length is None)
        except (ValueError, UnicodeEncodeError):
            raise InvalidInput("the request has a header that can't be sent (CR, LF, NUL or not latin-1)") from None
        rest = b""
        if isinstance(body, bytes):
            if len(body) <= _INLINE:
                head += body
            else:
                rest = body
        pool = self._pool or self._open_pool()
        origin = (target.scheme, target.host, target.port)
        conn = await self._exchange(pool, origin, method, head, rest, stream, length)
        if not 100 <= conn.status <= 599:  # RFC 9110 §15: no server of ours could pass such a status on
            conn.abort()
            raise UpstreamUnreachable(f"the upstream answered with an invalid status {conn.status}")
        return UpstreamResponse(conn.status, [(name.decode("latin-1"), value.decode("latin-1"))
                                              for name, value in conn.headers], conn, pool)

    async def _exchange(self, pool: Pool, origin: Origin, method: str, head: bytes, rest: bytes,
                        stream: AsyncIterable[bytes] | None, length: int | None) -> Connection:
        """Send on a pooled connection and wait for the answer's headers; once more on a fresh connection when the
        pooled one turns out closed before the upstream answered anything, for an idempotent method only (RFC 9110
        §9.2.2: the upstream may have acted on the request before it closed) with a body that can be sent again."""
        fresh = False
        while True:
            conn = await pool.acquire(origin, fresh=fresh)
            try:
                conn.start(head, head_only=method == "HEAD", sent=stream is None)
                if rest:
                    conn.write(rest)
                if stream is not None:  # full duplex: the answer may start (and stream) before the body is up
                    conn.writer = asyncio.get_running_loop().create_task(
                        _send_body(conn, stream, self._max_body_bytes, length, self._read_timeout))
                while not conn.headers_done:
                    if conn.failure is not None:
                        raise conn.failure
                    await conn.wait()
                return conn
            except UpstreamUnreachable:
                conn.abort()
                if fresh or stream is not None or not conn.retryable or method not in _IDEMPOTENT:
                    raise
                fresh = True
            except BaseException:
                conn.abort()
                raise

    def _open_pool(self) -> Pool:
        self._pool = Pool(asyncio.get_running_loop(), self._connect, limit=self._pool_size,
                          connect_timeout=self._connect_timeout)
        return self._pool

    async def _connect(self, origin: Origin, on_gone: Callable[[Connection], None]) -> Connection:
        """A new connection to ``origin``, to an address the guard allowed (the pool bounds it in time)."""
        scheme, host, port = origin
        numeric = _numeric_addresses(host)
        if numeric is None:  # a name: the guarded resolver checks every address it resolves to
            try:
                found = await self._resolver.resolve(host, port, socket.AF_UNSPEC)
            except (OSError, UnicodeError):  # UnicodeError: a name the IDNA codec refuses (an empty or long label)
                found = []
            if not found:
                raise UpstreamUnreachable("the upstream host could not be resolved")
            addresses = [(result["family"], result["host"], result["port"]) for result in found]
            server_hostname = host
        else:
            self._guard.check(host, numeric)
            addresses = [(socket.AF_INET6 if ":" in address else socket.AF_INET, address, port)
                         for address in dict.fromkeys(numeric)]
            server_hostname = numeric[0]
        infos = [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                  (address, port, 0, 0) if family == socket.AF_INET6 else (address, port))
                 for family, address, port in addresses]
        try:
            sock = await aiohappyeyeballs.start_connection(infos, happy_eyeballs_delay=_HAPPY_EYEBALLS_DELAY,
                                                           interleave=1)
        except OSError:
            raise UpstreamUnreachable("the upstream refused or dropped the connection") from None
        loop = asyncio.get_running_loop()
        conn = Connection(loop, origin, self._read_timeout, on_gone)
        tls = self._tls() if scheme == "https" else None
        try:
            await loop.create_connection(lambda: conn, sock=sock, ssl=tls,
                                         server_hostname=server_hostname if tls else None)
        except ssl.SSLError as exc:
            sock.close()
            raise UpstreamUnreachable(f"the TLS handshake with the upstream failed: {exc.reason or exc}") from None
        except OSError:
            sock.close()
            raise UpstreamUnreachable("the upstream refused or dropped the connection") from None
        except BaseException:
            sock.close()
            raise
        return conn

    def _tls(self) -> ssl.SSLContext:
        if self.tls_context is None:
            self.tls_context = ssl.create_default_context()
            self.tls_context.set_alpn_protocols(["http/1.1"])
        return self.tls_context

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


async def _send_body(conn: Connection, body: AsyncIterable[bytes], limit: int, declared: int | None,
                     stall_timeout: float) -> None:
    """Stream the agent's body up (chunked without ``declared``), stopped before a byte too many (size limit or
    Content-Length) is sent, or when the agent sends nothing for ``stall_timeout``. A problem ends the exchange: the
    caller waiting for the answer raises it."""
    sent = 0
    chunks = aiter(body)
    try:
        while True:
            try:
                async with asyncio.timeout(stall_timeout):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise InvalidInput(f"the request body stalled: nothing came for {stall_timeout:g} s") from None
            sent += len(chunk)
            if sent > limit:
                raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
            if declared is not None and sent > declared:
                raise InvalidInput("the request body is longer than its Content-Length")
            if conn.closed:
                return
            if chunk:
                conn.write(chunk if declared is not None else b"%x\r\n%b\r\n" % (len(chunk), chunk))
                await conn.drain()
        if declared is not None and sent < declared:
            raise InvalidInput("the request body is shorter than its Content-Length")
    except Exception as exc:  # whatever stopped the body is what the exchange fails with
        conn.fail(exc)
        return
    if declared is None:
        conn.write(b"0\r\n\r\n")
    conn.body_sent()


@functools.lru_cache(maxsize=4096)
def _numeric_addresses(host: str) -> tuple[str, ...] | None:
    """The addresses a numeric host (``127.0.0.1``, ``2130706433``, ``0x7f.1``, ``::1``) spells, None for a name.

    Remembered: the answer depends only on the text, and asking the C library on every call would cost the event
    loop a system-call round trip per forwarded request."""
    try:
        infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        return None
    return tuple(info[4][0] for info in infos)


def _content_length(headers: HeaderPairs) -> int | None:
    values = {value.strip() for name, value in headers if name.lower() == "content-length"}
    if not values:
        return None
    if len(values) > 1 or not all(_DIGITS.fullmatch(value) for value in values):
        raise InvalidInput("the request has an invalid Content-Length")
    return int(values.pop())
