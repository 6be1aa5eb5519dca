"""GCRA: a burst of exactly the limit, then one call per interval; the header values; exact under concurrency."""

from __future__ import annotations

import asyncio

import pytest

from vectra.domain.errors import RateLimited
from vectra.forward.ratelimit import LocalRateLimiter, RateDecision, RateLimit

PER_MINUTE = RateLimit(60, 60)


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def acquire(limiter: LocalRateLimiter, key: str = "agent-1", limit: RateLimit = PER_MINUTE) -> RateDecision:
    return asyncio.run(limiter.acquire(key, limit))


def test_a_fresh_agent_gets_exactly_the_limit_at_once() -> None:
    limiter = LocalRateLimiter(Clock())
    decisions = [acquire(limiter) for _ in range(61)]
    assert [d.allowed for d in decisions] == [True] * 60 + [False]
    assert [d.remaining for d in decisions[:3]] == [59, 58, 57]
    assert decisions[59].remaining == 0


def test_after_the_burst_calls_are_spaced_by_the_interval() -> None:
    clock = Clock()
    limiter = LocalRateLimiter(clock)
    for _ in range(60):
        acquire(limiter)
    clock.now += 0.999
    assert not acquire(limiter).allowed
    clock.now += 0.001
    assert acquire(limiter).allowed
    assert not acquire(limiter).allowed
    clock.now += 2
    assert [acquire(limiter).allowed for _ in range(3)] == [True, True, False]


def test_no_double_burst_at_a_window_edge() -> None:
    clock = Clock()
    limiter = LocalRateLimiter(clock)
    clock.now += 59.5
    assert sum(acquire(limiter).allowed for _ in range(120)) == 60
    clock.now += 1  # a fixed window would have reset here and allowed 60 more
    assert sum(acquire(limiter).allowed for _ in range(120)) == 1


def test_the_header_values() -> None:
    clock = Clock()
    limiter = LocalRateLimiter(clock)
    first = acquire(limiter, limit=RateLimit(10, 60))
    assert first.headers == {"RateLimit-Limit": "10", "RateLimit-Remaining": "9", "RateLimit-Reset": "6"}
    for _ in range(9):
        last = acquire(limiter, limit=RateLimit(10, 60))
    assert (last.remaining, last.reset_seconds) == (0, 60)
    clock.now += 1.5
    denied = acquire(limiter, limit=RateLimit(10, 60))
    assert denied.headers == {"RateLimit-Limit": "10", "RateLimit-Remaining": "0", "RateLimit-Reset": "59",
                              "Retry-After": "5"}
    with pytest.raises(RateLimited) as raised:
        denied.raise_if_denied()
    assert raised.value.extra["headers"]["Retry-After"] == "5"
    first.raise_if_denied()


def test_agents_and_limits_are_separate() -> None:
    limiter = LocalRateLimiter(Clock())
    assert all(acquire(limiter, "a", RateLimit(2, 1)).allowed for _ in range(2))
    assert not acquire(limiter, "a", RateLimit(2, 1)).allowed
    assert acquire(limiter, "b", RateLimit(2, 1)).allowed


def test_a_changed_limit_keeps_the_time_already_used_and_spaces_calls_by_its_own_interval() -> None:
    clock = Clock()
    limiter = LocalRateLimiter(clock)
    for _ in range(5):
        acquire(limiter, limit=RateLimit(5, 10))  # the whole 10 s allowance used, 2 s per call
    assert not acquire(limiter, limit=RateLimit(10, 10)).allowed
    clock.now += 1  # the new limit's interval is 1 s
    assert [acquire(limiter, limit=RateLimit(10, 10)).allowed for _ in range(2)] == [True, False]


def test_exact_under_two_hundred_concurrent_callers() -> None:
    clock = Clock()
    limiter = LocalRateLimiter(clock)

    async def caller(index: int) -> bool:
        await asyncio.sleep(0)
        return (await limiter.acquire("agent-1", PER_MINUTE)).allowed

    async def crowd() -> list[bool]:
        return await asyncio.gather(*(caller(i) for i in range(200)))

    assert sum(asyncio.run(crowd())) == 60
    clock.now += 10
    assert sum(asyncio.run(crowd())) == 10
