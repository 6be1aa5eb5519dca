"""REST handlers of the Agents API."""

from __future__ import annotations

from typing import Any

from connexion.lifecycle import ConnexionResponse

from vectra.rest.caller import authenticated
from vectra.rest.representations import agent_json, page_json
from vectra.rest.responses import json_response
from vectra.services import agents


async def list_agents(page: int = 1, page_size: int = 25) -> ConnexionResponse:
    ctx, actor = authenticated()
    return json_response(page_json(await agents.list_agents(ctx, actor, page, page_size), agent_json))


async def get_agent(agent_id: str) -> ConnexionResponse:
    ctx, actor = authenticated()
    return json_response(agent_json(await agents.get_agent(ctx, actor, agent_id)))


async def register_agent(body: dict[str, Any]) -> ConnexionResponse:
    ctx, actor = authenticated()
    created = await agents.register_agent(
        ctx,
        actor,
        name=body.get("name"),
        owner_id=body.get("ownerId"),
        client_secret=body.get("clientSecret"),
        roles=body.get("roles"),
    )
    answer = {"id": created.agent.id, "name": created.agent.name, "clientSecret": created.client_secret}
    return json_response(answer, 201, {"Location": f"/agents/{created.agent.id}"})


async def assign_policy(agent_id: str, body: dict[str, Any]) -> ConnexionResponse:
    ctx, actor = authenticated()
    return json_response(agent_json(await agents.assign_policy(ctx, actor, agent_id, body.get("policyName"))))


async def delete_agent(agent_id: str) -> ConnexionResponse:
    ctx, actor = authenticated()
    await agents.delete_agent(ctx, actor, agent_id)
    return json_response(None)


async def revoke_agent(agent_id: str) -> ConnexionResponse:
    ctx, actor = authenticated()
    return json_response(agent_json(await agents.revoke_agent(ctx, actor, agent_id)))


async def lift_quarantine(agent_id: str) -> ConnexionResponse:
    ctx, actor = authenticated()
    return json_response(agent_json(await agents.lift_quarantine(ctx, actor, agent_id)))
