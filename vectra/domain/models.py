"""The records Vectra keeps and the identity of whoever calls it."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

__all__ = [
    "Agent",
    "AgentFilter",
    "AgentPage",
    "AgentSort",
    "AgentStatus",
    "Governance",
    "IssuedToken",
    "NewAgent",
    "Page",
    "Principal",
    "Realm",
    "Role",
    "ShadowPolicy",
    "is_overseer",
]

T = TypeVar("T")


class AgentStatus(enum.StrEnum):
    ACTIVE = "Active"
    QUARANTINED = "Quarantined"
    REVOKED = "Revoked"


class Role(enum.StrEnum):
    AGENT = "agent"
    REVIEWER = "reviewer"
    ADMIN = "admin"


def is_overseer(roles: tuple[Role, ...]) -> bool:
    """Whether these roles oversee other agents (admin or reviewer)."""
    return Role.ADMIN in roles or Role.REVIEWER in roles


@dataclass(frozen=True, slots=True)
class Realm:
    """A group of agents with its own admins and reviewers (docs/registry.md)."""

    id: str
    name: str
    slug: str
    color: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Governance:
    """An agent's own limits; a ``None`` field means the daemon's default (:meth:`resolved`)."""

    max_session_hours: float | None = None
    max_daily_sessions: int | None = None
    max_concurrent_sessions: int | None = None
    max_delegation_depth: int | None = None

    def resolved(self, defaults: Governance) -> Governance:
        """Every field set: this agent's value, else the default's."""
        return Governance(*(mine if mine is not None else theirs
                            for mine, theirs in zip(self.as_tuple(), defaults.as_tuple(), strict=True)))

    def as_tuple(self) -> tuple[float | int | None, ...]:
        return (self.max_session_hours, self.max_daily_sessions, self.max_concurrent_sessions,
                self.max_delegation_depth)


@dataclass(frozen=True, slots=True)
class ShadowPolicy:
    """A policy version attached to an agent in shadow since ``since``."""

    policy_name: str
    policy_version: int
    since: datetime


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    name: str
    owner_id: str | None
    status: AgentStatus
    policy_name: str | None
    trust_score: float
    roles: tuple[Role, ...]
    created_at: datetime
    last_seen_at: datetime | None
    #: bcrypt hash of the client secret; empty for an agent that authenticates with its key only
    secret_hash: bytes = field(repr=False, compare=False)
    capabilities: tuple[str, ...] = ()
    realm: Realm | None = None
    version: str | None = None
    description: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: the Ed25519 public key, multibase (``z6Mk...``), and the ``did:key`` it makes
    public_key: str | None = None
    did: str | None = None
    #: the realms (ids) an admin or reviewer is limited to; empty for one who oversees every realm
    scope_realms: tuple[str, ...] = ()
    #: the limits of its governed sessions and sub-agents (docs/sessions.md); ``None`` fields take the defaults
    governance: Governance = field(default_factory=lambda: Governance())
    #: the agent that registered it (a sub-agent), or None
    parent_agent_id: str | None = None
    #: a policy version judging every call beside the live policy, deciding nothing (docs/sessions.md, "Shadow mode")
    shadow: ShadowPolicy | None = None

    def is_online(self, since: datetime) -> bool:
        return self.last_seen_at is not None and self.last_seen_at >= since

    @property
    def is_overseer(self) -> bool:
        """An admin or reviewer: one whose oversight ``scope_realms`` limits."""
        return is_overseer(self.roles)


class AgentSort(enum.StrEnum):
    NAME = "name"
    REGISTERED_AT = "registeredAt"
    LAST_SEEN = "lastSeen"
    TRUST_SCORE = "trustScore"


@dataclass(frozen=True, slots=True)
class AgentFilter:
    """Which agents to list, and in what order. ``realm_ids`` and ``scope`` are realm ids: the realm asked for,
    and the realms the caller may see (``None``: every realm)."""

    online_since: datetime
    q: str | None = None
    status: AgentStatus | None = None
    online: bool | None = None
    realm_ids: frozenset[str] | None = None
    capabilities: tuple[str, ...] = ()
    owner_id: str | None = None
    sort_by: AgentSort = AgentSort.REGISTERED_AT
    descending: bool = False
    scope: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class NewAgent:
    """The answer to a registration: the only time the client secret is shown."""

    agent: Agent
    client_secret: str


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Principal:
    """Whoever a request was authenticated as: an agent, or the bootstrap operator."""

    subject: str
    roles: frozenset[Role]
    agent: Agent | None = None

    @property
    def is_operator(self) -> bool:
        return self.agent is None

    @property
    def scope(self) -> frozenset[str] | None:
        """The realms (ids) this caller oversees; ``None`` for one who oversees every realm."""
        if self.agent is None or not self.agent.scope_realms:
            return None
        return frozenset(self.agent.scope_realms)

    def sees(self, realm: Realm | None) -> bool:
        """Whether a resource in ``realm`` (``None``: in none) exists for this caller."""
        scope = self.scope
        return scope is None or (realm is not None and realm.id in scope)

    def oversees(self, agent: Agent) -> bool:
        """Whether ``agent`` (and what is its: parked requests, records) exists for this caller: in a realm it
        oversees and, for an admin or reviewer, limited to some of those realms too, so that a realm's admin can't
        reach an overseer of more (one of every realm, or of another realm) who lives in its realm."""
        scope = self.scope
        if scope is None:
            return True
        if not self.sees(agent.realm):
            return False
        return not agent.is_overseer or (bool(agent.scope_realms) and set(agent.scope_realms) <= scope)

    def has(self, role: Role) -> bool:
        return Role.ADMIN in self.roles or role in self.roles


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    page_size: int
    total_count: int

    @property
    def total_pages(self) -> int:
        return -(-self.total_count // self.page_size)


@dataclass(frozen=True, slots=True)
class AgentPage(Page[Agent]):
    """A page of agents, and how many of all the matches are online."""

    online_count: int = 0
