"""Refused access on REST, recorded (:mod:`vectra.services.refusals`): by the domain error handler for the
management API and by the proxy endpoint for proxied calls; and requests refused before authentication."""

from __future__ import annotations

from starlette.datastructures import Headers

from vectra.domain.audit import AuditSource
from vectra.domain.errors import AccessRefused
from vectra.services.context import ServiceContext
from vectra.services.refusals import Attempt, http_refusal

__all__ = ["record_early_refusal", "record_refusal"]


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


def record_early_refusal(ctx: ServiceContext, scope: dict, status: int, cause: str) -> None:
    """A request refused before there is a caller to authenticate (a bad proxy target, a declared body over the
    limit): recorded as the HTTP server's own refusals are (``http.refused``), with the raw path."""
    path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    ctx.refusals.record_soon(http_refusal(status, cause, (scope.get("client") or ("",))[0], path))
