"""The records Vectra keeps and the identity of whoever calls it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

__all__ = ["Agent", "AgentStatus", "IssuedToken", "NewAgent", "Page", "Principal", "Role"]

T = TypeVar("T")


class AgentStatus(enum.StrEnum):
    ACTIVE = "Active"
    QUARANTINED = "Quarantined"
    REVOKED = "Revoked"


class Role(enum.StrEnum):
    AGENT = "agent"
    REVIEWER = "reviewer"
    ADMIN = "admin"


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
    secret_hash: bytes = field(repr=False, compare=False)


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

    def has(self, role: Role) -> bool:
        return Role.ADMIN in self.roles or role in self.roles


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    page_size: int
    total_count: int
