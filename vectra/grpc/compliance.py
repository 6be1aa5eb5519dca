"""gRPC servicer of the Compliance API: the export's bytes exactly as REST serves them."""

from __future__ import annotations

import grpc

from vectra.grpc.caller import authenticated
from vectra.grpc.generated.vectra.v1 import compliance_pb2, compliance_pb2_grpc
from vectra.grpc.status import rpc
from vectra.services import compliance
from vectra.services.context import ServiceContext

__all__ = ["ComplianceServicer"]


async def _answer(export: compliance.Export, chosen: str) -> compliance_pb2.ComplianceExport:
    content_type, document = await export.rendered(chosen)
    return compliance_pb2.ComplianceExport(content_type=content_type, document=document)


class ComplianceServicer(compliance_pb2_grpc.ComplianceServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @rpc
    async def GetSessionCompliance(self, request: compliance_pb2.GetSessionComplianceRequest,
                                   context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        chosen = compliance.export_format(request.format)  # refused before any export is made
        return await _answer(await compliance.session_export(self.ctx, actor, request.session_id), chosen)

    @rpc
    async def GetCompliance(self, request: compliance_pb2.GetComplianceRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        chosen = compliance.export_format(request.format)  # refused before any export is made
        export = await compliance.period_export(self.ctx, actor, request.agent_id, request.from_time or None,
                                                request.to_time or None)
        return await _answer(export, chosen)
