"""Each agent's recent behaviour, as the risk scorer reads it (``policy_core.AgentHistory``).

Kept in memory, per process: a sliding minute of request and violation times per agent, and a long-run
baseline (requests per minute since the agent was first seen here, once that is over a minute ago). A restart
forgets it, and replicas each see only their own share; a shared store (Redis) can replace this class later
behind the same two methods. The number of agents and of remembered requests per agent are bounded.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from policy_core import AgentHistory

__all__ = ["AgentHistories"]

_WINDOW = 60.0
_MAX_EVENTS = 10_000  # per agent and window: far above any sane rate limit


@dataclass
class _Track:
    first_seen: float
    total: int = 0
    requests: deque[float] = field(default_factory=deque)
    violations: deque[float] = field(default_factory=deque)


class AgentHistories:
    """``observe`` counts a request and gives the history it is judged with; ``violation`` marks it refused."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, capacity: int = 100_000) -> None:
        self._clock = clock
        self._capacity = capacity
        self._tracks: OrderedDict[str, _Track] = OrderedDict()

    def observe(self, agent_id: str) -> AgentHistory:
        now = self._clock()
        track = self._track(agent_id, now)
        track.total += 1
        _push(track.requests, now)
        _expire(track, now)
        seen_for = now - track.first_seen
        baseline = track.total / (seen_for / 60.0) if seen_for > _WINDOW else None
        count = len(track.requests)
        return AgentHistory(requests_last_minute=count, baseline_per_minute=baseline,
                            violation_rate=min(1.0, len(track.violations) / count))

    def violation(self, agent_id: str) -> None:
        now = self._clock()
        _push(self._track(agent_id, now).violations, now)

    def _track(self, agent_id: str, now: float) -> _Track:
        track = self._tracks.get(agent_id)
        if track is None:
            track = self._tracks[agent_id] = _Track(first_seen=now)
            if len(self._tracks) > self._capacity:
                self._tracks.popitem(last=False)
        else:
            self._tracks.move_to_end(agent_id)
        return track


def _push(times: deque[float], now: float) -> None:
    times.append(now)
    if len(times) > _MAX_EVENTS:
        times.popleft()


def _expire(track: _Track, now: float) -> None:
    for times in (track.requests, track.violations):
        while times and times[0] <= now - _WINDOW:
            times.popleft()
