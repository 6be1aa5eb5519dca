"""Governed sessions: one run of an agent, which its calls name and an operator can stop (docs/sessions.md)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["DENIED_DECISIONS", "GOVERNED_ACTIONS", "LimitReached", "Session", "SessionCounts", "SessionFilter",
           "SessionStatus"]

#: the audit actions of a governed call (a proxied call, or a check), whatever became of it
GOVERNED_ACTIONS = ("proxy.request", "proxy.check")
#: the outcomes of a governed call counted as denied: by the policy, by the SSRF guard, or by its session
DENIED_DECISIONS = ("Deny", "NotAllowed", "SessionRefused")


class SessionStatus(enum.StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    #: an active session past its duration; stored as active, read as expired
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class SessionCounts:
    """A session's calls, counted from the audit log when asked (never cached)."""

    governed: int = 0
    allowed: int = 0
    denied: int = 0
    pending: int = 0
    approved: int = 0


@dataclass(frozen=True, slots=True)
class Session:
    """``stored_status`` is what the store holds; :meth:`status` reads an active one past ``expires_at`` as
    expired. ``policy_name``/``policy_version`` are the agent's live policy when the session began."""

    id: str
    agent_id: str
    stored_status: SessionStatus
    metadata: Mapping[str, str]
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None
    end_reason: str | None = None
    ended_by: str | None = None
    policy_name: str | None = None
    policy_version: int | None = None
    counts: SessionCounts = field(default_factory=SessionCounts)

    def status(self, now: datetime) -> SessionStatus:
        if self.stored_status is SessionStatus.ACTIVE and now >= self.expires_at:
            return SessionStatus.EXPIRED
        return self.stored_status


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """Which sessions to list; ``scope`` the realms (ids) the caller oversees (``None``: every realm)."""

    now: datetime
    agent_id: str | None = None
    status: SessionStatus | None = None
    scope: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class LimitReached:
    """Why a session could not begin: the limit (``maxConcurrentSessions``, ``maxDailySessions``), its value, and
    how many sessions count against it."""

    name: str
    limit: int
    count: int
