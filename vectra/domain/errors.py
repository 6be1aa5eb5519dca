"""Domain errors. Each surface maps these to its own status codes in one table."""

from __future__ import annotations

from typing import Any

__all__ = [
    "AccessRefused",
    "AlreadyExists",
    "Conflict",
    "Denied",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "SessionRefused",
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


class AccessRefused(VectraError):
    """Base of 401 and 403: who is calling, or what they may do, was refused.

    ``cause`` names the check that refused (``expired``, ``bad_signature``, ``role``, ...) for the audit log alone:
    it is never part of the answer (which check failed is logged, not told). ``subject`` is who the caller claimed
    to be when that is known before the check (an agent id at ``/tokens``), unverified. A refusal without a
    ``cause`` (:class:`Denied`) is a decision that its own service records, not an access refusal.
    """

    default_cause: str | None = "refused"

    def __init__(self, detail: str, *, cause: str | None = None, subject: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.cause = cause or self.default_cause
        self.subject = subject


class Unauthenticated(AccessRefused):
    slug = "unauthenticated"
    title = "Unauthenticated"
    default_cause = "invalid_credentials"


class Forbidden(AccessRefused):
    slug = "forbidden"
    title = "Forbidden"
    default_cause = "forbidden"


class Denied(Forbidden):
    """403 for a call the gateway judged (a policy's Deny, the SSRF guard): the proxy records it as the call's
    decision, so it is not recorded again as an access refusal."""

    default_cause = None


class SessionRefused(Denied):
    """403 for a call naming a session it can't be made in (another agent's, ended, past its duration).
    ``extra["sessionId"]`` is the session when it is the calling agent's own (the refusal counts in it)."""


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


class UpstreamNotAllowed(Denied):
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
