"""REST handler of the Replay API: recorded calls judged again by a candidate policy (docs/replay.md)."""

from __future__ import annotations

from typing import Any

from connexion.lifecycle import ConnexionResponse

from vectra.rest.caller import authenticated
from vectra.rest.representations import replay_report_json
from vectra.rest.responses import json_response
from vectra.services import policy_replay


async def replay(body: dict[str, Any]) -> ConnexionResponse:
    ctx, actor = authenticated()
    policy = body["policy"]
    scope = policy_replay.ReplayScope(session_id=body.get("sessionId"), agent_id=body.get("agentId"),
                                      time_from=body.get("from"), time_to=body.get("to"))
    candidate = policy_replay.ReplayCandidate(policy_name=policy.get("name"), version=policy.get("version"),
                                              document=policy.get("document"))
    return json_response(replay_report_json(await policy_replay.replay(ctx, actor, scope, candidate)))
