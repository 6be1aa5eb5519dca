"""A circuit breaker per upstream origin, so that a failing upstream is left alone for a while.

Closed: calls pass; failures (connect errors, timeouts, 5xx) are counted over a sliding window, and ``failures``
of them within ``window_seconds`` open the circuit. Open: calls are refused with UpstreamCircuitOpen (503 and
``Retry-After``) for ``open_seconds``. Then half-open: exactly one call, the probe, goes through while the others are
still refused; its success closes the circuit, its failure opens it again for another ``open_seconds``. A probe
that ends without an outcome (the guard refused it, the caller went away) lets the next caller probe; one that
never reports is given up after ``open_seconds``. Outcomes of calls admitted before the circuit opened don't move
an open circuit.

``CircuitBreaker`` is the interface (a shared, Redis-backed breaker can implement it later); ``LocalBreaker``
keeps its state in this process, exact within one event loop since no method awaits between reading and writing.
"""

from __future__ import annotations

import enum
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from vectra.domain.errors import UpstreamCircuitOpen

__all__ = ["Admission", "CircuitBreaker", "LocalBreaker", "Outcome"]


class Outcome(enum.Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    ABANDONED = "abandoned"  # no verdict on the upstream: refused before connecting, or cancelled


@dataclass(frozen=True, slots=True)
class Admission:
    """A call let through for ``key``; ``probe`` when it is the half-open circuit's single probe."""

    key: str
    probe: bool = False


class CircuitBreaker(Protocol):
    async def admit(self, key: str) -> Admission:
        """Let a call to ``key`` through, or raise UpstreamCircuitOpen with ``Retry-After``."""
        ...

    async def record(self, admission: Admission, outcome: Outcome) -> None:
        """Report how an admitted call ended."""
        ...


@dataclass
class _Circuit:
    failures: deque[float] = field(default_factory=deque)
    opened_at: float | None = None
    probe_since: float | None = None


class LocalBreaker:
    """The in-process breaker; ``clock`` (monotonic seconds) is a parameter so tests can drive time."""

    def __init__(self, failures: int = 5, window_seconds: float = 60.0, open_seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._threshold = failures
        self._window = window_seconds
        self._open_for = open_seconds
        self._clock = clock
        self._circuits: dict[str, _Circuit] = {}
        self._sweep_above = 1024

    def state(self, key: str) -> str:
        """``closed``, ``open`` or ``half-open`` (for logs, metrics and tests)."""
        circuit = self._circuits.get(key)
        if circuit is None or circuit.opened_at is None:
            return "closed"
        return "open" if self._clock() < circuit.opened_at + self._open_for else "half-open"

    async def admit(self, key: str) -> Admission:
        circuit = self._circuits.get(key)
        if circuit is None or circuit.opened_at is None:
            return Admission(key)
        now = self._clock()
        reopens = circuit.opened_at + self._open_for
        if now < reopens:
            raise _refusal(key, reopens - now)
        if circuit.probe_since is not None and now < circuit.probe_since + self._open_for:
            raise _refusal(key, circuit.probe_since + self._open_for - now)
        circuit.probe_since = now
        return Admission(key, probe=True)

    async def record(self, admission: Admission, outcome: Outcome) -> None:
        circuit = self._circuits.get(admission.key)
        now = self._clock()
        if admission.probe:
            if circuit is None or circuit.opened_at is None:
                return
            circuit.probe_since = None
            if outcome is Outcome.SUCCESS:
                del self._circuits[admission.key]
            elif outcome is Outcome.FAILURE:
                circuit.opened_at = now
            return
        if outcome is not Outcome.FAILURE or (circuit is not None and circuit.opened_at is not None):
            return
        if circuit is None:
            self._sweep(now)
            circuit = self._circuits[admission.key] = _Circuit()
        failures = circuit.failures
        failures.append(now)
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if len(failures) >= self._threshold:
            failures.clear()
            circuit.opened_at = now

    def _sweep(self, now: float) -> None:
        """Forget closed circuits whose failures all left the window (hosts are chosen by agents: bound them)."""
        if len(self._circuits) <= self._sweep_above:
            return
        stale = [key for key, circuit in self._circuits.items()
                 if circuit.opened_at is None and (not circuit.failures or circuit.failures[-1] <= now - self._window)]
        for key in stale:
            del self._circuits[key]
        self._sweep_above = max(1024, 2 * len(self._circuits))


def _refusal(key: str, seconds: float) -> UpstreamCircuitOpen:
    retry_after = max(1, math.ceil(seconds))
    return UpstreamCircuitOpen(f"the upstream {key} is failing; calls to it are paused",
                               retryAfterSeconds=retry_after, headers={"Retry-After": str(retry_after)})
