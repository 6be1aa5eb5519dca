"""Health: is the database reachable, and how long did it take to find out."""

from __future__ import annotations

import time
from dataclasses import dataclass

from vectra.domain.errors import Unavailable
from vectra.services.context import ServiceContext

__all__ = ["HealthReport", "check_health"]


@dataclass(frozen=True)
class HealthReport:
    healthy: bool
    duration_seconds: float
    checks: dict[str, tuple[bool, float, str | None]]  # name -> (healthy, seconds, error)


def check_health(ctx: ServiceContext) -> HealthReport:
    start = time.perf_counter()
    checks: dict[str, tuple[bool, float, str | None]] = {}
    t0 = time.perf_counter()
    try:
        ctx.store.ping()
        checks["database"] = (True, time.perf_counter() - t0, None)
    except Unavailable as exc:
        checks["database"] = (False, time.perf_counter() - t0, exc.detail)
    except Exception as exc:  # a store without the mapping: still "unhealthy", never a 500
        checks["database"] = (False, time.perf_counter() - t0, type(exc).__name__)
    return HealthReport(
        healthy=all(ok for ok, _, _ in checks.values()),
        duration_seconds=time.perf_counter() - start,
        checks=checks,
    )
