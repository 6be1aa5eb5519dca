"""Governed sessions: begin, read, list, complete and interrupt one run of an agent, and judge whether a call may
still be made in it (docs/sessions.md).

Who may do what: an agent begins, reads and completes its own sessions; an admin of the agent's realm does all of
that for any agent; admins and reviewers of the realm read and interrupt them. A session of an agent the caller
doesn't oversee is not found. A session begins only within its agent's limits (``maxConcurrentSessions``,
``maxDailySessions``: 429 naming the limit), lasts at most ``maxSessionHours``, and once ended, interrupted or past
its duration refuses every call that names it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from vectra.domain.audit import AuditFilter, AuditRecord
from vectra.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, RateLimited, SessionRefused
from vectra.domain.models import Agent, AgentStatus, Page, Principal, Role
from vectra.domain.sessions import Session, SessionFilter, SessionStatus
from vectra.domain.times import rfc3339
from vectra.services import audit, input_errors, profiles
from vectra.services.agents import visible_agent
from vectra.services.auth import require_reader
from vectra.services.context import ServiceContext
from vectra.services.governance import effective_limits
from vectra.services.inputs import bounded_string, check_page, parse_agent_id, parse_session_id

__all__ = [
    "DEFAULT_AUDIT_LIMIT",
    "MAX_AUDIT_LIMIT",
    "SESSION_HEADER",
    "complete_session",
    "get_session",
    "interrupt_session",
    "list_sessions",
    "open_session_for",
    "own_session",
    "session_and_agent",
    "session_audit",
    "session_document",
    "session_named",
    "start_session",
]

#: the header a proxied call names its session in (a gateway header: never forwarded)
SESSION_HEADER = "vectra-session"
#: how many records a session's audit listing gives when the caller names no limit (at most MAX_AUDIT_LIMIT)
DEFAULT_AUDIT_LIMIT = 200
MAX_AUDIT_LIMIT = 1000
MAX_REASON_LENGTH = 1000


async def start_session(ctx: ServiceContext, actor: Principal, agent_id: str,
                        metadata: Mapping[str, str] | None = None) -> Session:
    """Begin a session of ``agent_id`` (the caller itself, or an agent an admin oversees), within its limits."""
    agent_id = parse_agent_id(agent_id)
    agent = _agent_acting_on(ctx, actor, agent_id, Role.ADMIN, "begin a session of another agent")
    if agent.status is not AgentStatus.ACTIVE:
        raise Forbidden(f"agent {agent_id} is {agent.status.value.lower()}: it can't begin a session",
                        cause="agent_status", subject=actor.subject)
    limits = effective_limits(ctx, agent)
    now = datetime.now(UTC)
    head = ctx.store.policy_head(agent.policy_name) if agent.policy_name else None
    session = Session(
        id="vs_" + secrets.token_hex(16), agent_id=agent_id, stored_status=SessionStatus.ACTIVE,
        metadata=profiles.check_metadata("metadata", metadata), created_at=now,
        expires_at=now + timedelta(hours=limits.max_session_hours),
        policy_name=agent.policy_name, policy_version=head.version if head is not None else None,
    )

    def begin() -> Session:
        reached = ctx.store.open_session(session, limits.max_concurrent_sessions, limits.max_daily_sessions)
        if reached is not None:
            what = "are active" if reached.name == "maxConcurrentSessions" else "began in the last 24 hours"
            raise RateLimited(f"{reached.name} ({reached.limit}) reached: {reached.count} sessions of agent "
                              f"{agent_id} {what}", limit=reached.name)
        return session

    return await audit.record_change(
        ctx, actor, "session.created", begin, agent_id=agent_id,
        details={"sessionId": session.id, "expiresAt": session.expires_at.isoformat(),
                 "policyName": session.policy_name, "policyVersion": session.policy_version},
    )


async def get_session(ctx: ServiceContext, actor: Principal, session_id: str) -> Session:
    """The session with its live counts, for its agent and whoever oversees that agent. Counting reads the
    session's records, so it runs off the event loop, as every read of this module the surfaces call."""
    return (await asyncio.to_thread(session_and_agent, ctx, actor, session_id))[0]


