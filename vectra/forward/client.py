"""The upstream HTTP client: aiohttp's ClientSession, chosen by measurement (docs/forwarding.md).

Connections are pooled and kept alive per origin; environment proxies and ``.netrc`` are ignored; redirects are
handed back, not followed; bodies stream both ways and nothing is decompressed or added, so the upstream sees the
agent's bytes and the agent the upstream's. The SSRF guard sits inside name resolution: the connector connects only
to addresses that the guard has just checked, so a name that resolves elsewhere the next time (DNS rebinding) can't
slip past. Numeric hosts, which aiohttp does not resolve, are checked before the request.
"""

from __future__ import annotations

import asyncio
import functools
import re
import socket
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from vectra.domain.errors import InvalidInput, PayloadTooLarge, UpstreamTimeout, UpstreamUnreachable
from vectra.forward.headers import HeaderPairs
from vectra.forward.ssrf import AddressGuard
from vectra.forward.target import Target

__all__ = ["GuardedResolver", "UpstreamClient", "UpstreamResponse"]

Body = AsyncIterable[bytes] | bytes | None

# aiohttp adds these when absent; a transparent proxy must not.
_NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")
_DIGITS = re.compile(r"[0-9]{1,18}")


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


@dataclass(eq=False)
class UpstreamResponse:
    """The upstream's answer: status and headers at once, the body as it arrives. Close it when done."""

    status: int
    headers: HeaderPairs
    _response: aiohttp.ClientResponse = field(repr=False)

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in self.headers]

    async def body(self) -> AsyncIterator[bytes]:
        """The body's chunks as they come; an upstream failure mid-body raises UpstreamTimeout/Unreachable."""
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _upstream_error(exc) from None
        finally:
            self._response.release()

    async def close(self) -> None:
        """Drop the connection unless the body was read to its end (then it went back to the pool)."""
        self._response.close()


class UpstreamClient:
    """One pooled client for all upstreams; create it once per process and ``close()`` it at shutdown."""

    def __init__(self, guard: AddressGuard, *, connect_timeout: float, read_timeout: float, max_body_bytes: int,
                 resolver: AbstractResolver | None = None, pool_size: int = 512) -> None:
        self._guard = guard
        self._resolver = GuardedResolver(guard, resolver)
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_connect=connect_timeout,
                                              sock_read=read_timeout)
        self._max_body_bytes = max_body_bytes
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=self._resolver, use_dns_cache=False, limit=self._pool_size)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, trust_env=False,
                                                  auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    async def send(self, method: str, target: Target, headers: HeaderPairs, body: Body) -> UpstreamResponse:
        """Send the request; return once the upstream's status line and headers arrived.

        A streamed body must match its Content-Length, if it has one, and stay within the size limit; a body of
        bytes (or none) gets the Content-Length of what is really sent.
        """
        self._check_numeric_host(target.host)
        declared = _content_length(headers)
        if isinstance(body, bytes) or body is None:
            declared = len(body) if body else None
            headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
        if declared is not None and declared > self._max_body_bytes:
            raise PayloadTooLarge(f"the request body is larger than {self._max_body_bytes} bytes")
        stream = None if body is None or isinstance(body, bytes) else _BodyStream(body, self._max_body_bytes, declared)
        try:
            response = await self._open().request(
                method, URL(target.url, encoded=True), headers=_one_spelling(headers),
                data=body if stream is None else stream.chunks(), allow_redirects=False,
                skip_auto_headers=_NO_AUTO_HEADERS,
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            if stream is not None and stream.problem is not None:
                raise stream.problem from None
            if isinstance(exc, aiohttp.InvalidURL):
                raise InvalidInput(f"the upstream URL is not usable: {exc}") from None
            raise _upstream_error(exc) from None
        if stream is not None and stream.problem is not None:
            response.close()
            raise stream.problem
        if not 100 <= response.status <= 599:  # RFC 9110 §15: no server of ours could pass such a status on
            response.close()
            raise UpstreamUnreachable(f"the upstream answered with an invalid status {response.status}")
        return UpstreamResponse(status=response.status, headers=_decoded(response.raw_headers),
                                _response=response)

    def _check_numeric_host(self, host: str) -> None:
        """Check a host that is an address in any spelling (aiohttp connects to those without resolving)."""
        addresses = _numeric_addresses(host)
        if addresses is not None:  # None for a name: the guarded resolver checks what it resolves to
            self._guard.check(host, addresses)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class _BodyStream:
    """The agent's body on its way up, stopped before a byte too many (size limit or Content-Length) is sent."""

    def __init__(self, body: AsyncIterable[bytes], limit: int, declared: int | None) -> None:
        self._body = body
        self._limit = limit
        self._declared = declared
        self.problem: PayloadTooLarge | InvalidInput | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        sent = 0
        async for chunk in self._body:
            sent += len(chunk)
            if sent > self._limit:
                self.problem = PayloadTooLarge(f"the request body is larger than {self._limit} bytes")
            elif self._declared is not None and sent > self._declared:
                self.problem = InvalidInput("the request body is longer than its Content-Length")
            if self.problem is not None:
                raise self.problem
            yield chunk
        if self._declared is not None and sent < self._declared:
            self.problem = InvalidInput("the request body is shorter than its Content-Length")
            raise self.problem


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


def _one_spelling(headers: HeaderPairs) -> HeaderPairs:
    """Each name spelt as at its first occurrence: aiohttp keeps repeats only when their spelling is identical."""
    first: dict[str, str] = {}
    return [(first.setdefault(name.lower(), name), value) for name, value in headers]


def _decoded(raw: tuple[tuple[bytes, bytes], ...]) -> HeaderPairs:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw]


def _upstream_error(exc: BaseException) -> UpstreamTimeout | UpstreamUnreachable:
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return UpstreamTimeout("connecting to the upstream timed out")
    if isinstance(exc, asyncio.TimeoutError):
        return UpstreamTimeout("the upstream did not answer in time")
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return UpstreamUnreachable("the upstream host could not be resolved")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamUnreachable("the upstream refused or dropped the connection")
    return UpstreamUnreachable(f"the upstream failed: {type(exc).__name__}")
