"""gRPC servicer of the token exchange."""

from __future__ import annotations

import grpc

from vectra.grpc.generated.vectra.v1 import tokens_pb2, tokens_pb2_grpc
from vectra.grpc.messages import timestamp_message
from vectra.grpc.status import rpc
from vectra.services import tokens
from vectra.services.context import ServiceContext

__all__ = ["TokenServicer"]


class TokenServicer(tokens_pb2_grpc.TokenServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @rpc
    async def IssueToken(self, request: tokens_pb2.IssueTokenRequest, context: grpc.aio.ServicerContext):
        issued = await tokens.issue_token(self.ctx, request.agent_id, client_secret=request.client_secret,
                                          assertion=request.assertion)
        return tokens_pb2.IssueTokenResponse(token=issued.token, expires_at=timestamp_message(issued.expires_at))
