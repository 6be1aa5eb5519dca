"""gRPC servicer of the Audit API."""

from __future__ import annotations

import grpc
from google.protobuf.struct_pb2 import Struct

from vectra.domain.audit import AuditFilter, AuditRecord
from vectra.grpc.caller import authenticated
from vectra.grpc.generated.vectra.v1 import audit_pb2, audit_pb2_grpc
from vectra.grpc.messages import page_fields
from vectra.grpc.status import rpc
from vectra.services import audit
from vectra.services.context import ServiceContext

__all__ = ["AuditServicer", "audit_record_message"]


def audit_record_message(record: AuditRecord) -> audit_pb2.AuditRecord:
    entry = record.entry
    details = Struct()
    details.update(entry.details)
    return audit_pb2.AuditRecord(
        id=record.id,
        time=record.time,
        actor=entry.actor,
        agent_id=entry.agent_id,
        source=entry.source,
        action=entry.action,
        method=entry.method,
        url=entry.url,
        decision=entry.decision,
        rule=entry.rule,
        reason=entry.reason,
        risk=entry.risk,
        trust=entry.trust,
        upstream_status=entry.upstream_status,
        latency_ms=entry.latency_ms,
        details=details,
        schema_version=record.schema_version,
        prev_hash=record.prev_hash,
        hash=record.hash,
    )


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @rpc
    async def ListAudit(self, request: audit_pb2.ListAuditRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        filters = AuditFilter(
            agent_id=request.agent_id or None,
            decision=request.decision or None,
            action=request.action or None,
            source=request.source or None,
            time_from=request.from_time or None,
            time_to=request.to_time or None,
            session_id=request.session_id or None,
            shadow=audit.shadow_verdict(request.shadow or None),
        )
        page = await audit.list_audit(self.ctx, actor, filters, request.page or 1, request.page_size or 25)
        return audit_pb2.ListAuditResponse(**page_fields(page, audit_record_message))

    @rpc
    async def VerifyAudit(self, request: audit_pb2.VerifyAuditRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        result = await audit.verify_audit(self.ctx, actor)
        return audit_pb2.VerifyAuditResponse(
            valid=result.valid,
            count=result.count,
            head_hash=result.head_hash,
            first_broken_id=result.first_broken_id,
        )
