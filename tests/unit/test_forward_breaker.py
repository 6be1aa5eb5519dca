"""The circuit breaker's state machine, driven by an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from vectra.domain.errors import UpstreamCircuitOpen
from vectra.forward.breaker import Admission, LocalBreaker, Outcome

KEY = "https://api.example.com:443"
T = TypeVar("T")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def breaker(clock: Clock, failures: int = 5) -> LocalBreaker:
    return LocalBreaker(failures=failures, window_seconds=60, open_seconds=30, clock=clock)


async def fail(subject: LocalBreaker, times: int, key: str = KEY) -> None:
    for _ in range(times):
        await subject.record(await subject.admit(key), Outcome.FAILURE)


def refused_for(subject: LocalBreaker, key: str = KEY) -> int:
    with pytest.raises(UpstreamCircuitOpen) as refused:
        run(subject.admit(key))
    assert refused.value.extra["headers"]["Retry-After"] == str(refused.value.extra["retryAfterSeconds"])
    return refused.value.extra["retryAfterSeconds"]


def test_it_opens_after_the_threshold_of_failures_within_the_window() -> None:
    clock = Clock()
    subject = breaker(clock)
    run(fail(subject, 4))
    assert subject.state(KEY) == "closed"
    run(fail(subject, 1))
    assert subject.state(KEY) == "open"
    assert refused_for(subject) == 30
    clock.now += 12.5
    assert refused_for(subject) == 18


def test_failures_older_than_the_window_do_not_count() -> None:
    clock = Clock()
    subject = breaker(clock)
    run(fail(subject, 4))
    clock.now += 61
    run(fail(subject, 4))
    assert subject.state(KEY) == "closed"
    run(fail(subject, 1))
    assert subject.state(KEY) == "open"


def test_successes_and_other_hosts_do_not_open_it() -> None:
    subject = breaker(Clock())
    run(fail(subject, 4))
    run(fail(subject, 4, key="https://other:443"))
    for _ in range(10):
        run(subject.record(run(subject.admit(KEY)), Outcome.SUCCESS))
    assert subject.state(KEY) == "closed"
    assert subject.state("https://other:443") == "closed"


def test_after_the_cool_down_exactly_one_probe_goes_through_and_its_success_closes_it() -> None:
    clock = Clock()
    subject = breaker(clock)
    run(fail(subject, 5))
    clock.now += 30
    assert subject.state(KEY) == "half-open"

    async def concurrent_callers() -> list[Admission | BaseException]:
        return await asyncio.gather(*(subject.admit(KEY) for _ in range(20)), return_exceptions=True)

    results = run(concurrent_callers())
    probes = [result for result in results if isinstance(result, Admission)]
    assert len(probes) == 1 and probes[0].probe
    assert all(isinstance(result, UpstreamCircuitOpen) for result in results if result is not probes[0])
    run(subject.record(probes[0], Outcome.SUCCESS))
    assert subject.state(KEY) == "closed"
    assert not run(subject.admit(KEY)).probe


def test_a_failed_probe_opens_it_again_for_a_full_cool_down() -> None:
    clock = Clock()
    subject = breaker(clock)
    run(fail(subject, 5))
    clock.now += 31
    probe = run(subject.admit(KEY))
    clock.now += 2
    run(subject.record(probe, Outcome.FAILURE))
    assert subject.state(KEY) == "open"
    assert refused_for(subject) == 30
    clock.now += 30
    assert run(subject.admit(KEY)).probe


def test_an_abandoned_probe_lets_the_next_caller_probe() -> None:
    clock = Clock()
    subject = breaker(clock)
    run(fail(subject, 5))
    clock.now += 30
    run(subject.record(run(subject.admit(KEY)), Outcome.ABANDONED))
    assert run(subject.admit(KEY)).probe


def test_a_probe_that_never_reports_is_given_up_after_a_cool_down() -> None:
    clock = Clock()
    subject = breaker(clock)
    run(fail(subject, 5))
    clock.now += 30
    assert run(subject.admit(KEY)).probe
    clock.now += 10
    assert refused_for(subject) == 20
    clock.now += 20
    assert run(subject.admit(KEY)).probe


def test_late_outcomes_of_calls_admitted_before_it_opened_do_not_move_it() -> None:
    clock = Clock()
    subject = breaker(clock)
    stragglers = [run(subject.admit(KEY)) for _ in range(3)]
    run(fail(subject, 5))
    run(subject.record(stragglers[0], Outcome.SUCCESS))
    run(subject.record(stragglers[1], Outcome.FAILURE))
    assert subject.state(KEY) == "open"
    assert refused_for(subject) == 30


def test_the_thresholds_are_configurable() -> None:
    clock = Clock()
    subject = LocalBreaker(failures=2, window_seconds=5, open_seconds=3, clock=clock)
    run(fail(subject, 1))
    clock.now += 6
    run(fail(subject, 2))
    assert refused_for(subject) == 3
