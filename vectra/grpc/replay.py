"""gRPC servicer of the Replay API: the request is POST /replay's body, passed on as it is (empty is unset)."""

from __future__ import annotations

import grpc

from vectra.grpc.caller import authenticated
from vectra.grpc.fields import optional
from vectra.grpc.generated.vectra.v1 import replay_pb2, replay_pb2_grpc
from vectra.grpc.policy_messages import document_from_message
from vectra.grpc.status import rpc
from vectra.services import policy_replay
from vectra.services.context import ServiceContext

__all__ = ["ReplayServicer"]


def _scope(request: replay_pb2.ReplayRequest) -> policy_replay.ReplayScope:
    return policy_replay.ReplayScope(session_id=request.session_id or None, agent_id=request.agent_id or None,
                                     time_from=request.from_time or None, time_to=request.to_time or None)


def _candidate(policy: replay_pb2.ReplayPolicy) -> policy_replay.ReplayCandidate:
    document = document_from_message(policy.document) if policy.HasField("document") else None
    return policy_replay.ReplayCandidate(policy_name=policy.name or None, version=optional(policy, "version"),
                                         document=document)


def _report(report: policy_replay.ReplayReport) -> replay_pb2.ReplayReport:
    return replay_pb2.ReplayReport(
        total_replayed=report.total_replayed,
        consistent=report.consistent,
        changed=report.changed,
        incomplete=report.incomplete,
        policy=replay_pb2.PolicyRef(name=report.policy_name, version=report.policy_version),
        changes=[replay_pb2.ReplayChange(
            audit_id=change.audit_id, time=change.time, method=change.method, url=change.url, tool=change.tool,
            original_decision=change.original_decision, replayed_decision=change.replayed_decision,
            original_rule=change.original_rule, rule=change.rule, reason=change.reason,
            body_truncated=change.body_truncated,
        ) for change in report.changes],
    )


class ReplayServicer(replay_pb2_grpc.ReplayServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @rpc
    async def Replay(self, request: replay_pb2.ReplayRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        return _report(await policy_replay.replay(self.ctx, actor, _scope(request), _candidate(request.policy)))
