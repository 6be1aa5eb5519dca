"""The store interface the services depend on. A PostgreSQL store will implement the same."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from vectra.domain.audit import AuditFilter, AuditRecord, SealedRecord, StoredAudit
from vectra.domain.models import Agent, AgentFilter, AgentPage, AgentStatus, Page, Realm, ShadowPolicy
from vectra.domain.pending import PendingFilter, PendingRequest, PendingStatus, ReplayOutcome
from vectra.domain.policies import PolicyHead, PolicyRecord, PolicyVersion, PutOutcome
from vectra.domain.registrations import Registration, RegistrationStatus
from vectra.domain.sessions import LimitReached, Session, SessionFilter, SessionStatus

__all__ = ["Store"]

R = TypeVar("R")


class Store(Protocol):
    def ping(self) -> None:
        """Raise if the database can't be reached."""

    def probe_write(self, at: datetime) -> None:
        """Commit one small write outside the audit chain; raise Unavailable if the database won't take it. Called
        every few seconds, it is also when the store may do its upkeep (SQLite: refresh the query planner's
        statistics of the agents once their number has changed severalfold)."""

    def close(self) -> None: ...

    def atomically(self, work: Callable[[], R]) -> R:
        """Run ``work`` (which calls this store's write methods) as one transaction: all of its changes or none.
        Called inside :meth:`append_audit`'s ``chain``, it is a savepoint of the audit transaction, so that a
        change and its audit record commit together."""

    # agents
    def insert_agent(self, agent: Agent) -> None:
        """Unavailable when a capability of the agent can't be stored (SQLite: a 64th distinct name ever used)."""
    def get_agent(self, agent_id: str) -> Agent | None: ...
    def get_agent_by_did(self, did: str) -> Agent | None: ...
    def list_agents(self, filters: AgentFilter, page: int, page_size: int) -> AgentPage:
        """The matching agents in the filter's order (ties by id), and how many of all the matches are online.
        ``q``: a substring of the name, whatever its case (Unicode case folding), of the id, or of the did (ASCII
        case); ``capabilities``: agents having all of them (a name no agent ever had matches none)."""
    def delete_agent(self, agent_id: str) -> bool: ...
    def set_agent_policy(self, agent_id: str, policy_name: str | None) -> Agent | None: ...
    def set_agent_shadow(self, agent_id: str, shadow: ShadowPolicy | None) -> Agent | None:
        """Attach a shadow policy to the agent, or (None) detach it; None when there is no such agent."""

    def set_agent_profile(self, agent: Agent) -> Agent | None:
        """Write the agent's name, capabilities, realm, version, description, metadata, key and scope (Unavailable
        as :meth:`insert_agent` for a capability that can't be stored)."""
    def set_agent_status(
        self, agent_id: str, status: AgentStatus, *, trust_score: float | None = None,
        only_if: AgentStatus | None = None,
    ) -> Agent | None:
        """Set the status (and trust); with ``only_if``, only an agent in that status changes (else None)."""
    def touch_agent(self, agent_id: str, seen_at: datetime) -> None: ...
    def count_sub_agents(self, agent_id: str) -> int:
        """How many agents ``agent_id`` is the parent of."""

    def count_agents_using_policy(self, policy_name: str) -> int: ...

    def update_trust(
        self, agent_id: str, change: Callable[[float], float], quarantine_below: float
    ) -> tuple[Agent, bool] | None:
        """Atomically set the agent's trust to ``change(current trust)``; an active agent whose new trust is
        below ``quarantine_below`` becomes quarantined in the same transaction. Returns the agent as it now is
        and whether this call quarantined it; ``None`` when the agent does not exist."""

    # realms
    def insert_realm(self, realm: Realm) -> None:
        """Conflict when its slug is taken."""
    def find_realm(self, id_or_slug: str) -> Realm | None:
        """The realm with this id or, failing that, this slug."""
    def list_realms(self, scope: frozenset[str] | None, page: int, page_size: int) -> Page[Realm]:
        """By slug; only those in ``scope`` (realm ids) unless it is None."""
    def update_realm(self, realm: Realm) -> bool:
        """False when there is no such realm; Conflict when the new slug is taken."""
    def delete_realm(self, realm_id: str) -> bool: ...
    def count_realm_members(self, realm_id: str) -> int:
        """Agents in the realm, and admins or reviewers limited to it."""

    # self-registrations
    def insert_registration(self, registration: Registration) -> None: ...
    def get_registration(self, registration_id: str) -> Registration | None: ...
    def pending_registration_for(self, did: str) -> Registration | None: ...
    def list_registrations(self, status: RegistrationStatus | None, page: int,
                           page_size: int) -> Page[Registration]:
        """Newest first."""
    def count_pending_registrations(self) -> int: ...
    def settle_registration(self, settled: Registration) -> bool:
        """Pending → ``settled.status`` with its decision (compare and set): false when no longer Pending."""

    # key assertions
    def use_assertion(self, agent_id: str, jti: str, expires_at: datetime, now: datetime) -> bool:
        """Remember the assertion's ``jti`` until ``expires_at``; false when the agent used it before."""

    # calls parked for a human
    def insert_pending(self, pending: PendingRequest) -> None: ...
    def get_pending(self, pending_id: str) -> PendingRequest | None: ...
    def list_pending(self, filters: PendingFilter, page: int, page_size: int) -> Page[PendingRequest]:
        """Newest first, without their bodies."""
    def count_pending(self, agent_id: str) -> int:
        """The agent's requests still Pending (the expired among them too, until they are marked)."""
    def first_pending_expiry(self, agent_id: str) -> datetime | None:
        """When the agent's Pending request that expires first does (None when it has none)."""
    def due_pending(self, now: datetime, limit: int) -> list[str]:
        """Ids of Pending requests whose expiry has come, oldest first."""
    def settle_pending(self, pending_id: str, status: PendingStatus, *, by: str | None, at: datetime,
                       comment: str | None) -> PendingRequest | None:
        """Pending → ``status`` (compare and set); None when the request is no longer Pending, or for Approved and
        Denied already due, for Expired not yet due."""
    def record_replay(self, pending_id: str, outcome: ReplayOutcome) -> None: ...
    def pending_state(self, pending_id: str) -> tuple[PendingStatus, bool, datetime] | None:
        """(status, whether the replay's outcome is recorded, expiry): what a waiter looks at, without the body."""

    # policies
    def changes_seen(self) -> Hashable:
        """A value that changes whenever a committed change to the policies may have reached the database (through
        this store or any other sharing it). Cheap: asked on every decision, so that the current policy versions
        are looked up again only when one changed."""

    def policy_head(self, name: str) -> PolicyHead | None:
        """The current version of a policy: one primary-key lookup."""

    def get_policy(self, name: str, version: int | None = None) -> PolicyRecord | None:
        """The current version, or the given one; ``None`` when either does not exist."""

    def list_policies(self, page: int, page_size: int) -> Page[PolicyRecord]: ...

    def save_policy(self, name: str, document: str, author: str, at: datetime) -> PutOutcome:
        """Atomically store ``document`` (canonical JSON text) as the policy's next version, unless it equals
        the current one; then nothing changes and ``PutOutcome.changed`` is false."""

    def list_policy_versions(self, name: str, page: int, page_size: int) -> Page[PolicyVersion] | None:
        """A policy's versions, newest first; ``None`` when the policy does not exist."""

    def delete_policy(self, name: str) -> bool:
        """Delete a policy with all its versions; false when there was none."""

    # audit log
    def append_audit(self, chain: Callable[[tuple[int, str] | None], Sequence[SealedRecord]]) -> None:
        """In one write transaction: read the head (id and hash of the last record, None for an empty log), let
        ``chain`` seal the records that follow it, insert them. All of them, or none and an exception."""

    def audit_head(self) -> tuple[int, str] | None:
        """The id and hash of the last record, or None while the log is empty."""

    def list_audit(self, filters: AuditFilter, page: int, page_size: int) -> Page[AuditRecord]:
        """Records matching ``filters``, newest first."""

    def iter_audit(self) -> Iterator[StoredAudit]:
        """Every stored record in id order, read a bounded chunk at a time."""

    def iter_audit_range(self, first_id: int, last_id: int) -> Iterator[StoredAudit]:
        """The stored records with ids from ``first_id`` to ``last_id`` (inclusive) in id order, as
        :meth:`iter_audit` reads them."""

    def session_audit_head(self, session_id: str) -> str | None:
        """The hash of the session's last record (the last one whose ``details.sessionId`` is ``session_id``), or
        None while it has none. Inside :meth:`append_audit`'s ``chain`` it reads the transaction's own state."""

    def iter_audit_matching(self, filters: AuditFilter, limit: int) -> Iterator[AuditRecord]:
        """The first ``limit`` records matching ``filters``, oldest first, read a bounded chunk at a time."""

    def shadow_counts(self, agent_id: str, since: datetime) -> tuple[int, int]:
        """How many of the agent's records since ``since`` its shadow policy judged, and how many agreed."""

    # sessions
    def open_session(self, session: Session, max_concurrent: int, max_daily: int) -> LimitReached | None:
        """Store ``session`` unless its agent has ``max_concurrent`` open sessions or began ``max_daily`` in the
        last 24 hours: then nothing is stored and the limit reached is returned. One transaction."""

    def get_session(self, session_id: str, *, with_counts: bool = True) -> Session | None:
        """The session with its counts from the audit log and parked requests (empty ones without
        ``with_counts``: the proxy's check of a call's session doesn't count)."""

    def list_sessions(self, filters: SessionFilter, page: int, page_size: int) -> Page[Session]:
        """Sessions matching ``filters``, newest first, each with its counts."""

    def end_session(self, session_id: str, status: SessionStatus, *, at: datetime, by: str,
                    reason: str | None) -> bool:
        """End an open session (active, within its duration) as ``status``; False when it was not open."""
