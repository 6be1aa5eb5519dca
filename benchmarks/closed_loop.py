"""A closed-loop load driver: ``concurrency`` callers, each sending its next call when its last one answered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["Load", "drive"]


@dataclass(frozen=True)
class Load:
    """What one measurement gives: throughput, latency percentiles (when measured) and failed calls."""

    rps: float
    p50_ms: float | None
    p99_ms: float | None
    failures: int


async def drive(call: Callable[[], Awaitable[bool]], concurrency: int, seconds: float, warmup: float = 0.0) -> Load:
    """Run ``call`` (true when its answer is right) back to back from ``concurrency`` tasks; ``warmup`` seconds
    of calls come first and are not counted."""
    latencies: list[float] = []
    failures = 0
    measured_from = time.perf_counter() + warmup
    stop_at = measured_from + seconds

    async def caller() -> None:
        nonlocal failures
        while (started := time.perf_counter()) < stop_at:
            ok = await call()
            if started >= measured_from:
                latencies.append(time.perf_counter() - started)
                failures += not ok

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.perf_counter() - measured_from
    latencies.sort()
    count = len(latencies)
    return Load(count / elapsed, latencies[count // 2] * 1e3, latencies[min(count - 1, int(count * 0.99))] * 1e3,
                failures)
