"""Moving an agent's trust after each decision, atomically, and quarantining it below the floor.

The move is a change made with the call's audit record (:meth:`AuditLog.apply`): inside the audit writer's
transaction the store reads and writes the agent's row, so concurrent calls of one agent can't lose an update, and a
proxied call costs no transaction of its own. The record gets the new trust as ``trustAfter``. An agent whose trust
falls below :data:`policy_core.QUARANTINE_FLOOR` is quarantined in that same transaction, with an
``agent.quarantined`` record right after the call's; once committed, the agent's cache entry is replaced, so its
next call is refused with 403.
"""

from __future__ import annotations

import dataclasses

from policy_core import QUARANTINE_FLOOR, update_trust
from vectra.domain.audit import AuditEntry
from vectra.domain.models import Agent
from vectra.services.audit_log import Applied
from vectra.services.context import ServiceContext

__all__ = ["SYSTEM_ACTOR", "move_trust", "show_agent", "trust_moved"]

SYSTEM_ACTOR = "vectra"


def trust_moved(ctx: ServiceContext, entry: AuditEntry, agent_id: str, outcome: str, risk: float
                ) -> Applied[Agent | None]:
    """Apply ``outcome`` (one of ``policy_core.OUTCOMES``) to the agent's trust, inside an audit change (the
    writer's thread): the entries that record it and the agent as it now is, None if the agent is gone."""
    changed = ctx.store.update_trust(agent_id, lambda trust: update_trust(trust, outcome, risk), QUARANTINE_FLOOR)
    if changed is None:
        return Applied(None, (entry,))
    agent, quarantined = changed
    entries = [dataclasses.replace(entry, details={**entry.details, "trustAfter": agent.trust_score})]
    if quarantined:
        entries.append(AuditEntry(
            actor=SYSTEM_ACTOR, source=entry.source, action="agent.quarantined", agent_id=agent_id,
            trust=agent.trust_score,
            reason=f"trust {agent.trust_score:.2f} fell below the quarantine floor {QUARANTINE_FLOOR}",
        ))
    return Applied(agent, entries)


def show_agent(ctx: ServiceContext, agent_id: str, agent: Agent | None) -> None:
    """Once a trust move is committed: show the agent as it now is to this daemon's cache."""
    if agent is None:
        ctx.agents.invalidate(agent_id)
    else:
        ctx.agents.remember(agent)


async def move_trust(ctx: ServiceContext, entry: AuditEntry, agent_id: str, outcome: str, risk: float) -> None:
    """Record ``entry`` with the trust move it causes."""
    _, agent = await ctx.audit.apply(entry, lambda recorded: trust_moved(ctx, recorded, agent_id, outcome, risk))
    show_agent(ctx, agent_id, agent)
