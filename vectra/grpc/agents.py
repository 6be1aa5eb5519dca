"""gRPC servicer of the Agents API."""

from __future__ import annotations

import grpc

from vectra.domain.models import Agent, Governance
from vectra.grpc.caller import authenticated
from vectra.grpc.fields import optional, status_filter
from vectra.grpc.generated.vectra.v1 import agents_pb2, agents_pb2_grpc
from vectra.grpc.messages import AGENT_STATUSES, agent_message, paged_fields, timestamp_message
from vectra.grpc.status import rpc
from vectra.services import agents, shadow
from vectra.services.context import ServiceContext
from vectra.services.governance import GOVERNANCE_FIELDS, effective_limits

__all__ = ["AgentServicer"]

#: the agent's limits, as RegisterAgentRequest and UpdateAgentRequest name them (and Governance does)
_LIMITS = tuple(field for field, *_ in GOVERNANCE_FIELDS.values())


def _shadow_status(status: shadow.ShadowStatus) -> agents_pb2.ShadowStatus:
    return agents_pb2.ShadowStatus(agent_id=status.agent_id, policy_name=status.policy_name,
                                   policy_version=status.policy_version, since=timestamp_message(status.since),
                                   judged=status.judged, agreed=status.agreed, disagreed=status.disagreed)


class AgentServicer(agents_pb2_grpc.AgentServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def _shown(self, agent: Agent) -> agents_pb2.Agent:
        return agent_message(agent, agents.online_since(self.ctx), effective_limits(self.ctx, agent))

    @rpc
    async def ListAgents(self, request: agents_pb2.ListAgentsRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        query = agents.AgentQuery(
            q=optional(request, "q"),
            status=status_filter(request.status, AGENT_STATUSES),
            online=optional(request, "online"),
            realm=optional(request, "realm"),
            capabilities=list(request.capabilities),
            owner_id=optional(request, "owner_id"),
            sort_by=optional(request, "sort_by"),
            sort_dir=optional(request, "sort_dir"),
        )
        page = await agents.list_agents(self.ctx, actor, request.page or 1, request.page_size or 25, query)
        since = agents.online_since(self.ctx)
        return agents_pb2.ListAgentsResponse(
            **paged_fields(page, lambda agent: agent_message(agent, since, effective_limits(self.ctx, agent))),
            online_count=page.online_count,
        )

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
            owner_id=request.owner_id or None,
            client_secret=request.client_secret or None,
            roles=list(request.roles),
            capabilities=list(request.capabilities),
            realm=request.realm or None,
            version=request.version or None,
            description=request.description or None,
            metadata=dict(request.metadata),
            public_key=request.public_key or None,
            scope_realms=list(request.scope_realms),
            governance=Governance(**{limit: optional(request, limit) for limit in _LIMITS}),
            parent_agent_id=request.parent_agent_id or None,
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
        for limit in _LIMITS:  # set without a value: back to the default, as REST's null
            if request.HasField(limit):
                given[limit] = optional(getattr(request, limit), "value")
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

    @rpc
    async def PutShadowPolicy(self, request: agents_pb2.PutShadowPolicyRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        return _shadow_status(await shadow.attach_shadow(self.ctx, actor, request.agent_id, request.policy_name,
                                                         optional(request, "version")))

    @rpc
    async def GetShadowPolicy(self, request: agents_pb2.GetShadowPolicyRequest, context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        return _shadow_status(shadow.shadow_status(self.ctx, actor, request.agent_id))

    @rpc
    async def DeleteShadowPolicy(self, request: agents_pb2.DeleteShadowPolicyRequest,
                                 context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        await shadow.detach_shadow(self.ctx, actor, request.agent_id)
        return agents_pb2.DeleteShadowPolicyResponse()
