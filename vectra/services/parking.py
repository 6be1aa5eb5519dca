"""Parking a call for a human (the first half of HITL): the exact request, stored durably, with its expiry.

What is stored is what an approval will replay: the method, the upstream URL, the headers the upstream would get
(hop-by-hop headers and the gateway's own credentials already removed, so the gateway token is never stored) and
the body's exact bytes, bounded like any proxied body. The request expires after the policy's ``hitlExpiry``, or
an hour.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from vectra.domain.pending import PendingRequest
from vectra.domain.policies import GatewayDecision
from vectra.forward import Target
from vectra.services.context import ServiceContext

__all__ = ["DEFAULT_EXPIRY_SECONDS", "park"]

DEFAULT_EXPIRY_SECONDS = 3600


def park(
    ctx: ServiceContext,
    agent_id: str,
    method: str,
    target: Target,
    upstream_headers: Sequence[tuple[str, str]],
    body: bytes,
    decision: GatewayDecision,
    expiry_seconds: int | None,
) -> PendingRequest:
    """Store the call as ``Pending``; ``upstream_headers`` as the forwarder would send them (Host is dropped:
    the replay sets it from the URL)."""
    now = datetime.now(UTC)
    pending = PendingRequest(
        id=str(uuid.uuid4()),
        agent_id=agent_id,
        method=method,
        url=target.url,
        headers=tuple((name, value) for name, value in upstream_headers if name.lower() != "host"),
        body=body,
        rule=decision.rule,
        reason=decision.reason,
        risk=decision.risk_score,
        policy_name=decision.policy_name,
        policy_version=decision.policy_version,
        created_at=now,
        expires_at=now + timedelta(seconds=expiry_seconds or DEFAULT_EXPIRY_SECONDS),
    )
    ctx.store.insert_pending(pending)
    return pending