def session_and_agent(ctx: ServiceContext, actor: Principal, session_id: str) -> tuple[Session, Agent]:
    """:func:`get_session`, with the session's agent as the caller sees it."""
    session = _session(ctx, session_id)
    agent = _agent_acting_on(ctx, actor, session.agent_id, Role.REVIEWER, "read another agent's session", session_id)
    return session, agent


async def list_sessions(ctx: ServiceContext, actor: Principal, *, agent_id: str | None = None,
                        status: str | None = None, page: int = 1, page_size: int = 25) -> Page[Session]:
    """An agent lists its own sessions; admins and reviewers those of the agents they oversee."""
    check_page(page, page_size)
    if agent_id is not None:
        agent_id = parse_agent_id(agent_id)
    wanted = None
    if status is not None:
        statuses = [s.value for s in SessionStatus]
        if status not in statuses:
            raise input_errors.not_one_of("status", statuses)
        wanted = SessionStatus(status)
    scope = actor.scope
    if not actor.has(Role.REVIEWER):
        if actor.agent is None or agent_id not in (None, actor.subject):
            raise Forbidden("an agent may list only its own sessions", cause="not_own", subject=actor.subject)
        agent_id, scope = actor.subject, None
    filters = SessionFilter(now=datetime.now(UTC), agent_id=agent_id, status=wanted, scope=scope)
    return await asyncio.to_thread(ctx.store.list_sessions, filters, page, page_size)


async def complete_session(ctx: ServiceContext, actor: Principal, session_id: str) -> Session:
    """The agent (or an admin) ends its session; calls naming it are refused from now on. 409 once ended."""
    session = _session(ctx, session_id)
    _agent_acting_on(ctx, actor, session.agent_id, Role.ADMIN, "complete another agent's session", session_id)
    return await _end(ctx, actor, session, SessionStatus.COMPLETED, None)


async def interrupt_session(ctx: ServiceContext, actor: Principal, session_id: str, reason: object) -> Session:
    """An operator stops a session (emergency stop); its calls are refused from the next one. 409 once ended."""
    session = _session(ctx, session_id)
    require_reader(actor, "interrupting a session")
    _agent_acting_on(ctx, actor, session.agent_id, Role.REVIEWER, "interrupt another agent's session", session_id)
    text = bounded_string("reason", reason, MAX_REASON_LENGTH)
    if not text.strip():
        raise input_errors.blank("reason")
    return await _end(ctx, actor, session, SessionStatus.INTERRUPTED, text)


async def session_audit(ctx: ServiceContext, actor: Principal, session_id: str,
                        limit: int | None = None) -> list[AuditRecord]:
    """The session's audit records, oldest first, at most ``limit`` (:data:`DEFAULT_AUDIT_LIMIT` when None). An
    admin's or reviewer's reading, like the audit log's: an agent does not read what its shadow policy made of it."""
    limit = DEFAULT_AUDIT_LIMIT if limit is None else limit
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_AUDIT_LIMIT:
        raise input_errors.out_of_range("limit", 1, MAX_AUDIT_LIMIT)
    require_reader(actor, "reading a session's audit records")
    session = await get_session(ctx, actor, session_id)
    return await asyncio.to_thread(lambda: list(ctx.store.iter_audit_matching(AuditFilter(session_id=session.id),
                                                                              limit)))


