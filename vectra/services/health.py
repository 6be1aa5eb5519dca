"""Health: is the database reachable, does it take writes, and how long did it take to find out.

``database`` reads; ``audit`` is the audit writer's state: Unhealthy from a failed commit, of records or of the
write probe the daemon makes every 2 s, until the next one succeeds (docs/audit.md, Fail closed)."""

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
    failing = ctx.audit.failing
    checks["audit"] = (not failing, 0.0, "the database refuses writes: the last commit failed" if failing else None)
    return HealthReport(
        healthy=all(ok for ok, _, _ in checks.values()),
        duration_seconds=time.perf_counter() - start,
        checks=checks,
    )
