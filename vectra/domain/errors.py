"""Domain errors. Each surface maps these to its own status codes in one table."""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyExists",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "Unauthenticated",
    "Unavailable",
    "UpstreamCircuitOpen",
    "UpstreamNotAllowed",
    "UpstreamTimeout",
    "UpstreamUnreachable",
    "VectraError",
]


class VectraError(Exception):
    """Base of every error a use case may raise on purpose.

    ``slug`` names the problem type; ``extra`` carries fields the problem document adds
    (for example ``rule`` or ``pointer``).
    """

    slug = "error"
    title = "Error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(VectraError):
    slug = "invalid-input"
    title = "Invalid input"


class Unauthenticated(VectraError):
    slug = "unauthenticated"
    title = "Unauthenticated"


class Forbidden(VectraError):
    slug = "forbidden"
    title = "Forbidden"


class NotFound(VectraError):
    slug = "not-found"
    title = "Not found"


class AlreadyExists(VectraError):
    slug = "already-exists"
    title = "Already exists"


class Conflict(VectraError):
    slug = "conflict"
    title = "Conflict"


class RateLimited(VectraError):
    slug = "rate-limited"
    title = "Too many requests"


class Unavailable(VectraError):
    slug = "unavailable"
    title = "Service unavailable"


class UpstreamNotAllowed(Forbidden):
    """The upstream resolves to an address the SSRF guard refuses (403)."""

    slug = "upstream-not-allowed"
    title = "Upstream address not allowed"


class UpstreamCircuitOpen(Unavailable):
    """The upstream's circuit breaker is open (503 with ``Retry-After``)."""

    slug = "upstream-circuit-open"
    title = "Upstream circuit open"


class UpstreamUnreachable(VectraError):
    """The upstream could not be connected to, or dropped the connection (502)."""

    slug = "upstream-unreachable"
    title = "Bad gateway"


class UpstreamTimeout(VectraError):
    """The upstream did not connect or answer in time (504)."""

    slug = "upstream-timeout"
    title = "Gateway timeout"


class PayloadTooLarge(VectraError):
    """The request body is larger than the gateway forwards (413)."""

    slug = "payload-too-large"
    title = "Payload too large"
