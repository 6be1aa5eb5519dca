"""gRPC servicer of the Agents API."""

from __future__ import annotations

import grpc

from vectra.grpc.caller import authenticated
from vectra.grpc.generated.vectra.v1 import agents_pb2, agents_pb2_grpc
from vectra.grpc.messages import agent_message, page_fields
from vectra.grpc.status import rpc
from vectra.services import agents
from vectra.services.context import ServiceContext

__all__ = ["AgentServicer"]


class AgentServicer(agents_pb2_grpc.AgentServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @rpc
    async def ListAgents(self, request: agents_pb2.ListAgentsRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        page = await agents.list_agents(self.ctx, actor, request.page or 1, request.page_size or 25)
        return agents_pb2.ListAgentsResponse(**page_fields(page, agent_message))

    @rpc
    async def GetAgent(self, request: agents_pb2.GetAgentRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        return agent_message(await agents.get_agent(self.ctx, actor, request.agent_id))

    @rpc
    async def RegisterAgent(self, request: agents_pb2.RegisterAgentRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        created = await agents.register_agent(
            self.ctx,
            actor,
            name=request.name,
            owner_id=request.owner_id,
            client_secret=request.client_secret or None,
            roles=list(request.roles),
        )
        return agents_pb2.RegisterAgentResponse(
            id=created.agent.id, name=created.agent.name, client_secret=created.client_secret
        )

    @rpc
    async def AssignPolicy(self, request: agents_pb2.AssignPolicyRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        return agent_message(await agents.assign_policy(self.ctx, actor, request.agent_id, request.policy_name))

    @rpc
    async def DeleteAgent(self, request: agents_pb2.DeleteAgentRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        await agents.delete_agent(self.ctx, actor, request.agent_id)
        return agents_pb2.DeleteAgentResponse()

    @rpc
    async def RevokeAgent(self, request: agents_pb2.RevokeAgentRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        return agent_message(await agents.revoke_agent(self.ctx, actor, request.agent_id))

    @rpc
    async def LiftQuarantine(self, request: agents_pb2.LiftQuarantineRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        return agent_message(await agents.lift_quarantine(self.ctx, actor, request.agent_id))
