"""What every use case needs: settings, the store, the keyring, the agent cache and the compiled policies, the
proxy's upstream side (forwarder, rate limiter, agent histories) and HITL's wake-ups and webhook, built once per
daemon."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

from vectra.config import Settings
from vectra.domain.models import Agent
from vectra.forward import Forwarder, LocalRateLimiter, RateLimiter
from vectra.services.audit_log import AuditLog
from vectra.services.history import AgentHistories
from vectra.services.keyring import Keyring
from vectra.services.pending_watch import PendingWatch
from vectra.services.policy_cache import CompiledPolicies
from vectra.services.refusals import Refusals
from vectra.services.token_cache import VerifiedTokens
from vectra.services.webhooks import Webhooks
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

    def remember(self, agent: Agent) -> None:
        """Keep ``agent`` as just read from the store (after a change this process made)."""
        self._entries[agent.id] = (time.monotonic() + self._lifetime, agent)

    def invalidate(self, agent_id: str) -> None:
        self._entries.pop(agent_id, None)

    def clear(self) -> None:
        """Forget every agent (a realm they may belong to changed)."""
        self._entries.clear()


@dataclass
class ServiceContext:
    settings: Settings
    store: Store
    keyring: Keyring
    admin_token: str
    #: keys the digests that bind HITL approvals (derived from the key that seals their secret headers)
    digest_key: bytes = field(repr=False)
    agents: AgentCache = field(init=False)
    policies: CompiledPolicies = field(init=False)
    audit: AuditLog = field(init=False)
    refusals: Refusals = field(init=False)
    tokens: VerifiedTokens = field(init=False)
    limiter: RateLimiter = field(init=False)
    histories: AgentHistories = field(init=False)
    pending_watch: PendingWatch = field(init=False)
    webhooks: Webhooks = field(init=False)

    def __post_init__(self) -> None:
        self.agents = AgentCache(self.settings.agent_cache_seconds)
        self.policies = CompiledPolicies()
        self.audit = AuditLog(self.store)
        self.refusals = Refusals(self.audit, self.settings.audit_refusal_window_seconds)
        self.tokens = VerifiedTokens()
        self.limiter = LocalRateLimiter()
        self.histories = AgentHistories()
        self.pending_watch = PendingWatch()
        self.webhooks = Webhooks.from_settings(self.settings)

    @functools.cached_property
    def forwarder(self) -> Forwarder:
        """Built on first use, inside the event loop (aiohttp's resolver wants one); one per daemon."""
        return Forwarder.from_settings(self.settings)

    async def close_forwarder(self) -> None:
        """Close the upstream connection pool, if one was opened (at shutdown, once no call uses it)."""
        forwarder = self.__dict__.pop("forwarder", None)
        if forwarder is not None:
            await forwarder.close()
