"""REST handler of the health check."""

from __future__ import annotations

from typing import Any

from connexion.lifecycle import ConnexionResponse

from vectra.rest.caller import service_context
from vectra.rest.responses import json_response
from vectra.services.health import check_health


def _duration(seconds: float) -> str:
    """``hh:mm:ss.fffffff``, the .NET TimeSpan form of the reference."""
    ticks = round(seconds * 10_000_000)
    whole, fraction = divmod(ticks, 10_000_000)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{fraction:07d}"


def _status(healthy: bool) -> str:
    return "Healthy" if healthy else "Unhealthy"


async def get_health() -> ConnexionResponse:
    report = check_health(service_context())
    checks: dict[str, Any] = {}
    for name, (ok, seconds, error) in report.checks.items():
        checks[name] = {"status": _status(ok), "duration": _duration(seconds)}
        if error:
            checks[name]["error"] = error
    body = {
        "status": _status(report.healthy),
        "healthCheckDuration": _duration(report.duration_seconds),
        "checks": checks,
    }
    return json_response(body, 200 if report.healthy else 503)
