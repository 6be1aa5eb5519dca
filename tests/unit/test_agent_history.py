"""Agent histories: a sliding minute of requests and violations, and a baseline once the agent is known."""

from __future__ import annotations

from tests.unit.clock import Clock
from vectra.services.history import AgentHistories


def test_requests_and_violations_count_over_the_last_minute_only() -> None:
    clock = Clock()
    histories = AgentHistories(clock=clock)
    for _ in range(3):
        histories.observe("a")
    histories.violation("a")
    clock.now += 30
    seen = histories.observe("a")
    assert (seen.requests_last_minute, seen.violation_rate, seen.baseline_per_minute) == (4, 0.25, None)

    clock.now += 31  # the first three requests and the violation left the window
    later = histories.observe("a")
    assert (later.requests_last_minute, later.violation_rate) == (2, 0.0)
    assert later.baseline_per_minute is not None and abs(later.baseline_per_minute - 5 / (61 / 60)) < 1e-9


def test_agents_are_kept_apart_and_bounded() -> None:
    histories = AgentHistories(clock=Clock(), capacity=2)
    histories.observe("a")
    histories.observe("b")
    histories.observe("c")  # "a", the least recently seen, is forgotten
    assert histories.observe("a").requests_last_minute == 1
    assert histories.observe("c").requests_last_minute == 2
