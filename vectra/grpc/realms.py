"""gRPC servicer of the Realms API."""

from __future__ import annotations

import grpc

from vectra.grpc.caller import authenticated
from vectra.grpc.generated.vectra.v1 import realms_pb2, realms_pb2_grpc
from vectra.grpc.messages import paged_fields, realm_message
from vectra.grpc.status import rpc
from vectra.services import realms
from vectra.services.context import ServiceContext

__all__ = ["RealmServicer"]


class RealmServicer(realms_pb2_grpc.RealmServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @rpc
    async def ListRealms(self, request: realms_pb2.ListRealmsRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        page = await realms.list_realms(self.ctx, actor, request.page or 1, request.page_size or 25)
        return realms_pb2.ListRealmsResponse(**paged_fields(page, realm_message))

    @rpc
    async def GetRealm(self, request: realms_pb2.GetRealmRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        return realm_message(await realms.get_realm(self.ctx, actor, request.realm_id))

    @rpc
    async def CreateRealm(self, request: realms_pb2.CreateRealmRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        return realm_message(await realms.create_realm(self.ctx, actor, name=request.name, slug=request.slug,
                                                       color=request.color or None))

    @rpc
    async def UpdateRealm(self, request: realms_pb2.UpdateRealmRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        return realm_message(await realms.update_realm(self.ctx, actor, request.realm_id, name=request.name or None,
                                                       slug=request.slug or None, color=request.color or None))

    @rpc
    async def DeleteRealm(self, request: realms_pb2.DeleteRealmRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        await realms.delete_realm(self.ctx, actor, request.realm_id)
        return realms_pb2.DeleteRealmResponse()
