"""Who is calling: the bootstrap operator or an agent, re-checked on every request."""

from __future__ import annotations

import hmac

from vectra.domain.errors import Forbidden, Unauthenticated
from vectra.domain.models import AgentStatus, Principal, Role
from vectra.services.context import ServiceContext
from vectra.services.credentials import bearer_token
from vectra.services.tokens import verify_token

__all__ = ["OPERATOR", "authenticate", "require", "require_reader"]

OPERATOR = Principal(subject="operator", roles=frozenset({Role.ADMIN}))


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
    return Principal(subject=agent.id, roles=frozenset(agent.roles), agent=agent)


def require(actor: Principal, role: Role) -> None:
    if not actor.has(role):
        raise Forbidden(f"this operation needs the {role.value} role", cause="role", subject=actor.subject)


def require_reader(actor: Principal, what: str) -> None:
    """Reading what only people oversee (agents, policies, the audit log): reviewers, and admins, who hold every
    role. ``what`` names the reading in the refusal: ``"listing agents"``."""
    if not actor.has(Role.REVIEWER):
        raise Forbidden(f"{what} needs the admin or reviewer role", cause="role", subject=actor.subject)
