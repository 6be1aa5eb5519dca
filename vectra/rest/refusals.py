"""Refused access on REST, recorded (:mod:`vectra.services.refusals`): by the domain error handler for the
management API and by the proxy endpoint for proxied calls."""

from __future__ import annotations

from starlette.datastructures import Headers

from vectra.domain.audit import AuditSource
from vectra.domain.errors import AccessRefused
from vectra.services.context import ServiceContext
from vectra.services.refusals import Attempt

__all__ = ["record_refusal"]


async def record_refusal(ctx: ServiceContext, scope: dict, exc: AccessRefused, source: AuditSource) -> None:
    headers = Headers(scope=scope)
    await ctx.refusals.record(exc, Attempt(
        source=source,
        surface="rest",
        route=scope.get("path", ""),
        peer=(scope.get("client") or ("",))[0],
        method=scope.get("method"),
        credentials=headers.get("vectra-authorization") or headers.get("authorization"),
    ))
