"""Forwarding one call: circuit breaker → send (SSRF guard inside) → the upstream's streaming answer."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from aiohttp.abc import AbstractResolver

from vectra.config import Settings
from vectra.domain.errors import InvalidInput, UpstreamTimeout, UpstreamUnreachable
from vectra.forward.breaker import CircuitBreaker, LocalBreaker, Outcome
from vectra.forward.client import Body, UpstreamClient, UpstreamResponse
from vectra.forward.headers import HeaderPairs, announces_body, is_token, request_headers, response_headers
from vectra.forward.ssrf import AddressGuard
from vectra.forward.target import Target

__all__ = ["Forwarder"]


class Forwarder:
    """The upstream side of the proxy: one per process, built at start-up, closed at shutdown."""

    def __init__(self, client: UpstreamClient, breaker: CircuitBreaker) -> None:
        self.client = client
        self.breaker = breaker

    @classmethod
    def from_settings(cls, settings: Settings, *, resolver: AbstractResolver | None = None,
                      clock: Callable[[], float] = time.monotonic) -> Forwarder:
        """The client, guard and breaker as ``settings`` configure them (``resolver`` and ``clock``: for tests)."""
        client = UpstreamClient(
            AddressGuard(settings.upstream_allow_cidrs),
            connect_timeout=settings.upstream_connect_timeout,
            read_timeout=settings.upstream_read_timeout,
            max_body_bytes=settings.max_proxy_body_bytes,
            resolver=resolver,
        )
        breaker = LocalBreaker(settings.breaker_failures, settings.breaker_window_seconds,
                               settings.breaker_open_seconds, clock=clock)
        return cls(client, breaker)

    async def forward(self, method: str, target: Target, headers: Iterable[tuple[str | bytes, str | bytes]],
                      body: Body, *, upstream_headers: HeaderPairs | None = None) -> UpstreamResponse:
        """Send the agent's call upstream and return the answer once its headers arrived.

        ``headers`` are the agent's, as received; ``body`` streams the agent's body (its presence follows
        ``Content-Length``/``Transfer-Encoding``, as RFC 9112 §6.3 says). The answer's headers are already filtered;
        iterate ``body()`` to stream it and ``close()`` it in any case. Raises InvalidInput (400),
        UpstreamNotAllowed (403), PayloadTooLarge (413), UpstreamCircuitOpen (503), UpstreamUnreachable (502) and
        UpstreamTimeout (504). Connect errors, timeouts and 5xx answers count against the upstream's breaker.
        ``upstream_headers``, when the caller has already made them with :func:`request_headers` from these
        ``headers``, are sent as they are instead of being made again.
        """
        if not is_token(method):
            raise InvalidInput("the method is not a valid HTTP method")
        incoming = list(headers)
        if upstream_headers is None:
            upstream_headers = request_headers(incoming, target.authority)
        if body is not None and not isinstance(body, bytes) and not announces_body(incoming):
            body = None
        admission = await self.breaker.admit(target.origin)
        outcome = Outcome.ABANDONED
        try:
            response = await self.client.send(method, target, upstream_headers, body)
            outcome = Outcome.FAILURE if response.status >= 500 else Outcome.SUCCESS
        except (UpstreamUnreachable, UpstreamTimeout):
            outcome = Outcome.FAILURE
            raise
        finally:
            await self.breaker.record(admission, outcome)
        response.headers = response_headers(response.headers)
        return response

    async def close(self) -> None:
        await self.client.close()

