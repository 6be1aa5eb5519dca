"""REST handlers of the Sessions API (docs/sessions.md)."""

from __future__ import annotations

from typing import Any

from connexion.lifecycle import ConnexionResponse

from vectra.rest.audit import audit_record_json
from vectra.rest.caller import authenticated
from vectra.rest.representations import session_json, session_page_json
from vectra.rest.responses import json_response
from vectra.services import sessions


async def create_session(body: dict[str, Any]) -> ConnexionResponse:
    ctx, actor = authenticated()
    created = await sessions.start_session(ctx, actor, body["agentId"], body.get("metadata") or {})
    return json_response(session_json(created), 201, {"Location": f"/sessions/{created.id}"})


async def list_sessions(page: int = 1, page_size: int = 25, status: str | None = None,
                        agent_id: str | None = None) -> ConnexionResponse:
    ctx, actor = authenticated()
    listed = await sessions.list_sessions(ctx, actor, agent_id=agent_id, status=status, page=page, page_size=page_size)
    return json_response(session_page_json(listed))


async def get_session(session_id: str) -> ConnexionResponse:
    ctx, actor = authenticated()
    return json_response(session_json(await sessions.get_session(ctx, actor, session_id)))


async def complete_session(session_id: str) -> ConnexionResponse:
    ctx, actor = authenticated()
    return json_response(session_json(await sessions.complete_session(ctx, actor, session_id)))


async def interrupt_session(session_id: str, body: dict[str, Any]) -> ConnexionResponse:
    ctx, actor = authenticated()
    return json_response(session_json(await sessions.interrupt_session(ctx, actor, session_id, body["reason"])))


async def list_session_audit(session_id: str, limit: int | None = None) -> ConnexionResponse:
    ctx, actor = authenticated()
    records = await sessions.session_audit(ctx, actor, session_id, limit)
    return json_response({"sessionId": session_id, "records": [audit_record_json(r) for r in records],
                          "count": len(records)})
