"""Who is calling over gRPC: the ``authorization`` metadata, checked by the same service as REST."""

from __future__ import annotations

import grpc

from vectra.domain.models import Principal
from vectra.services.auth import authenticate
from vectra.services.context import ServiceContext

__all__ = ["authenticated"]


def authenticated(ctx: ServiceContext, context: grpc.aio.ServicerContext) -> Principal:
    metadata = dict(context.invocation_metadata() or ())
    return authenticate(ctx, metadata.get("authorization"))
