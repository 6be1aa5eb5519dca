"""A sub-agent's line of parents: it acts only while every agent above it may (docs/sessions.md, "Sub-agents")."""

from __future__ import annotations

from vectra.config import MAX_DELEGATION_DEPTH
from vectra.domain.errors import Forbidden
from vectra.domain.models import Agent, AgentStatus
from vectra.services.context import ServiceContext

__all__ = ["inactive_parent", "refuse_if_parent_inactive"]


def inactive_parent(ctx: ServiceContext, agent: Agent) -> str | None:
    """``parent <id> is revoked`` (quarantined, deleted) for the first agent above ``agent`` that may not act; None
    when all of them may (or it has no parent)."""
    parent_id, above = agent.parent_agent_id, 0
    while parent_id is not None and above <= MAX_DELEGATION_DEPTH:
        parent = ctx.agents.get(ctx.store, parent_id)
        if parent is None or parent.status is not AgentStatus.ACTIVE:
            return f"parent {parent_id} is {'deleted' if parent is None else parent.status.value.lower()}"
        parent_id, above = parent.parent_agent_id, above + 1
    return None


def refuse_if_parent_inactive(ctx: ServiceContext, agent: Agent) -> None:
    """403 for a sub-agent whose parent (or one of its parents) is revoked, quarantined or deleted: it stops at
    once, as its own status would stop it."""
    why = inactive_parent(ctx, agent)
    if why is not None:
        raise Forbidden(f"agent's {why}", reason="parent_inactive", cause="parent_inactive", subject=agent.id)
