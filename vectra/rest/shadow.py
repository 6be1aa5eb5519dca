"""REST handlers of an agent's shadow policy (docs/sessions.md, "Shadow mode")."""

from __future__ import annotations

from typing import Any

from connexion.lifecycle import ConnexionResponse

from vectra.rest.caller import authenticated
from vectra.rest.representations import shadow_status_json
from vectra.rest.responses import json_response
from vectra.services import shadow


async def put_shadow_policy(agent_id: str, body: dict[str, Any]) -> ConnexionResponse:
    ctx, actor = authenticated()
    attached = await shadow.attach_shadow(ctx, actor, agent_id, body["policyName"], body.get("version"))
    return json_response(shadow_status_json(attached))


async def get_shadow_policy(agent_id: str) -> ConnexionResponse:
    ctx, actor = authenticated()
    return json_response(shadow_status_json(shadow.shadow_status(ctx, actor, agent_id)))


async def delete_shadow_policy(agent_id: str) -> ConnexionResponse:
    ctx, actor = authenticated()
    await shadow.detach_shadow(ctx, actor, agent_id)
    return json_response(None, 204)