def session_document(session: Session, now: datetime) -> dict[str, Any]:
    """The session as JSON values, read at ``now``: what ``GET /sessions/{id}`` shows, and a compliance export."""
    counts = session.counts
    return {
        "id": session.id,
        "agentId": session.agent_id,
        "status": session.status(now).value,
        "metadata": dict(session.metadata),
        "createdAt": rfc3339(session.created_at),
        "expiresAt": rfc3339(session.expires_at),
        "endedAt": rfc3339(session.ended_at),
        "endReason": session.end_reason,
        "endedBy": session.ended_by,
        "policyName": session.policy_name,
        "policyVersion": session.policy_version,
        "counts": {"governed": counts.governed, "allowed": counts.allowed, "denied": counts.denied,
                   "pending": counts.pending, "approved": counts.approved},
    }


def session_named(session_id: str | None, headers: Sequence[tuple[str, str]]) -> str | None:
    """The session a call names: the gRPC field, else its one ``Vectra-Session`` header (InvalidInput when given
    twice); None for a call of no session."""
    if session_id is not None:
        return session_id
    given = [value for key, value in headers if key.lower() == SESSION_HEADER]
    if len(given) > 1:
        raise InvalidInput("a call names one session: Vectra-Session is given twice", pointer="Vectra-Session")
    return given[0] if given else None


def own_session(ctx: ServiceContext, agent: Agent, session_id: str) -> Session | None:
    """The session ``session_id`` names if it is one of ``agent``'s, open or not (InvalidInput when malformed)."""
    session = ctx.store.get_session(parse_session_id(session_id, "Vectra-Session"), with_counts=False)
    return session if session is not None and session.agent_id == agent.id else None


def open_session_for(ctx: ServiceContext, agent: Agent, session_id: str) -> Session:
    """The session a call names, if the calling agent may still make calls in it; else SessionRefused saying why, with
    the session's id (``sessionId``) when the session is the agent's own. A malformed id is InvalidInput."""
    session = own_session(ctx, agent, session_id)
    if session is None:
        raise SessionRefused(f"session {session_id} is not a session of this agent")
    session_id = session.id
    now = datetime.now(UTC)
    status = session.status(now)
    if status is SessionStatus.EXPIRED:
        hours = (session.expires_at - session.created_at).total_seconds() / 3600
        raise SessionRefused(f"session {session_id} passed its {hours:g} h limit at {session.expires_at.isoformat()}",
                             sessionId=session_id)
    if status is not SessionStatus.ACTIVE:
        why = f": {session.end_reason}" if session.end_reason else ""
        raise SessionRefused(f"session {session_id} is {status.value}{why}", sessionId=session_id)
    return session


async def _end(ctx: ServiceContext, actor: Principal, session: Session, status: SessionStatus,
               reason: str | None) -> Session:
    now = datetime.now(UTC)

    def end() -> Session:
        if not ctx.store.end_session(session.id, status, at=now, by=actor.subject, reason=reason):
            ended = _session(ctx, session.id)
            raise Conflict(f"session {session.id} is already {ended.status(now).value}")
        return _session(ctx, session.id)

    return await audit.record_change(ctx, actor, f"session.{status.value}", end, agent_id=session.agent_id,
                                     details={"sessionId": session.id, "reason": reason})


def _session(ctx: ServiceContext, session_id: str) -> Session:
    session_id = parse_session_id(session_id)
    session = ctx.store.get_session(session_id)
    if session is None:
        raise NotFound(f"session {session_id} not found")
    return session


def _agent_acting_on(ctx: ServiceContext, actor: Principal, agent_id: str, role: Role, what: str,
                     session_id: str | None = None) -> Agent:
    """The agent ``actor`` acts on: itself, or, with ``role``, one it oversees (another's session is not found)."""
    if actor.agent is not None and actor.subject == agent_id:
        return actor.agent
    if not actor.has(role):
        if session_id is not None:
            raise NotFound(f"session {session_id} not found")
        raise Forbidden(f"an agent may not {what}", cause="not_own", subject=actor.subject)
    try:
        return visible_agent(ctx, actor, agent_id)
    except NotFound:
        if session_id is not None:
            raise NotFound(f"session {session_id} not found") from None
        raise
