"""REST handler of ``POST /simulate``: the decision the gateway would take, with nothing recorded."""

from __future__ import annotations

from typing import Any

from connexion.lifecycle import ConnexionResponse

from vectra.rest.caller import authenticated
from vectra.rest.representations import decision_json
from vectra.rest.responses import json_response
from vectra.services.decide import OutboundRequest
from vectra.services.simulate import SimulatedAgent
from vectra.services.simulate import simulate as simulate_decision


async def simulate(body: dict[str, Any]) -> ConnexionResponse:
    ctx, actor = authenticated()
    call = body["request"]
    request = OutboundRequest(call["method"], call["url"], call.get("headers") or {}, call.get("body"))
    inline = body.get("agent")
    agent = None if inline is None else SimulatedAgent(
        id=inline.get("id"),
        name=inline.get("name"),
        owner_id=inline.get("ownerId"),
        trust_score=inline.get("trustScore"),
        roles=tuple(inline.get("roles") or ()),
        policy_name=inline.get("policyName"),
        policy=inline.get("policy"),
        capabilities=tuple(inline.get("capabilities") or ()),
        realm=inline.get("realm"),
    )
    decision = await simulate_decision(ctx, actor, request, agent_id=body.get("agentId"), agent=agent)
    return json_response(decision_json(decision))
