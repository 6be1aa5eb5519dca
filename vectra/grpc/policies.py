"""gRPC servicer of the Policies API and the decision dry run (``Simulate``)."""

from __future__ import annotations

import grpc

from vectra.grpc.caller import authenticated
from vectra.grpc.generated.vectra.v1 import policies_pb2, policies_pb2_grpc
from vectra.grpc.messages import page_fields
from vectra.grpc.policy_messages import (
    decision_message,
    document_from_message,
    policy_message,
    summary_message,
    version_message,
)
from vectra.grpc.status import rpc
from vectra.services import policies
from vectra.services.context import ServiceContext
from vectra.services.decide import OutboundRequest
from vectra.services.simulate import SimulatedAgent, simulate

__all__ = ["PolicyServicer"]


def _document(request: policies_pb2.PutPolicyRequest | policies_pb2.ValidatePolicyRequest) -> dict | None:
    """The request's document as a mapping; none when unset (as an empty REST body)."""
    return document_from_message(request.document) if request.HasField("document") else None


class PolicyServicer(policies_pb2_grpc.PolicyServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @rpc
    async def ListPolicies(self, request: policies_pb2.ListPoliciesRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        page = await policies.list_policies(self.ctx, actor, request.page or 1, request.page_size or 25)
        return policies_pb2.ListPoliciesResponse(**page_fields(page, summary_message))

    @rpc
    async def GetPolicy(self, request: policies_pb2.GetPolicyRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        version = request.version if request.HasField("version") else None
        return policy_message(await policies.get_policy(self.ctx, actor, request.name, version))

    @rpc
    async def PutPolicy(self, request: policies_pb2.PutPolicyRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        outcome = await policies.put_policy(self.ctx, actor, request.name, _document(request))
        return policies_pb2.PutPolicyResponse(
            policy=policy_message(outcome.policy), created=outcome.created, changed=outcome.changed
        )

    @rpc
    async def DeletePolicy(self, request: policies_pb2.DeletePolicyRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        await policies.delete_policy(self.ctx, actor, request.name)
        return policies_pb2.DeletePolicyResponse()

    @rpc
    async def ListPolicyVersions(
        self, request: policies_pb2.ListPolicyVersionsRequest, context: grpc.aio.ServicerContext
    ):
        actor = authenticated(self.ctx, context)
        page = await policies.list_policy_versions(
            self.ctx, actor, request.name, request.page or 1, request.page_size or 25
        )
        return policies_pb2.ListPolicyVersionsResponse(**page_fields(page, version_message))

    @rpc
    async def ValidatePolicy(self, request: policies_pb2.ValidatePolicyRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        problems = await policies.validate_policy(self.ctx, actor, _document(request))
        return policies_pb2.ValidatePolicyResponse(
            valid=not problems,
            errors=[policies_pb2.PolicyProblem(pointer=p.pointer, message=p.message) for p in problems],
        )

    @rpc
    async def Simulate(self, request: policies_pb2.SimulateRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        call = request.request
        outbound = OutboundRequest(call.method, call.url, dict(call.headers), call.body or None)
        subject = request.WhichOneof("subject")
        agent = None
        if subject == "agent":
            inline = request.agent
            agent = SimulatedAgent(
                id=inline.id or None,
                name=inline.name or None,
                owner_id=inline.owner_id or None,
                trust_score=inline.trust_score if inline.HasField("trust_score") else None,
                roles=tuple(inline.roles),
                policy_name=inline.policy_name or None,
                policy=document_from_message(inline.policy) if inline.HasField("policy") else None,
                capabilities=tuple(inline.capabilities),
                realm=inline.realm or None,
            )
        agent_id = request.agent_id if subject == "agent_id" else None
        decision = await simulate(self.ctx, actor, outbound, agent_id=agent_id, agent=agent)
        return decision_message(decision)
