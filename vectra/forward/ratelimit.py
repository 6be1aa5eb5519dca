"""Per-agent rate limits with GCRA, the generic cell rate algorithm.

A limit of ``requests`` per ``per_seconds`` lets a fresh agent make ``requests`` calls at once, then one more every
``per_seconds / requests``: the allowance refills smoothly, so there is no window edge at which two bursts fit
back to back. The state is one number per agent, the theoretical arrival time (TAT). Time is kept in integer units
of ``1 / requests`` nanoseconds, so the arithmetic is exact: a burst is exactly ``requests`` long.

``RateLimiter`` is the interface (a Redis-backed limiter can implement it later); ``LocalRateLimiter`` keeps its
state in this process and is exact under concurrency within one event loop (no await between read and write).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from vectra.domain.errors import RateLimited

__all__ = ["LocalRateLimiter", "RateDecision", "RateLimit", "RateLimiter"]

_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A policy's ``rateLimit: {requests, perSeconds}``."""

    requests: int
    per_seconds: float


@dataclass(frozen=True, slots=True)
class RateDecision:
    """Whether the call may go, and the values of its ``RateLimit-*`` and ``Retry-After`` headers (seconds)."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    retry_after_seconds: int

    @property
    def headers(self) -> dict[str, str]:
        values = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                  "RateLimit-Reset": str(self.reset_seconds)}
        if not self.allowed:
            values["Retry-After"] = str(self.retry_after_seconds)
        return values

    def raise_if_denied(self) -> None:
        """Raise RateLimited (429) carrying the headers when the call is not allowed."""
        if not self.allowed:
            raise RateLimited(f"rate limit of {self.limit} requests exceeded; retry in {self.retry_after_seconds} s",
                              retryAfterSeconds=self.retry_after_seconds, headers=self.headers)


class RateLimiter(Protocol):
    async def acquire(self, key: str, limit: RateLimit) -> RateDecision:
        """Count one call for ``key`` if ``limit`` allows it."""
        ...


class LocalRateLimiter:
    """GCRA in this process; ``clock`` (monotonic seconds) is a parameter so tests can drive time."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tats: dict[str, tuple[int, int]] = {}  # key -> (TAT in units of 1/requests ns, requests)
        self._sweep_above = 1024

    async def acquire(self, key: str, limit: RateLimit) -> RateDecision:
        requests = limit.requests
        period = round(limit.per_seconds * _NS)  # one call's interval, in units of 1/requests ns
        window = period * requests  # the whole period, in the same units
        now = round(self._clock() * _NS) * requests
        stored = self._tats.get(key)
        tat = now
        if stored is not None:
            stored_tat, stored_requests = stored
            tat = max(now, stored_tat if stored_requests == requests else -(-stored_tat * requests // stored_requests))
        new_tat = tat + period
        if new_tat - window > now:
            return RateDecision(False, requests, 0, _seconds(tat - now, requests),
                                max(1, _seconds(new_tat - window - now, requests)))
        if stored is None:
            self._sweep(now, requests)
        self._tats[key] = (new_tat, requests)
        return RateDecision(True, requests, (now + window - new_tat) // period, _seconds(new_tat - now, requests), 0)

    def _sweep(self, now: int, requests: int) -> None:
        """Forget agents whose allowance is full again (their state says nothing a fresh start wouldn't)."""
        if len(self._tats) <= self._sweep_above:
            return
        now_ns = now // requests
        full = [key for key, (tat, scale) in self._tats.items() if tat // scale <= now_ns]
        for key in full:
            del self._tats[key]
        self._sweep_above = max(1024, 2 * len(self._tats))


def _seconds(units: int, requests: int) -> int:
    """Whole seconds, rounded up, from units of 1/requests ns."""
    return -(-units // (requests * _NS))
