"""Refused access on gRPC, recorded (:mod:`vectra.services.refusals`) where a servicer's error becomes its status."""

from __future__ import annotations

import grpc

from vectra.domain.audit import AuditSource
from vectra.domain.errors import AccessRefused
from vectra.grpc.caller import peer_address
from vectra.services.context import ServiceContext
from vectra.services.refusals import Attempt

__all__ = ["record_refusal"]


async def record_refusal(ctx: ServiceContext, context: grpc.aio.ServicerContext, exc: AccessRefused,
                         rpc_name: str) -> None:
    """``rpc_name``: ``AgentService.GetAgent``; the proxy's RPCs are recorded with the gRPC proxy's source."""
    metadata = dict(context.invocation_metadata() or ())
    await ctx.refusals.record(exc, Attempt(
        source=AuditSource.GRPC if rpc_name.startswith("ProxyService.") else AuditSource.CONTROL_PLANE,
        surface="grpc",
        route=rpc_name,
        peer=peer_address(context),
        credentials=metadata.get("vectra-authorization") or metadata.get("authorization"),
    ))
