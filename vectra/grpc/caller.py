"""Who is calling over gRPC: the ``authorization`` metadata, checked by the same service as REST."""

from __future__ import annotations

import grpc

from vectra.domain.models import Principal
from vectra.services.auth import authenticate
from vectra.services.context import ServiceContext

__all__ = ["authenticated", "peer_address"]


def authenticated(ctx: ServiceContext, context: grpc.aio.ServicerContext) -> Principal:
    metadata = dict(context.invocation_metadata() or ())
    return authenticate(ctx, metadata.get("authorization"))


def peer_address(context: grpc.aio.ServicerContext) -> str:
    """The caller's address without its port: ``ipv4:127.0.0.1:5000`` → ``127.0.0.1``, ``ipv6:[::1]:5000`` →
    ``::1`` (a Unix socket's path stays)."""
    peer = context.peer() or ""
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        return rest.rpartition(":")[0].strip("[]")
    return peer
