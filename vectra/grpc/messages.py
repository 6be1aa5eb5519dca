"""Domain objects as protobuf messages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

from vectra.domain.models import Agent, AgentStatus, Governance, Page, Realm, ShadowPolicy
from vectra.domain.sessions import Session, SessionStatus
from vectra.grpc.generated.vectra.v1 import agents_pb2, realms_pb2, sessions_pb2

__all__ = [
    "AGENT_STATUSES",
    "SESSION_STATUSES",
    "agent_message",
    "page_fields",
    "paged_fields",
    "realm_message",
    "session_message",
    "timestamp_message",
]

T = TypeVar("T")

_STATUS = {
    AgentStatus.ACTIVE: agents_pb2.AGENT_STATUS_ACTIVE,
    AgentStatus.QUARANTINED: agents_pb2.AGENT_STATUS_QUARANTINED,
    AgentStatus.REVOKED: agents_pb2.AGENT_STATUS_REVOKED,
}


def timestamp_message(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


#: the protobuf status values, back to the domain's
AGENT_STATUSES = {number: status for status, number in _STATUS.items()}


def realm_message(realm: Realm) -> realms_pb2.Realm:
    return realms_pb2.Realm(id=realm.id, name=realm.name, slug=realm.slug, color=realm.color,
                            created_at=timestamp_message(realm.created_at))


def agent_message(agent: Agent, online_since: datetime, limits: Governance) -> agents_pb2.Agent:
    """The agent, with ``limits``: its limits in effect (``governance.effective_limits``)."""
    return agents_pb2.Agent(
        id=agent.id,
        name=agent.name,
        owner_id=agent.owner_id,
        status=_STATUS[agent.status],
        policy_name=agent.policy_name,
        trust_score=agent.trust_score,
        roles=[r.value for r in agent.roles],
        created_at=timestamp_message(agent.created_at),
        last_seen_at=timestamp_message(agent.last_seen_at),
        online=agent.is_online(online_since),
        capabilities=agent.capabilities,
        realm=realm_message(agent.realm) if agent.realm else None,
        version=agent.version,
        description=agent.description,
        metadata=dict(agent.metadata),
        public_key=agent.public_key,
        did=agent.did,
        scope_realms=agent.scope_realms,
        max_session_hours=limits.max_session_hours,
        max_daily_sessions=limits.max_daily_sessions,
        max_concurrent_sessions=limits.max_concurrent_sessions,
        max_delegation_depth=limits.max_delegation_depth,
        parent_agent_id=agent.parent_agent_id,
        shadow_policy=_shadow_ref(agent.shadow) if agent.shadow else None,
    )


def _shadow_ref(shadow: ShadowPolicy) -> agents_pb2.ShadowPolicyRef:
    return agents_pb2.ShadowPolicyRef(policy_name=shadow.policy_name, policy_version=shadow.policy_version,
                                      since=timestamp_message(shadow.since))


_SESSION_STATUS = {
    SessionStatus.ACTIVE: sessions_pb2.SESSION_STATUS_ACTIVE,
    SessionStatus.COMPLETED: sessions_pb2.SESSION_STATUS_COMPLETED,
    SessionStatus.INTERRUPTED: sessions_pb2.SESSION_STATUS_INTERRUPTED,
    SessionStatus.EXPIRED: sessions_pb2.SESSION_STATUS_EXPIRED,
}

#: the protobuf session status values, back to the domain's
SESSION_STATUSES = {number: status for status, number in _SESSION_STATUS.items()}


def session_message(session: Session, now: datetime) -> sessions_pb2.Session:
    """``session`` as read at ``now`` (an active one past its end reads as expired)."""
    counts = session.counts
    return sessions_pb2.Session(
        id=session.id,
        agent_id=session.agent_id,
        status=_SESSION_STATUS[session.status(now)],
        metadata=dict(session.metadata),
        created_at=timestamp_message(session.created_at),
        expires_at=timestamp_message(session.expires_at),
        ended_at=timestamp_message(session.ended_at),
        end_reason=session.end_reason,
        ended_by=session.ended_by,
        policy_name=session.policy_name,
        policy_version=session.policy_version,
        counts=sessions_pb2.SessionCounts(governed=counts.governed, allowed=counts.allowed, denied=counts.denied,
                                          pending=counts.pending, approved=counts.approved),
    )


def page_fields(page: Page[T], item: Callable[[T], Any]) -> dict[str, Any]:
    """The fields every ``List...Response`` shares: ``items``, ``page``, ``page_size``, ``total_count``."""
    return {
        "items": [item(x) for x in page.items],
        "page": page.page,
        "page_size": page.page_size,
        "total_count": page.total_count,
    }


def paged_fields(page: Page[T], item: Callable[[T], Any]) -> dict[str, Any]:
    """:func:`page_fields` with ``total_pages``, for the lists that count their pages."""
    return {**page_fields(page, item), "total_pages": page.total_pages}
