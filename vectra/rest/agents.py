"""REST handlers of the Agents API."""

from __future__ import annotations

import functools
from typing import Any

from connexion.lifecycle import ConnexionResponse

from vectra.domain.models import Agent, Governance
from vectra.rest.caller import authenticated
from vectra.rest.representations import agent_json, agent_page_json
from vectra.rest.responses import json_response
from vectra.services import agents
from vectra.services.context import ServiceContext
from vectra.services.governance import GOVERNANCE_FIELDS, effective_limits


def _shown(ctx: ServiceContext, agent: Agent) -> ConnexionResponse:
    return json_response(agent_json(agent, agents.online_since(ctx), effective_limits(ctx, agent)))


def _governance(body: dict[str, Any]) -> Governance:
    """The limits a registration gives (those left out, or null, take the daemon's defaults)."""
    return Governance(**{field: body.get(camel) for camel, (field, *_) in GOVERNANCE_FIELDS.items()})


async def list_agents(page: int = 1, page_size: int = 25, q: str | None = None, status: str | None = None,
                      online: bool | None = None, realm: str | None = None, capabilities: str | None = None,
                      owner_id: str | None = None, sort_by: str | None = None,
                      sort_dir: str | None = None) -> ConnexionResponse:
    ctx, actor = authenticated()
    query = agents.AgentQuery(q=q, status=status, online=online, realm=realm, capabilities=capabilities,
                              owner_id=owner_id, sort_by=sort_by, sort_dir=sort_dir)
    listed = await agents.list_agents(ctx, actor, page, page_size, query)
    return json_response(agent_page_json(listed, agents.online_since(ctx), functools.partial(effective_limits, ctx)))


async def get_agent(agent_id: str) -> ConnexionResponse:
    ctx, actor = authenticated()
    return _shown(ctx, await agents.get_agent(ctx, actor, agent_id))


async def register_agent(body: dict[str, Any]) -> ConnexionResponse:
    ctx, actor = authenticated()
    created = await agents.register_agent(
        ctx,
        actor,
        name=body.get("name"),
        owner_id=body.get("ownerId"),
        client_secret=body.get("clientSecret"),
        roles=body.get("roles"),
        capabilities=body.get("capabilities"),
        realm=body.get("realm"),
        version=body.get("version"),
        description=body.get("description"),
        metadata=body.get("metadata"),
        public_key=body.get("publicKey"),
        scope_realms=body.get("scopeRealms"),
        governance=_governance(body),
        parent_agent_id=body.get("parentAgentId"),
    )
    answer = {"id": created.agent.id, "name": created.agent.name, "clientSecret": created.client_secret}
    if created.agent.did:
        answer["did"] = created.agent.did
    return json_response(answer, 201, {"Location": f"/agents/{created.agent.id}"})


async def update_agent(agent_id: str, body: dict[str, Any]) -> ConnexionResponse:
    ctx, actor = authenticated()
    given = {field: body[key] for key, field in agents.PROFILE_FIELDS.items() if key in body}
    return _shown(ctx, await agents.update_agent(ctx, actor, agent_id, agents.ProfileChange(**given)))


async def assign_policy(agent_id: str, body: dict[str, Any]) -> ConnexionResponse:
    ctx, actor = authenticated()
    return _shown(ctx, await agents.assign_policy(ctx, actor, agent_id, body.get("policyName")))


async def delete_agent(agent_id: str) -> ConnexionResponse:
    ctx, actor = authenticated()
    await agents.delete_agent(ctx, actor, agent_id)
    return json_response(None)


async def revoke_agent(agent_id: str) -> ConnexionResponse:
    ctx, actor = authenticated()
    return _shown(ctx, await agents.revoke_agent(ctx, actor, agent_id))


async def lift_quarantine(agent_id: str) -> ConnexionResponse:
    ctx, actor = authenticated()
    return _shown(ctx, await agents.lift_quarantine(ctx, actor, agent_id))
