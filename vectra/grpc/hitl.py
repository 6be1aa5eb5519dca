"""gRPC servicer of the Human-in-the-Loop API, and its messages.

A request's summary is the REST one (:func:`vectra.services.hitl_json.pending_summary`): the proto's field names
are its JSON names, so one function shapes both surfaces.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import grpc
from google.protobuf import json_format

from vectra.domain.pending import PendingRequest, ReplayOutcome, redacted
from vectra.domain.times import rfc3339
from vectra.grpc.caller import authenticated
from vectra.grpc.generated.vectra.v1 import hitl_pb2, hitl_pb2_grpc, proxy_pb2
from vectra.grpc.messages import page_fields
from vectra.grpc.status import abort_for, rpc
from vectra.services import hitl
from vectra.services.context import ServiceContext
from vectra.services.hitl_json import pending_summary

__all__ = ["HitlServicer"]


class HitlServicer(hitl_pb2_grpc.HitlServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @rpc
    async def ListHitlRequests(self, request: hitl_pb2.ListHitlRequestsRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        page = await hitl.list_requests(self.ctx, actor, agent_id=request.agent_id or None,
                                        statuses=list(request.status), page=request.page or 1,
                                        page_size=request.page_size or 25)
        return hitl_pb2.ListHitlRequestsResponse(**page_fields(page, _summary))

    @rpc
    async def GetHitlRequest(self, request: hitl_pb2.GetHitlRequestRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        wait = request.wait if request.HasField("wait") else None
        return _status(await hitl.get_request(self.ctx, actor, request.id, wait))

    @rpc
    async def ApproveHitlRequest(self, request: hitl_pb2.ApproveHitlRequestRequest,
                                 context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        approval = await hitl.approve(self.ctx, actor, request.id, request.comment or None, request.digest or None)
        return hitl_pb2.ApproveHitlRequestResponse(request=_status(approval.pending, with_body=False),
                                                   answer=_answer(approval.answer))

    @rpc
    async def DenyHitlRequest(self, request: hitl_pb2.DenyHitlRequestRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        return _status(await hitl.deny(self.ctx, actor, request.id, request.comment or None))

    async def Watch(self, request: hitl_pb2.WatchHitlRequestRequest,
                    context: grpc.aio.ServicerContext) -> AsyncIterator[hitl_pb2.HitlRequestStatus]:
        try:
            actor = authenticated(self.ctx, context)
            async with contextlib.aclosing(hitl.watch(self.ctx, actor, request.id)) as updates:
                async for pending in updates:
                    yield _status(pending, with_body=False)
        except Exception as exc:
            await abort_for(self.ctx, context, exc, "HitlService.Watch")


def _summary(pending: PendingRequest) -> hitl_pb2.HitlRequestSummary:
    fields = {name: value for name, value in pending_summary(pending).items() if value is not None}
    return json_format.ParseDict(fields, hitl_pb2.HitlRequestSummary())


def _headers(pairs: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> list[proxy_pb2.Header]:
    return [proxy_pb2.Header(name=name, value=value) for name, value in pairs]


def _answer(outcome: ReplayOutcome) -> hitl_pb2.HitlUpstreamAnswer:
    return hitl_pb2.HitlUpstreamAnswer(status=outcome.status, headers=_headers(outcome.headers), body=outcome.body,
                                       body_size=outcome.body_size, body_truncated=outcome.body_truncated,
                                       error=outcome.error)


def _status(pending: PendingRequest, *, with_body: bool = True) -> hitl_pb2.HitlRequestStatus:
    """The request as ``GetHitlRequest`` answers it; ``with_body=False`` leaves the request's body out (Approve and
    Watch: with the answer's body, two bodies could pass the message size limit)."""
    message = hitl_pb2.HitlRequestStatus(
        id=pending.id, status=pending.status.value,
        pending=hitl_pb2.HitlRequestDetail(summary=_summary(pending), headers=_headers(redacted(pending.headers)),
                                           body=(pending.body or b"") if with_body else b""),
    )
    if pending.decided_at is not None:
        message.decision.CopyFrom(hitl_pb2.HitlDecision(by=pending.decided_by, at=rfc3339(pending.decided_at),
                                                        comment=pending.comment))
    if pending.outcome is not None:
        message.response.CopyFrom(_answer(pending.outcome))
    return message
