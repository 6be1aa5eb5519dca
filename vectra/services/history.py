"""Each agent's recent behaviour, as the risk scorer reads it (``policy_core.AgentHistory``).

Kept in memory, per process: per agent, its requests and violations (policy denials) counted per second over the
last minute (at most 60 buckets, so an agent's share is bounded whatever its rate), and a long-run baseline
(requests per minute since the agent was first seen here, once that is over a minute ago). A restart forgets it,
and replicas each see only their own calls; a shared store (Redis) can replace this class later behind the same two
methods. At most ``capacity`` agents are tracked; the least recently seen is forgotten first.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from policy_core import AgentHistory

__all__ = ["AgentHistories"]

_WINDOW_SECONDS = 60


@dataclass
class _Track:
    first_seen: float
    total: int = 0
    # [second, requests, violations], oldest first, only seconds inside the window
    seconds: deque[list[int]] = field(default_factory=deque)

    def bucket(self, now: float) -> list[int]:
        second = int(now)
        while self.seconds and self.seconds[0][0] <= second - _WINDOW_SECONDS:
            self.seconds.popleft()
        if not self.seconds or self.seconds[-1][0] != second:
            self.seconds.append([second, 0, 0])
        return self.seconds[-1]


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
        track.bucket(now)[1] += 1
        requests = sum(bucket[1] for bucket in track.seconds)
        violations = sum(bucket[2] for bucket in track.seconds)
        seen_for = now - track.first_seen
        baseline = track.total / (seen_for / 60.0) if seen_for > _WINDOW_SECONDS else None
        return AgentHistory(requests_last_minute=requests, baseline_per_minute=baseline,
                            violation_rate=min(1.0, violations / requests))

    def violation(self, agent_id: str) -> None:
        now = self._clock()
        self._track(agent_id, now).bucket(now)[2] += 1

    def _track(self, agent_id: str, now: float) -> _Track:
        track = self._tracks.get(agent_id)
        if track is None:
            track = self._tracks[agent_id] = _Track(first_seen=now)
            if len(self._tracks) > self._capacity:
                self._tracks.popitem(last=False)
        else:
            self._tracks.move_to_end(agent_id)
        return track
