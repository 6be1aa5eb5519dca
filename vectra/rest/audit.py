"""REST handlers of the Audit API."""

from __future__ import annotations

from typing import Any

from connexion.lifecycle import ConnexionResponse

from vectra.domain.audit import AuditFilter, AuditRecord
from vectra.rest.caller import authenticated
from vectra.rest.representations import page_json
from vectra.rest.responses import json_response
from vectra.services import audit


def audit_record_json(record: AuditRecord) -> dict[str, Any]:
    """The record exactly as hashed, plus its hash: drop ``hash``, canonicalise (RFC 8785), SHA-256 to check it."""
    return {**record.document(), "hash": record.hash}


async def list_audit(
    page: int = 1,
    page_size: int = 25,
    agent_id: str | None = None,
    decision: str | None = None,
    action: str | None = None,
    source: str | None = None,
    from_: str | None = None,
    to: str | None = None,
    session_id: str | None = None,
    shadow: str | None = None,
) -> ConnexionResponse:
    ctx, actor = authenticated()
    filters = AuditFilter(agent_id=agent_id, decision=decision, action=action, source=source, time_from=from_,
                          time_to=to, session_id=session_id, shadow=audit.shadow_verdict(shadow))
    return json_response(page_json(await audit.list_audit(ctx, actor, filters, page, page_size), audit_record_json))


async def verify_audit() -> ConnexionResponse:
    ctx, actor = authenticated()
    result = await audit.verify_audit(ctx, actor)
    return json_response({
        "valid": result.valid,
        "count": result.count,
        "headHash": result.head_hash,
        "firstBrokenId": result.first_broken_id,
    })
