"""Who is calling: the bootstrap operator or an agent, re-checked on every request."""

from __future__ import annotations

import dataclasses
import hmac
import logging
from datetime import UTC, datetime, timedelta

from vectra.domain.errors import Forbidden, Unauthenticated, Unavailable
from vectra.domain.models import Agent, AgentStatus, Principal, Role
from vectra.services.context import ServiceContext
from vectra.services.credentials import bearer_token
from vectra.services.lineage import refuse_if_parent_inactive
from vectra.services.tokens import verify_token

__all__ = ["OPERATOR", "authenticate", "require", "require_global_admin", "require_reader"]

OPERATOR = Principal(subject="operator", roles=frozenset({Role.ADMIN}))
log = logging.getLogger("vectra.auth")
#: ``lastSeen`` is written at most this often per agent, at most a fifth of the online window
_MAX_SEEN_INTERVAL = timedelta(seconds=60)


def authenticate(ctx: ServiceContext, credentials: str | None) -> Principal:
    """Turn an ``Authorization`` value (``Bearer <token>``) into a principal.

    A deleted agent's token is 401; a revoked or quarantined agent is 403 at once, whatever the
    token's lifetime.
    """
    token = bearer_token(credentials)
    if hmac.compare_digest(token.encode(), ctx.admin_token.encode()):
        return OPERATOR
    claims = verify_token(ctx, token)
    agent = ctx.agents.get(ctx.store, str(claims["sub"]))
    if agent is None:
        raise Unauthenticated("the token's agent no longer exists", cause="agent_deleted", subject=str(claims["sub"]))
    if agent.status is not AgentStatus.ACTIVE:
        status = agent.status.value.lower()
        raise Forbidden(f"agent is {status}", reason=status, cause=status, subject=agent.id)
    refuse_if_parent_inactive(ctx, agent)
    return Principal(subject=agent.id, roles=frozenset(agent.roles), agent=_seen(ctx, agent))


def _seen(ctx: ServiceContext, agent: Agent) -> Agent:
    """Note that the agent was seen now (``lastSeen``, which ``online`` is read from), unless that was noted
    recently. Best effort: a database that refuses the write fails the call elsewhere, not here."""
    now = datetime.now(UTC)
    interval = min(_MAX_SEEN_INTERVAL, timedelta(seconds=ctx.settings.online_window_seconds / 5))
    if agent.last_seen_at is not None and now - agent.last_seen_at < interval:
        return agent
    seen = dataclasses.replace(agent, last_seen_at=now)
    try:
        ctx.store.touch_agent(agent.id, now)
    except Unavailable as exc:
        log.debug("lastSeen not written", extra={"agentId": agent.id, "reason": str(exc)})
        return agent
    ctx.agents.remember(seen)
    return seen


def require(actor: Principal, role: Role) -> None:
    if not actor.has(role):
        raise Forbidden(f"this operation needs the {role.value} role", cause="role", subject=actor.subject)


def require_reader(actor: Principal, what: str) -> None:
    """Reading what only people oversee (agents, policies, the audit log): reviewers, and admins, who hold every
    role. ``what`` names the reading in the refusal: ``"listing agents"``."""
    if not actor.has(Role.REVIEWER):
        raise Forbidden(f"{what} needs the admin or reviewer role", cause="role", subject=actor.subject)


def require_global_admin(actor: Principal, what: str) -> None:
    """What changes every realm (realms themselves, policy documents, registrations): an admin of all realms."""
    require(actor, Role.ADMIN)
    if actor.scope is not None:
        raise Forbidden(f"{what} needs an admin of every realm", cause="realm_scope", subject=actor.subject)
