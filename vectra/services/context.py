"""What every use case needs: settings, the store, the keyring, the agent cache and the compiled policies."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from vectra.config import Settings
from vectra.domain.models import Agent
from vectra.services.audit_log import AuditLog
from vectra.services.keyring import Keyring
from vectra.services.policy_cache import CompiledPolicies
from vectra.store.base import Store

__all__ = ["AgentCache", "ServiceContext"]


class AgentCache:
    """Agents by id, so that re-checking the agent on every request costs no query.

    Every change made through the services invalidates its entry at once; the short lifetime
    bounds staleness for changes made by another process sharing the database.
    """

    def __init__(self, lifetime_seconds: float) -> None:
        self._lifetime = lifetime_seconds
        self._entries: dict[str, tuple[float, Agent | None]] = {}

    def get(self, store: Store, agent_id: str) -> Agent | None:
        now = time.monotonic()
        entry = self._entries.get(agent_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        agent = store.get_agent(agent_id)
        if len(self._entries) > 100_000:
            self._entries.clear()
        self._entries[agent_id] = (now + self._lifetime, agent)
        return agent

    def invalidate(self, agent_id: str) -> None:
        self._entries.pop(agent_id, None)


@dataclass
class ServiceContext:
    settings: Settings
    store: Store
    keyring: Keyring
    admin_token: str
    agents: AgentCache = field(init=False)
    policies: CompiledPolicies = field(init=False)
    audit: AuditLog = field(init=False)

    def __post_init__(self) -> None:
        self.agents = AgentCache(self.settings.agent_cache_seconds)
        self.policies = CompiledPolicies()
        self.audit = AuditLog(self.store)
