"""gRPC servicer of the Compliance API: the export's bytes exactly as REST serves them."""

from __future__ import annotations

import grpc

from vectra.grpc.caller import authenticated
from vectra.grpc.generated.vectra.v1 import compliance_pb2, compliance_pb2_grpc
from vectra.grpc.status import rpc
from vectra.services import compliance, input_errors
from vectra.services.context import ServiceContext

__all__ = ["ComplianceServicer"]

_FORMATS = ("json", "html")


def _format(name: str) -> str:
    """The format asked for ("json" when empty), checked before any export is made."""
    chosen = name or "json"
    if chosen not in _FORMATS:
        raise input_errors.not_one_of("format", _FORMATS)
    return chosen


def _answer(export: compliance.Export, chosen: str) -> compliance_pb2.ComplianceExport:
    if chosen == "html":
        return compliance_pb2.ComplianceExport(content_type="text/html; charset=utf-8",
                                               document=export.html().encode())
    return compliance_pb2.ComplianceExport(content_type="application/json", document=export.json_bytes())


class ComplianceServicer(compliance_pb2_grpc.ComplianceServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @rpc
    async def GetSessionCompliance(self, request: compliance_pb2.GetSessionComplianceRequest,
                                   context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        chosen = _format(request.format)
        return _answer(await compliance.session_export(self.ctx, actor, request.session_id), chosen)

    @rpc
    async def GetCompliance(self, request: compliance_pb2.GetComplianceRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        chosen = _format(request.format)
        export = await compliance.period_export(self.ctx, actor, request.agent_id, request.from_time or None,
                                                request.to_time or None)
        return _answer(export, chosen)
