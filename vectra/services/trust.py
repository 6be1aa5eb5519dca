"""Moving an agent's trust after each decision, atomically, and quarantining it below the floor.

The store applies :func:`policy_core.update_trust` inside one transaction that reads and writes the agent's row,
so concurrent calls of one agent can't lose an update. An agent whose trust falls below
:data:`policy_core.QUARANTINE_FLOOR` is quarantined in that same transaction; the quarantine is audited and the
agent's cache entry replaced, so its next call is refused with 403.
"""

from __future__ import annotations

from policy_core import QUARANTINE_FLOOR, update_trust
from vectra.domain.audit import AuditEntry
from vectra.services.context import ServiceContext

__all__ = ["SYSTEM_ACTOR", "apply_outcome"]

SYSTEM_ACTOR = "vectra"


async def apply_outcome(ctx: ServiceContext, agent_id: str, outcome: str, risk: float, source: str) -> float | None:
    """Apply ``outcome`` (one of ``policy_core.OUTCOMES``) and return the new trust; None if the agent is gone."""
    changed = ctx.store.update_trust(agent_id, lambda trust: update_trust(trust, outcome, risk), QUARANTINE_FLOOR)
    if changed is None:
        ctx.agents.invalidate(agent_id)
        return None
    agent, quarantined = changed
    ctx.agents.remember(agent)
    if quarantined:
        await ctx.audit.append(AuditEntry(
            actor=SYSTEM_ACTOR, source=source, action="agent.quarantined", agent_id=agent_id,
            trust=agent.trust_score,
            reason=f"trust {agent.trust_score:.2f} fell below the quarantine floor {QUARANTINE_FLOOR}",
        ))
    return agent.trust_score
