"""REST handler of the Replay API: recorded calls judged again by a candidate policy (docs/sessions.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connexion.lifecycle import ConnexionResponse

from vectra.rest.caller import authenticated
from vectra.rest.representations import replay_report_json
from vectra.rest.responses import json_response
from vectra.services import input_errors, policy_replay


async def replay(body: dict[str, Any]) -> ConnexionResponse:
    ctx, actor = authenticated()
    policy = body["policy"]
    scope = policy_replay.ReplayScope(session_id=body.get("sessionId"), agent_id=body.get("agentId"),
                                      time_from=_moment("from", body.get("from")),
                                      time_to=_moment("to", body.get("to")))
    candidate = policy_replay.ReplayCandidate(policy_name=policy.get("name"), version=policy.get("version"),
                                              document=policy.get("document"))
    return json_response(replay_report_json(await policy_replay.replay(ctx, actor, scope, candidate)))


def _moment(pointer: str, value: str | None) -> datetime | None:
    """``from`` or ``to`` as the moment it writes (the schema checked its form; RFC 3339 allows a few spellings
    Python does not read, refused as the service refuses a moment without an offset)."""
    try:
        return datetime.fromisoformat(value) if value is not None else None
    except ValueError:
        raise input_errors.malformed(pointer, "a date-time with an offset") from None
