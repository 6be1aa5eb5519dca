"""Governed sessions as rows, and the audit log's counts of a session's calls."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from vectra.domain.sessions import (
    DENIED_DECISIONS,
    GOVERNED_ACTIONS,
    Session,
    SessionCounts,
    SessionFilter,
    SessionStatus,
)
from vectra.store.agent_rows import within_scope
from vectra.store.pending_rows import stamp

__all__ = ["COUNTS_QUERY", "PENDING_COUNTS_QUERY", "session_from_row", "session_row", "sessions_where"]

def _listed(names: tuple[str, ...]) -> str:
    return ", ".join(f"'{name}'" for name in names)


#: a session's governed calls, allowed and denied ones, from the audit records that carry its id
COUNTS_QUERY = f"""
    SELECT count(*), ifnull(sum(decision = 'Allow'), 0), ifnull(sum(decision IN ({_listed(DENIED_DECISIONS)})), 0)
    FROM audit_log WHERE session_id = ? AND action IN ({_listed(GOVERNED_ACTIONS)})
"""
#: its parked requests still waiting, and those a reviewer approved
PENDING_COUNTS_QUERY = """
    SELECT ifnull(sum(status = 'Pending'), 0), ifnull(sum(status = 'Approved'), 0)
    FROM pending_requests WHERE session_id = ?
"""


def session_row(session: Session) -> dict[str, Any]:
    return {
        "id": session.id, "agent_id": session.agent_id, "status": session.stored_status.value,
        "metadata": json.dumps(dict(session.metadata), sort_keys=True), "created_at": stamp(session.created_at),
        "expires_at": stamp(session.expires_at), "ended_at": stamp(session.ended_at) if session.ended_at else None,
        "end_reason": session.end_reason, "ended_by": session.ended_by, "policy_name": session.policy_name,
        "policy_version": session.policy_version,
    }


def session_from_row(row: Mapping[str, Any], counts: SessionCounts) -> Session:
    return Session(
        id=row["id"], agent_id=row["agent_id"], stored_status=SessionStatus(row["status"]),
        metadata=json.loads(row["metadata"]), created_at=datetime.fromisoformat(row["created_at"]),
        expires_at=datetime.fromisoformat(row["expires_at"]),
        ended_at=datetime.fromisoformat(row["ended_at"]) if row["ended_at"] else None,
        end_reason=row["end_reason"], ended_by=row["ended_by"], policy_name=row["policy_name"],
        policy_version=row["policy_version"], counts=counts,
    )


def sessions_where(filters: SessionFilter) -> tuple[str, list[Any]]:
    """The WHERE clause of a session list; an ``expired`` session is an active one past its end."""
    conditions: list[str] = []
    params: list[Any] = []
    if filters.agent_id is not None:
        conditions.append("agent_id = ?")
        params.append(filters.agent_id)
    now = stamp(filters.now)
    if filters.status is SessionStatus.ACTIVE:
        conditions.append("status = 'active' AND expires_at > ?")
        params.append(now)
    elif filters.status is SessionStatus.EXPIRED:
        conditions.append("status = 'active' AND expires_at <= ?")
        params.append(now)
    elif filters.status is not None:
        conditions.append("status = ?")
        params.append(filters.status.value)
    if filters.scope is not None:
        scoped, scope_params = within_scope("s", filters.scope)
        conditions.append(f"agent_id IN (SELECT s.id FROM agents s WHERE {scoped})")
        params += scope_params
    return (" WHERE " + " AND ".join(conditions)) if conditions else "", params
