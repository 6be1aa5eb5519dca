"""The upstream side of the proxy: target URL, header rules, SSRF guard, HTTP client, breaker, rate limiter.

Nothing here knows REST or gRPC. How the proxy handler uses it (one ``Forwarder`` and one ``LocalRateLimiter``
per process, built at start-up; ``await forwarder.close()`` at shutdown)::

    from vectra.forward import Forwarder, LocalRateLimiter, RateLimit, target_from_raw_path

    forwarder = Forwarder.from_settings(settings)
    limiter = LocalRateLimiter()

    # per call, in pipeline order (DESIGN.md):
    target = target_from_raw_path(scope["raw_path"], scope["query_string"])      # 400 on a bad URL
    # (gRPC: target = parse_target(envelope.url))
    decision = await limiter.acquire(agent.id, RateLimit(settings.rate_limit_requests,
                                                         settings.rate_limit_per_seconds))  # or the policy's
    decision.raise_if_denied()                                                    # 429 + Retry-After, RateLimit-*
    ... policy, risk ...
    response = await forwarder.forward(method, target, scope["headers"], receive_body_chunks())
    try:
        # status: response.status; headers, filtered: response.headers (str pairs) or response.raw_headers
        async for chunk in response.body():
            ...send chunk...
    finally:
        await response.close()

``forward`` raises domain errors only: InvalidInput (400), UpstreamNotAllowed (403, reason ``upstream address not
allowed``), PayloadTooLarge (413), UpstreamCircuitOpen (503 + ``Retry-After`` in ``extra["headers"]``),
UpstreamUnreachable (502), UpstreamTimeout (504). Allowed answers should carry ``decision.headers`` too.
"""

from vectra.forward.breaker import Admission, CircuitBreaker, LocalBreaker, Outcome
from vectra.forward.client import UpstreamClient, UpstreamResponse
from vectra.forward.forwarder import Forwarder
from vectra.forward.ratelimit import LocalRateLimiter, RateDecision, RateLimit, RateLimiter
from vectra.forward.ssrf import AddressGuard
from vectra.forward.target import Target, parse_target, target_from_raw_path

__all__ = [
    "AddressGuard",
    "Admission",
    "CircuitBreaker",
    "Forwarder",
    "LocalBreaker",
    "LocalRateLimiter",
    "Outcome",
    "RateDecision",
    "RateLimit",
    "RateLimiter",
    "Target",
    "UpstreamClient",
    "UpstreamResponse",
    "parse_target",
    "target_from_raw_path",
]
