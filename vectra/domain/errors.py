"""Domain errors. Each surface maps these to its own status codes in one table."""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyExists",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "RateLimited",
    "Unauthenticated",
    "Unavailable",
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
