"""A call parked for a human (HITL): everything needed to replay it exactly, and why it was parked."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["PendingRequest", "PendingStatus"]


class PendingStatus(enum.StrEnum):
    PENDING = "Pending"


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """``headers`` are the agent's, in order, as (name, value) pairs, without the gateway token; ``body`` the
    exact bytes the agent sent."""

    id: str
    agent_id: str
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = field(repr=False)
    rule: str | None
    reason: str | None
    risk: float | None
    policy_name: str | None
    policy_version: int | None
    created_at: datetime
    expires_at: datetime
    status: PendingStatus = PendingStatus.PENDING
