"""gRPC servicer of the Agents API."""

from __future__ import annotations

import grpc

from vectra.domain.models import Agent
from vectra.grpc.caller import authenticated
from vectra.grpc.generated.vectra.v1 import agents_pb2, agents_pb2_grpc
from vectra.grpc.messages import AGENT_STATUSES, agent_message, paged_fields
from vectra.grpc.status import rpc
from vectra.services import agents
from vectra.services.context import ServiceContext

__all__ = ["AgentServicer"]


def _optional(message: object, field: str) -> object:
    """A proto3 ``optional`` field's value, or None when unset."""
    return getattr(message, field) if message.HasField(field) else None  # type: ignore[attr-defined]


class AgentServicer(agents_pb2_grpc.AgentServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def _shown(self, agent: Agent) -> agents_pb2.Agent:
        return agent_message(agent, agents.online_since(self.ctx))

    @rpc
    async def ListAgents(self, request: agents_pb2.ListAgentsRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        status = AGENT_STATUSES.get(request.status)
        query = agents.AgentQuery(
            q=_optional(request, "q"),
            # 0 is "any"; a number of no status is refused by the service, as REST's unknown name is
            status=status.value if status else (str(request.status) if request.status else None),
            online=_optional(request, "online"),
            realm=_optional(request, "realm"),
            capabilities=list(request.capabilities),
            owner_id=_optional(request, "owner_id"),
            sort_by=_optional(request, "sort_by"),
            sort_dir=_optional(request, "sort_dir"),
        )
        page = await agents.list_agents(self.ctx, actor, request.page or 1, request.page_size or 25, query)
        since = agents.online_since(self.ctx)
        return agents_pb2.ListAgentsResponse(**paged_fields(page, lambda agent: agent_message(agent, since)),
                                             online_count=page.online_count)

    @rpc
    async def GetAgent(self, request: agents_pb2.GetAgentRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        return self._shown(await agents.get_agent(self.ctx, actor, request.agent_id))

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
            capabilities=list(request.capabilities),
            realm=request.realm or None,
            version=request.version or None,
            description=request.description or None,
            metadata=dict(request.metadata),
            public_key=request.public_key or None,
            scope_realms=list(request.scope_realms),
        )
        return agents_pb2.RegisterAgentResponse(
            id=created.agent.id, name=created.agent.name, client_secret=created.client_secret, did=created.agent.did
        )

    @rpc
    async def UpdateAgent(self, request: agents_pb2.UpdateAgentRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        given: dict[str, object] = {}
        for field in ("name", "version", "description"):
            if request.HasField(field):
                given[field] = getattr(request, field) or None
        if request.HasField("realm"):
            given["realm"] = request.realm or None
        for field in ("capabilities", "scope_realms"):
            if request.HasField(field):
                given[field] = list(getattr(request, field).values)
        if request.HasField("metadata"):
            given["metadata"] = dict(request.metadata.entries)
        change = agents.ProfileChange(**given)
        return self._shown(await agents.update_agent(self.ctx, actor, request.agent_id, change))

    @rpc
    async def AssignPolicy(self, request: agents_pb2.AssignPolicyRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        return self._shown(await agents.assign_policy(self.ctx, actor, request.agent_id, request.policy_name))

    @rpc
    async def DeleteAgent(self, request: agents_pb2.DeleteAgentRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        await agents.delete_agent(self.ctx, actor, request.agent_id)
        return agents_pb2.DeleteAgentResponse()

    @rpc
    async def RevokeAgent(self, request: agents_pb2.RevokeAgentRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        return self._shown(await agents.revoke_agent(self.ctx, actor, request.agent_id))

    @rpc
    async def LiftQuarantine(self, request: agents_pb2.LiftQuarantineRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        return self._shown(await agents.lift_quarantine(self.ctx, actor, request.agent_id))
