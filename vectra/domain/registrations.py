"""Self-registrations: an agent's request to join, which an admin approves (creating the agent) or rejects."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["Registration", "RegistrationStatus"]


class RegistrationStatus(enum.StrEnum):
    PENDING = "Pending"
    APPROVED = "Approved"
    REJECTED = "Rejected"


@dataclass(frozen=True, slots=True)
class Registration:
    id: str
    name: str
    version: str | None
    description: str | None
    metadata: Mapping[str, str]
    requested_capabilities: tuple[str, ...]
    #: the Ed25519 public key, multibase (``z6Mk...``), and its ``did:key``
    public_key: str
    did: str
    #: the address it came from
    source: str | None
    status: RegistrationStatus
    requested_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    reason: str | None = None
    #: set on approval: the agent made, and what it was granted
    agent_id: str | None = None
    granted_capabilities: tuple[str, ...] = field(default=())
