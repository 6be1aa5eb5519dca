"""gRPC servicer of the Sessions API."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc

from vectra.domain.sessions import Session
from vectra.grpc.audit import audit_record_message
from vectra.grpc.caller import authenticated
from vectra.grpc.fields import optional, status_filter
from vectra.grpc.generated.vectra.v1 import sessions_pb2, sessions_pb2_grpc
from vectra.grpc.messages import SESSION_STATUSES, paged_fields, session_message
from vectra.grpc.status import rpc
from vectra.services import sessions
from vectra.services.context import ServiceContext

__all__ = ["SessionServicer"]

def _shown(session: Session) -> sessions_pb2.Session:
    return session_message(session, datetime.now(UTC))


class SessionServicer(sessions_pb2_grpc.SessionServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @rpc
    async def CreateSession(self, request: sessions_pb2.CreateSessionRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        return _shown(await sessions.start_session(self.ctx, actor, request.agent_id, dict(request.metadata)))

    @rpc
    async def ListSessions(self, request: sessions_pb2.ListSessionsRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        page = await sessions.list_sessions(
            self.ctx, actor, agent_id=optional(request, "agent_id"),
            status=status_filter(request.status, SESSION_STATUSES),
            page=request.page or 1, page_size=request.page_size or 25,
        )
        now = datetime.now(UTC)
        return sessions_pb2.ListSessionsResponse(**paged_fields(page, lambda session: session_message(session, now)))

    @rpc
    async def GetSession(self, request: sessions_pb2.GetSessionRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        return _shown(await sessions.get_session(self.ctx, actor, request.session_id))

    @rpc
    async def CompleteSession(self, request: sessions_pb2.CompleteSessionRequest,
                              context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        return _shown(await sessions.complete_session(self.ctx, actor, request.session_id))

    @rpc
    async def InterruptSession(self, request: sessions_pb2.InterruptSessionRequest,
                               context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        return _shown(await sessions.interrupt_session(self.ctx, actor, request.session_id, request.reason))

    @rpc
    async def ListSessionAudit(self, request: sessions_pb2.ListSessionAuditRequest,
                               context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        records = await sessions.session_audit(self.ctx, actor, request.session_id, request.limit or None)
        return sessions_pb2.ListSessionAuditResponse(session_id=request.session_id,
                                                     records=[audit_record_message(r) for r in records],
                                                     count=len(records))
