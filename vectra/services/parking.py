"""Parking a call for a human (the first half of HITL): the exact request, stored durably, with its expiry.

What is stored is what an approval will replay: the method, the upstream URL, the headers the upstream would get
(hop-by-hop headers and the gateway's own credentials already removed, so the gateway token is never stored) and
the body's exact bytes, bounded like any proxied body, with the digest an approval is bound to. The request expires
after the policy's ``hitlExpirySeconds``, or ``VECTRA_HITL_EXPIRY_SECONDS`` (an hour).

The request, the call's audit record and the agent's trust move are one transaction, in which the agent's
requests still waiting are counted: past ``VECTRA_HITL_MAX_PENDING_PER_AGENT`` the call is not parked but refused
(429, recorded as ``HitlQueueFull``, counted against trust like a rate-limit hit).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from vectra.domain.audit import AuditEntry
from vectra.domain.models import Agent
from vectra.domain.pending import PendingRequest, request_digest
from vectra.domain.policies import GatewayDecision
from vectra.forward import Target
from vectra.services.audit_log import Applied
from vectra.services.context import ServiceContext
from vectra.services.hitl_json import pending_summary
from vectra.services.trust import show_agent, trust_moved

__all__ = ["new_pending", "park"]


def new_pending(
    ctx: ServiceContext,
    agent_id: str,
    method: str,
    target: Target,
    upstream_headers: Sequence[tuple[str, str]],
    body: bytes,
    decision: GatewayDecision,
    expiry_seconds: int | None,
    session_id: str | None = None,
) -> PendingRequest:
    """The call as it will be stored; ``upstream_headers`` as the forwarder would send them (Host is dropped: the
    replay sets it from the URL)."""
    now = datetime.now(UTC)
    headers = tuple((name, value) for name, value in upstream_headers if name.lower() != "host")
    return PendingRequest(
        id=str(uuid.uuid4()),
        agent_id=agent_id,
        method=method,
        url=target.url,
        headers=headers,
        body=body,
        body_size=len(body),
        rule=decision.rule,
        reason=decision.reason,
        risk=decision.risk_score,
        risk_factors=dict(decision.risk_factors),
        policy_name=decision.policy_name,
        policy_version=decision.policy_version,
        digest=request_digest(ctx.digest_key, agent_id, method, target.url, headers, body, decision.policy_name,
                              decision.policy_version),
        created_at=now,
        expires_at=now + timedelta(seconds=expiry_seconds or ctx.settings.hitl_expiry_seconds),
        session_id=session_id,
    )


async def park(ctx: ServiceContext, pending: PendingRequest, parked: AuditEntry, refused: AuditEntry) -> bool:
    """Store ``pending`` and record it with ``parked`` (True), or, when the agent's queue is full, record ``refused``
    (False). Unavailable (from the audit log) when nothing could be committed."""
    cap = ctx.settings.hitl_max_pending_per_agent
    risk = pending.risk or 0.0

    def change(_: AuditEntry) -> Applied[tuple[bool, Agent | None]]:
        if ctx.store.count_pending(pending.agent_id) >= cap:
            moved = trust_moved(ctx, refused, pending.agent_id, "rate_limited", risk)
            return Applied((False, moved.result), moved.entries)
        ctx.store.insert_pending(pending)
        moved = trust_moved(ctx, parked, pending.agent_id, "hitl", risk)
        return Applied((True, moved.result), moved.entries)

    _, (stored, agent) = await ctx.audit.apply(parked, change)
    show_agent(ctx, pending.agent_id, agent)
    if stored:
        ctx.webhooks.publish("hitl.pending", pending_summary(pending))
    return stored
