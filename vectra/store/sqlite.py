"""SQLite store through sqlite-utils: WAL, one connection, migrations at open."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from vectra.domain.audit import AuditEntry, AuditFilter, AuditRecord, SealedRecord, StoredAudit, record_time
from vectra.domain.errors import Conflict, Unavailable
from vectra.domain.models import Agent, AgentFilter, AgentPage, AgentStatus, Page, Realm, ShadowPolicy
from vectra.domain.pending import PendingFilter, PendingRequest, PendingStatus, ReplayOutcome
from vectra.domain.policies import PolicyHead, PolicyRecord, PolicyVersion, PutOutcome
from vectra.domain.registrations import Registration, RegistrationStatus
from vectra.domain.sessions import LimitReached, Session, SessionCounts, SessionFilter, SessionStatus
from vectra.store.agent_rows import (
    AGENT_SELECT,
    agent_from_row,
    agent_row,
    agents_count_query,
    agents_page_query,
    agents_query,
    capability_mask,
    profile_columns,
    realm_from_row,
    registration_from_row,
    registration_row,
    shadow_json,
    within_scope,
)
from vectra.store.cipher import KEY_BYTES, FieldCipher
from vectra.store.migrations import migrate
from vectra.store.pending_rows import LIST_COLUMNS, outcome_columns, pending_from_row, pending_row, stamp
from vectra.store.session_rows import COUNTS_QUERY, PENDING_COUNTS_QUERY, session_from_row, session_row, sessions_where

__all__ = ["CAPABILITY_BITS", "SqliteStore"]

log = logging.getLogger("vectra.store")
R = TypeVar("R")
T = TypeVar("T")
#: how many capability names a database can ever tell apart: bits 0-62 of a positive 64-bit SQLite integer. A bit
#: is never given back (an agent may still have it), so a renamed capability takes a new one.
CAPABILITY_BITS = 63
#: the planner's statistics of ``agents`` (``ANALYZE``) are gathered once there are this many agents, and again
#: whenever their number has grown or shrunk this many times over since: SQLite keeps what ANALYZE last counted,
#: and statistics of a near-empty table, never refreshed, would make the plans of a big one worse
ANALYSE_FROM = 1_000
ANALYSE_AGAIN_AT = 4
#: how often the write probe looks at the number of agents (one index-only count)
_STATISTICS_EVERY = timedelta(minutes=5)


def _identity(path: Path) -> tuple[int, int]:
    """Which file ``path`` is (device, inode); OSError when there is none, or one we can't use."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode) or not os.access(path, os.R_OK | os.W_OK):
        raise PermissionError(f"{path} is not a readable and writable file")
    return info.st_dev, info.st_ino


#: ``synchronous`` as the settings name it (config.SYNCHRONOUS_MODES), as SQLite's pragma takes it
_SYNCHRONOUS = {"normal": "NORMAL", "full": "FULL"}
_POLICY_COLUMNS = (
    "p.name, v.version, v.document, p.created_at, v.created_at AS updated_at, v.created_by, "
    "v.version = p.version AS current"
)


def _has_statistics(conn: sqlite3.Connection) -> bool:
    """Whether ANALYZE ever ran (it creates ``sqlite_stat1``)."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone() is not None


def _policy_from_row(row: dict[str, Any] | sqlite3.Row) -> PolicyRecord:
    return PolicyRecord(
        name=row["name"],
        version=row["version"],
        document=json.loads(row["document"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
        updated_by=row["created_by"],
        current=bool(row["current"]),
    )


class SqliteStore:
    """One connection shared under a lock; every write is one short transaction.

    WAL with ``synchronous=NORMAL`` (the default) survives a killed process without losing a committed
    transaction; a power loss may lose the last few, which ``synchronous="full"`` closes at the cost of an fsync
    per commit (docs/audit.md, Durability).
    """

    def __init__(self, path: Path, cipher: FieldCipher | None = None, synchronous: str = "normal") -> None:
        """``cipher`` seals parked requests' credentials; without one, a key of this process's own is used (what it
        sealed can't be read after a restart: the daemon always passes the data directory's key)."""
        self._cipher = cipher or FieldCipher(os.urandom(KEY_BYTES))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={_SYNCHRONOUS[synchronous]}")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA busy_timeout=10000")
            migrate(self._conn)
            self._refresh_statistics(self._conn)
            self._file = _identity(path)
            # the question asked on every decision has a connection of its own, so that it never waits for the
            # audit writer's transaction (WAL lets a reader see the last commit while a writer works)
            self._reader = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
            self._reader.execute("PRAGMA query_only=ON")
        except (OSError, sqlite3.Error) as exc:
            raise Unavailable(f"can't open the database {path}: {exc}") from exc
        self._db = sqlite_utils.Database(self._conn)
        self._lock = threading.RLock()
        # agent id -> the agent as the open transaction's trust moves left it, not yet written
        self._trust_moves: dict[str, Agent] = {}
        self._read_lock = threading.Lock()
        self._data_version: int | None = None  # the read connection's, when the policy generation was last read
        self._policy_generation = 0
        self._statistics_checked: datetime | None = None  # when the write probe last looked
        self.path = path

    @contextlib.contextmanager
    def _session(self) -> Iterator[sqlite3.Connection]:
        """The connection under the lock. Any failure of the database becomes ``Unavailable``.

        The open connection would keep working on a file deleted or replaced under it (and lose
        every later write), so the file is checked to still be the one that was opened.
        """
        with self._lock:
            try:
                # inside an open transaction (a nested call) the file was checked when it began
                if not self._conn.in_transaction and _identity(self.path) != self._file:
                    raise Unavailable("the database file was removed or replaced")
                yield self._conn
            except OSError as exc:
                raise Unavailable("the database file can't be reached") from exc
            except sqlite3.Error as exc:
                raise Unavailable(f"the database failed: {exc}") from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``: it serialises writers across processes sharing the file);
        inside one that is already open (the audit writer's, see :meth:`atomically`), a savepoint of it. The trust
        moves it made (:meth:`update_trust`) are written just before it commits; a savepoint rolled back forgets
        its own."""
        with self._session() as conn:
            nested = conn.in_transaction
            moves_before = dict(self._trust_moves) if nested else {}
            conn.execute("SAVEPOINT nested" if nested else "BEGIN IMMEDIATE")
            try:
                yield conn
                if nested:
                    conn.execute("RELEASE nested")
                else:
                    self._write_trust_moves(conn)
                    conn.execute("COMMIT")  # a COMMIT can fail too (deferred checks)
            except BaseException:
                if nested:
                    self._trust_moves = moves_before
                    conn.execute("ROLLBACK TO nested")
                    conn.execute("RELEASE nested")
                else:
                    self._trust_moves.clear()
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                raise

    def _write_trust_moves(self, conn: sqlite3.Connection) -> None:
        """Write the trust moves held back so far, one UPDATE an agent however many calls moved it: before the
        transaction commits, and before any other statement reads or writes an agent in it."""
        if self._trust_moves:
            conn.executemany("UPDATE agents SET trust_score = ?, status = ? WHERE id = ?",
                             [(a.trust_score, a.status.value, a.id) for a in self._trust_moves.values()])
            self._trust_moves.clear()

    def atomically(self, work: Callable[[], R]) -> R:
        with self._transaction():
            return work()

    def ping(self) -> None:
        with self._session() as conn:
            conn.execute("SELECT count(*) FROM agents LIMIT 1").fetchone()

    def probe_write(self, at: datetime) -> None:
        """The probe's write; and, every few minutes, the planner's statistics refreshed if they are due."""
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO write_probe (id, written_at) VALUES (1, ?)", [at.isoformat()])
        if self._statistics_checked is None or abs(at - self._statistics_checked) >= _STATISTICS_EVERY:
            self._statistics_checked = at
            with self._lock:
                self._refresh_statistics(self._conn)

    def _refresh_statistics(self, conn: sqlite3.Connection) -> None:
        """:meth:`_analyse_if_due`, as an optimisation only: a database that can't take it (read-only, full) is
        opened, probed and closed all the same, and its failures are the probe's own to find."""
        try:
            self._analyse_if_due(conn)
        except sqlite3.Error as exc:
            log.warning("planner statistics not refreshed", extra={"reason": str(exc)})

    def _analyse_if_due(self, conn: sqlite3.Connection) -> None:
        """``ANALYZE agents`` when there are enough agents and no statistics of them, or statistics of a number
        ``ANALYSE_AGAIN_AT`` times smaller or bigger. A full one: with ``analysis_limit`` SQLite samples the first
        entries of each index, and of ``agents_status`` those are all one status (the planner would then still
        take it for ``status=Active``, 85 % of the agents, and sort them all rather than walk the sort's index).
        About 0.1-0.35 s at 100,000 agents, once per such change."""
        count = conn.execute("SELECT count(*) FROM agents").fetchone()[0]
        analysed = (conn.execute("SELECT max(CAST(stat AS INTEGER)) FROM sqlite_stat1 WHERE tbl = 'agents'")
                    .fetchone()[0] if _has_statistics(conn) else None)
        if analysed is None:
            due = count >= ANALYSE_FROM
        else:
            due = max(count, 1) >= ANALYSE_AGAIN_AT * max(analysed, 1) or analysed >= ANALYSE_AGAIN_AT * max(count, 1)
        if due:
            conn.execute("ANALYZE agents")

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._refresh_statistics(self._conn)
            self._reader.close()
            self._conn.close()

    # agents ------------------------------------------------------------------------------------
    def insert_agent(self, agent: Agent) -> None:
        with self._transaction() as conn:
            bits = self._capability_bits(conn, agent.capabilities, assign=True)
            seq = conn.execute("SELECT ifnull(max(seq), 0) + 1 FROM agents").fetchone()[0]
            self._db["agents"].insert(agent_row(agent, capability_mask(agent.capabilities, bits), seq))

    def _capability_bits(self, conn: sqlite3.Connection, names: Iterable[str], *,
                         assign: bool = False) -> dict[str, int]:
        """The bits of those of ``names`` that have one; with ``assign`` (in a write transaction), of all of them:
        a name without one gets the next free bit, for good. Unavailable when none is left (see CAPABILITY_BITS)."""
        wanted = sorted(set(names))
        if not wanted:
            return {}
        placeholders = ", ".join("?" * len(wanted))
        bits = dict(conn.execute(f"SELECT name, bit FROM capability_bits WHERE name IN ({placeholders})", wanted))
        for name in wanted:
            if assign and name not in bits:
                bits[name] = conn.execute("SELECT ifnull(max(bit) + 1, 0) FROM capability_bits").fetchone()[0]
                if bits[name] >= CAPABILITY_BITS:
                    raise Unavailable(f"capability {name!r} can't be stored: the database has given all its "
                                      f"{CAPABILITY_BITS} capability bits to other names (docs/registry.md)")
                conn.execute("INSERT INTO capability_bits (name, bit) VALUES (?, ?)", [name, bits[name]])
        return bits

    def _agent_where(self, condition: str, params: Sequence[Any]) -> Agent | None:
        rows = list(self._db.query(f"{AGENT_SELECT} WHERE {condition}", params))
        return agent_from_row(rows[0]) if rows else None

    def get_agent(self, agent_id: str) -> Agent | None:
        with self._session() as conn:
            self._write_trust_moves(conn)
            return self._agent_where("a.id = ?", [agent_id])

    def get_agent_by_did(self, did: str) -> Agent | None:
        with self._session() as conn:
            self._write_trust_moves(conn)
            return self._agent_where("a.did = ?", [did])

    def list_agents(self, filters: AgentFilter, page: int, page_size: int) -> AgentPage:
        with self._session() as conn:
            self._write_trust_moves(conn)
            bits = self._capability_bits(conn, filters.capabilities)
            where, params, order = agents_query(filters, bits)
            total, online = conn.execute(*agents_count_query(filters, bits)).fetchone()
            rows = self._db.query(agents_page_query(where, order, total), [*params, page_size, (page - 1) * page_size])
            items = [agent_from_row(r) for r in rows]
        return AgentPage(items=items, page=page, page_size=page_size, total_count=total, online_count=online)

    def delete_agent(self, agent_id: str) -> bool:
        with self._session() as conn:
            self._write_trust_moves(conn)
            return conn.execute("DELETE FROM agents WHERE id = ?", [agent_id]).rowcount == 1

    def set_agent_policy(self, agent_id: str, policy_name: str | None) -> Agent | None:
        return self._update_agent(agent_id, {"policy_name": policy_name})

    def set_agent_shadow(self, agent_id: str, shadow: ShadowPolicy | None) -> Agent | None:
        return self._update_agent(agent_id, {"shadow_policy": shadow_json(shadow)})

    def set_agent_profile(self, agent: Agent) -> Agent | None:
        """Write ``agent``'s name and profile (capabilities, realm, version, description, metadata, key, scope)."""
        with self._transaction() as conn:
            bits = self._capability_bits(conn, agent.capabilities, assign=True)
            return self._update_agent(agent.id, profile_columns(agent, capability_mask(agent.capabilities, bits)))

    def set_agent_status(
        self, agent_id: str, status: AgentStatus, *, trust_score: float | None = None,
        only_if: AgentStatus | None = None,
    ) -> Agent | None:
        changes: dict[str, Any] = {"status": status.value}
        if trust_score is not None:
            changes["trust_score"] = trust_score
        return self._update_agent(agent_id, changes, only_if)

    def touch_agent(self, agent_id: str, seen_at: datetime) -> None:
        with self._session() as conn:
            conn.execute("UPDATE agents SET last_seen_at = ? WHERE id = ?", [stamp(seen_at), agent_id])

    def count_sub_agents(self, agent_id: str) -> int:
        with self._session() as conn:
            return conn.execute("SELECT count(*) FROM agents WHERE parent_agent_id = ?", [agent_id]).fetchone()[0]

    def count_agents_using_policy(self, policy_name: str) -> int:
        with self._session():
            return self._conn.execute("SELECT count(*) FROM agents WHERE policy_name = ?", [policy_name]).fetchone()[0]

    def update_trust(
        self, agent_id: str, change: Callable[[float], float], quarantine_below: float
    ) -> tuple[Agent, bool] | None:
        """Within the caller's transaction (or one of its own): the agent is read once per transaction, each move
        applied to what the previous one left, and the result written once, when the transaction commits (no lost
        update, even across processes: ``BEGIN IMMEDIATE`` holds the write lock from the read to the write)."""
        with self._session() as conn:
            if conn.in_transaction:  # no savepoint of its own: nothing is written until the end
                return self._move_trust(agent_id, change, quarantine_below)
        with self._transaction():
            return self._move_trust(agent_id, change, quarantine_below)

    def _move_trust(
        self, agent_id: str, change: Callable[[float], float], quarantine_below: float
    ) -> tuple[Agent, bool] | None:
        agent = self._trust_moves.get(agent_id) or self._agent_where("a.id = ?", [agent_id])
        if agent is None:
            return None
        trust = change(agent.trust_score)
        quarantined = agent.status is AgentStatus.ACTIVE and trust < quarantine_below
        moved = dataclasses.replace(agent, trust_score=trust,
                                    status=AgentStatus.QUARANTINED if quarantined else agent.status)
        self._trust_moves[agent_id] = moved
        return moved, quarantined

    # pending requests --------------------------------------------------------------------------
    def insert_pending(self, pending: PendingRequest) -> None:
        with self._session():
            self._db["pending_requests"].insert(pending_row(pending, self._cipher))

    def get_pending(self, pending_id: str) -> PendingRequest | None:
        with self._session():
            rows = list(self._db.query(f"SELECT {LIST_COLUMNS}, body FROM pending_requests WHERE id = ?",
                                       [pending_id]))
        return pending_from_row(rows[0], self._cipher) if rows else None

    def list_pending(self, filters: PendingFilter, page: int, page_size: int) -> Page[PendingRequest]:
        conditions = [f"status IN ({', '.join('?' * len(filters.statuses))})"]
        params: list[Any] = [status.value for status in filters.statuses]
        if filters.agent_id is not None:
            conditions.append("agent_id = ?")
            params.append(filters.agent_id)
        if filters.realm_scope is not None:
            scoped, scope_params = _of_agents_within(filters.realm_scope)
            conditions.append(scoped)
            params += scope_params
        where = " WHERE " + " AND ".join(conditions)
        with self._session() as conn:
            total = conn.execute(f"SELECT count(*) FROM pending_requests{where}", params).fetchone()[0]
            rows = self._db.query(
                f"SELECT {LIST_COLUMNS} FROM pending_requests{where} ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                [*params, page_size, (page - 1) * page_size],
            )
            items = [pending_from_row(row, self._cipher) for row in rows]
        return Page(items=items, page=page, page_size=page_size, total_count=total)

    def count_pending(self, agent_id: str) -> int:
        with self._session() as conn:
            return conn.execute("SELECT count(*) FROM pending_requests WHERE agent_id = ? AND status = ?",
                                [agent_id, PendingStatus.PENDING.value]).fetchone()[0]

    def first_pending_expiry(self, agent_id: str) -> datetime | None:
        with self._session() as conn:
            first = conn.execute("SELECT min(expires_at) FROM pending_requests WHERE agent_id = ? AND status = ?",
                                 [agent_id, PendingStatus.PENDING.value]).fetchone()[0]
        return datetime.fromisoformat(first) if first else None

    def due_pending(self, now: datetime, limit: int) -> list[str]:
        with self._session() as conn:
            rows = conn.execute("SELECT id FROM pending_requests WHERE status = ? AND expires_at <= ? "
                                "ORDER BY expires_at LIMIT ?", [PendingStatus.PENDING.value, stamp(now), limit])
            return [row[0] for row in rows]

    def settle_pending(self, pending_id: str, status: PendingStatus, *, by: str | None, at: datetime,
                       comment: str | None) -> PendingRequest | None:
        """Move a Pending request to ``status`` if it still is Pending and, at ``at``, not yet due (Approved,
        Denied) or due (Expired); None when it is not (the first of two concurrent decisions wins)."""
        due = "expires_at <= ?" if status is PendingStatus.EXPIRED else "expires_at > ?"
        with self._session() as conn:
            changed = conn.execute(
                f"UPDATE pending_requests SET status = ?, decided_by = ?, decided_at = ?, comment = ? "
                f"WHERE id = ? AND status = ? AND {due}",
                [status.value, by, stamp(at), comment, pending_id, PendingStatus.PENDING.value, stamp(at)],
            ).rowcount
        return self.get_pending(pending_id) if changed else None

    def record_replay(self, pending_id: str, outcome: ReplayOutcome) -> None:
        columns = outcome_columns(pending_id, outcome, self._cipher)
        with self._session() as conn:
            conn.execute("UPDATE pending_requests SET outcome = ?, outcome_body = ?, outcome_sealed = ? WHERE id = ?",
                         [columns["outcome"], columns["outcome_body"], columns["outcome_sealed"], pending_id])

    def pending_state(self, pending_id: str) -> tuple[PendingStatus, bool, datetime] | None:
        with self._session() as conn:
            row = conn.execute("SELECT status, outcome IS NOT NULL, expires_at FROM pending_requests WHERE id = ?",
                               [pending_id]).fetchone()
        if row is None:
            return None
        try:
            return PendingStatus(row[0]), bool(row[1]), datetime.fromisoformat(row[2])
        except ValueError as exc:
            raise Unavailable(f"the stored HITL request {pending_id} is damaged and can't be read") from exc

    # policies ----------------------------------------------------------------------------------
    def changes_seen(self) -> int:
        """The policies' generation (migration 6: triggers move it with every change to ``policies``, by any
        daemon), read again only when SQLite's ``data_version`` on the read connection says another connection
        committed something. On the read connection, never waiting for the audit writer: it is asked on every
        decision. No file check, for the same reason."""
        with self._read_lock:
            try:
                version = self._reader.execute("PRAGMA data_version").fetchone()[0]
                if version != self._data_version:
                    self._policy_generation = self._reader.execute(
                        "SELECT generation FROM policy_generation").fetchone()[0]
                    self._data_version = version
            except sqlite3.Error as exc:
                raise Unavailable(f"the database failed: {exc}") from exc
            return self._policy_generation

    def policy_head(self, name: str) -> PolicyHead | None:
        """On the read connection, like :meth:`changes_seen`: a decision never waits for the audit writer."""
        with self._read_lock:
            try:
                row = self._reader.execute("SELECT version, created_at FROM policies WHERE name = ?",
                                           [name]).fetchone()
            except sqlite3.Error as exc:
                raise Unavailable(f"the database failed: {exc}") from exc
        return None if row is None else PolicyHead(name, row[0], datetime.fromisoformat(row[1]))

    def get_policy(self, name: str, version: int | None = None) -> PolicyRecord | None:
        which = "v.version = p.version" if version is None else "v.version = ?"
        with self._session():
            rows = list(self._db.query(
                f"SELECT {_POLICY_COLUMNS} FROM policies p JOIN policy_versions v ON v.name = p.name "
                f"WHERE p.name = ? AND {which}",
                [name] if version is None else [name, version],
            ))
        return _policy_from_row(rows[0]) if rows else None

    def list_policies(self, page: int, page_size: int) -> Page[PolicyRecord]:
        with self._session():
            total = self._conn.execute("SELECT count(*) FROM policies").fetchone()[0]
            rows = self._db.query(
                f"SELECT {_POLICY_COLUMNS} FROM policies p JOIN policy_versions v "
                "ON v.name = p.name AND v.version = p.version ORDER BY p.name LIMIT ? OFFSET ?",
                [page_size, (page - 1) * page_size],
            )
            items = [_policy_from_row(r) for r in rows]
        return Page(items=items, page=page, page_size=page_size, total_count=total)

    def save_policy(self, name: str, document: str, author: str, at: datetime) -> PutOutcome:
        stamp = at.isoformat()
        with self._transaction() as conn:
            head = conn.execute(
                "SELECT p.version, v.document FROM policies p JOIN policy_versions v "
                "ON v.name = p.name AND v.version = p.version WHERE p.name = ?",
                [name],
            ).fetchone()
            changed = head is None or head[1] != document
            if head is None:
                version = 1
                conn.execute("INSERT INTO policies (name, version, created_at, updated_at) VALUES (?, 1, ?, ?)",
                             [name, stamp, stamp])
            elif changed:
                version = head[0] + 1
                conn.execute("UPDATE policies SET version = ?, updated_at = ? WHERE name = ?", [version, stamp, name])
            if changed:
                conn.execute(
                    "INSERT INTO policy_versions (name, version, document, created_at, created_by) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [name, version, document, stamp, author],
                )
        record = self.get_policy(name)
        assert record is not None
        return PutOutcome(policy=record, created=head is None, changed=changed)

    def list_policy_versions(self, name: str, page: int, page_size: int) -> Page[PolicyVersion] | None:
        with self._session():
            total = self._conn.execute("SELECT count(*) FROM policy_versions WHERE name = ?", [name]).fetchone()[0]
            if total == 0:
                return None
            rows = self._conn.execute(
                "SELECT version, created_at, created_by, json_array_length(document, '$.rules') "
                "FROM policy_versions WHERE name = ? ORDER BY version DESC LIMIT ? OFFSET ?",
                [name, page_size, (page - 1) * page_size],
            ).fetchall()
        items = [PolicyVersion(name, version, datetime.fromisoformat(created_at), created_by, rule_count or 0)
                 for version, created_at, created_by, rule_count in rows]
        return Page(items=items, page=page, page_size=page_size, total_count=total)

    def delete_policy(self, name: str) -> bool:
        with self._transaction() as conn:
            return conn.execute("DELETE FROM policies WHERE name = ?", [name]).rowcount == 1

    def _update_agent(
        self, agent_id: str, changes: dict[str, Any], only_if: AgentStatus | None = None
    ) -> Agent | None:
        """The changed agent; None when there is no such agent, or its status is not ``only_if`` (when given)."""
        assignments = ", ".join(f"{column} = ?" for column in changes)
        condition = "" if only_if is None else " AND status = ?"
        with self._session() as conn:
            self._write_trust_moves(conn)
            changed = conn.execute(
                f"UPDATE agents SET {assignments} WHERE id = ?{condition}",
                [*changes.values(), agent_id, *([] if only_if is None else [only_if.value])],
            ).rowcount
            return self._agent_where("a.id = ?", [agent_id]) if changed else None

    # realms ------------------------------------------------------------------------------------
    def insert_realm(self, realm: Realm) -> None:
        with self._slug_unique(realm.slug), self._session() as conn:
            conn.execute("INSERT INTO realms (id, name, slug, color, created_at) VALUES (?, ?, ?, ?, ?)",
                         [realm.id, realm.name, realm.slug, realm.color, stamp(realm.created_at)])

    @contextlib.contextmanager
    def _slug_unique(self, slug: str) -> Iterator[None]:
        try:
            yield
        except Unavailable as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError):
                raise Conflict(f"realm slug {slug!r} is taken", pointer="slug") from None
            raise

    def find_realm(self, id_or_slug: str) -> Realm | None:
        with self._session():
            rows = list(self._db.query("SELECT * FROM realms WHERE id = ? OR slug = ? ORDER BY id = ? DESC LIMIT 1",
                                       [id_or_slug, id_or_slug, id_or_slug]))
        return realm_from_row(rows[0]) if rows else None

    def list_realms(self, scope: frozenset[str] | None, page: int, page_size: int) -> Page[Realm]:
        where, params = ("", []) if scope is None else (f" WHERE id IN ({', '.join('?' * len(scope))})" if scope
                                                         else " WHERE 0", sorted(scope))
        return self._page("realms", where, params, "slug", page, page_size, realm_from_row)

    def _page(self, table: str, where: str, params: list[Any], order: str, page: int, page_size: int,
              from_row: Callable[[dict[str, Any]], T]) -> Page[T]:
        """One page of a table's rows matching ``where``, in ``order``, with how many match in all."""
        with self._session() as conn:
            total = conn.execute(f"SELECT count(*) FROM {table}{where}", params).fetchone()[0]
            rows = self._db.query(f"SELECT * FROM {table}{where} ORDER BY {order} LIMIT ? OFFSET ?",
                                  [*params, page_size, (page - 1) * page_size])
            items = [from_row(r) for r in rows]
        return Page(items=items, page=page, page_size=page_size, total_count=total)

    def update_realm(self, realm: Realm) -> bool:
        with self._slug_unique(realm.slug), self._session() as conn:
            return conn.execute("UPDATE realms SET name = ?, slug = ?, color = ? WHERE id = ?",
                                [realm.name, realm.slug, realm.color, realm.id]).rowcount == 1

    def delete_realm(self, realm_id: str) -> bool:
        with self._session() as conn:
            return conn.execute("DELETE FROM realms WHERE id = ?", [realm_id]).rowcount == 1

    def count_realm_members(self, realm_id: str) -> int:
        """Agents in the realm, and admins or reviewers limited to it."""
        with self._session() as conn:
            return conn.execute(
                "SELECT count(*) FROM agents WHERE realm_id = ? OR EXISTS "
                "(SELECT 1 FROM json_each(agents.scope_realms) WHERE value = ?)", [realm_id, realm_id],
            ).fetchone()[0]

    # registrations -----------------------------------------------------------------------------
    def insert_registration(self, registration: Registration) -> None:
        with self._session():
            self._db["registrations"].insert(registration_row(registration))

    def get_registration(self, registration_id: str) -> Registration | None:
        with self._session():
            rows = list(self._db.query("SELECT * FROM registrations WHERE id = ?", [registration_id]))
        return registration_from_row(rows[0]) if rows else None

    def pending_registration_for(self, did: str) -> Registration | None:
        with self._session():
            rows = list(self._db.query("SELECT * FROM registrations WHERE did = ? AND status = ?",
                                       [did, RegistrationStatus.PENDING.value]))
        return registration_from_row(rows[0]) if rows else None

    def list_registrations(self, status: RegistrationStatus | None, page: int,
                           page_size: int) -> Page[Registration]:
        where, params = ("", []) if status is None else (" WHERE status = ?", [status.value])
        return self._page("registrations", where, params, "requested_at DESC, id", page, page_size,
                          registration_from_row)

    def count_pending_registrations(self) -> int:
        with self._session() as conn:
            return conn.execute("SELECT count(*) FROM registrations WHERE status = ?",
                                [RegistrationStatus.PENDING.value]).fetchone()[0]

    def settle_registration(self, settled: Registration) -> bool:
        """Pending → ``settled.status`` (compare and set): false when it was no longer Pending."""
        with self._session() as conn:
            return conn.execute(
                "UPDATE registrations SET status = ?, decided_at = ?, decided_by = ?, reason = ?, agent_id = ?, "
                "granted_capabilities = ? WHERE id = ? AND status = ?",
                [settled.status.value, stamp(settled.decided_at) if settled.decided_at else None, settled.decided_by,
                 settled.reason, settled.agent_id, json.dumps(list(settled.granted_capabilities)), settled.id,
                 RegistrationStatus.PENDING.value],
            ).rowcount == 1

    # key assertions ----------------------------------------------------------------------------
    def use_assertion(self, agent_id: str, jti: str, expires_at: datetime, now: datetime) -> bool:
        """Remember an assertion's ``jti`` until it expires; false when the agent has used it before (a replay).
        The ones long expired are forgotten here too: past their expiry they are refused anyway. "Long": an
        assertion checked just before its expiry may reach this point just after it, and its first use must still
        be found then."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM used_assertions WHERE expires_at < ?", [stamp(now - _SPENT_MARGIN)])
            inserted = conn.execute(
                "INSERT OR IGNORE INTO used_assertions (agent_id, jti, expires_at) VALUES (?, ?, ?)",
                [agent_id, jti, stamp(expires_at)],
            ).rowcount
            return inserted == 1

    # audit log ---------------------------------------------------------------------------------
    def append_audit(self, chain: Callable[[tuple[int, str] | None], Sequence[SealedRecord]]) -> None:
        with self._transaction() as conn:
            row = conn.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
            records = chain(None if row is None else (row[0], row[1]))
            conn.executemany(_INSERT_AUDIT, [_audit_row(sealed) for sealed in records])

    def audit_head(self) -> tuple[int, str] | None:
        with self._session():
            row = self._conn.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
        return (row[0], row[1]) if row else None

    def list_audit(self, filters: AuditFilter, page: int, page_size: int) -> Page[AuditRecord]:
        where, params = _audit_where(filters)
        with self._session():
            total = self._conn.execute(f"SELECT count(*) FROM audit_log{where}", params).fetchone()[0]
            rows = self._db.query(
                f"SELECT * FROM audit_log{where} ORDER BY id DESC LIMIT ? OFFSET ?",
                [*params, page_size, (page - 1) * page_size],
            )
            items = [_audit_from_row(row) for row in rows]
        return Page(items=items, page=page, page_size=page_size, total_count=total)

    def iter_audit(self) -> Iterator[StoredAudit]:
        return self._stream_audit(-1, None)  # -1: below any id, even one planted by hand

    def iter_audit_range(self, first_id: int, last_id: int) -> Iterator[StoredAudit]:
        return self._stream_audit(first_id - 1, last_id)

    def session_audit_head(self, session_id: str) -> str | None:
        with self._session() as conn:  # the index audit_log_session (session_id, id): one lookup
            row = conn.execute("SELECT hash FROM audit_log WHERE session_id = ? ORDER BY id DESC LIMIT 1",
                               [session_id]).fetchone()
        return row[0] if row else None

    def _stream_audit(self, after_id: int, last_id: int | None) -> Iterator[StoredAudit]:
        """The stored rows past ``after_id`` (up to ``last_id``), in id order, a chunk per short read session."""
        bound, params = ("", []) if last_id is None else (" AND id <= ?", [last_id])
        while True:
            with self._session():
                rows = list(self._db.query(f"SELECT * FROM audit_log WHERE id > ?{bound} ORDER BY id LIMIT ?",
                                           [after_id, *params, _AUDIT_CHUNK]))
            for row in rows:
                columns = {field: row[column] for column, field in _AUDIT_COLUMNS.items()}
                columns.update((".".join(("details", *path)), row[column]) for column, path in _DETAIL_COLUMNS.items())
                yield StoredAudit(id=row["id"], canonical=row["record"], hash=row["hash"], columns=columns)
            if len(rows) < _AUDIT_CHUNK:
                return
            after_id = rows[-1]["id"]

    def iter_audit_matching(self, filters: AuditFilter, limit: int) -> Iterator[AuditRecord]:
        """The first ``limit`` records matching ``filters``, oldest first, read a chunk at a time."""
        where, params = _audit_where(filters)
        last_id, left = 0, limit
        while left > 0:
            chunk = min(left, _AUDIT_CHUNK)
            keyed = f"{where} AND id > ?" if where else " WHERE id > ?"
            with self._session():
                rows = list(self._db.query(f"SELECT id, hash, record FROM audit_log{keyed} ORDER BY id LIMIT ?",
                                           [*params, last_id, chunk]))
            for row in rows:
                yield _audit_from_json(row)
            if len(rows) < chunk:
                return
            left -= len(rows)
            last_id = rows[-1]["id"]

    def shadow_counts(self, agent_id: str, since: datetime) -> tuple[int, int]:
        """How many of the agent's records since ``since`` a shadow policy judged, and how many of those agreed."""
        with self._session() as conn:
            judged, agreed = conn.execute(
                "SELECT count(*), ifnull(sum(shadow), 0) FROM audit_log "
                "WHERE agent_id = ? AND shadow IS NOT NULL AND time >= ?", [agent_id, record_time(since)],
            ).fetchone()
        return judged, agreed

    # sessions ----------------------------------------------------------------------------------
    def open_session(self, session: Session, max_concurrent: int, max_daily: int) -> LimitReached | None:
        """Store ``session`` unless its agent is at a limit (then nothing is stored): checked and inserted in one
        write transaction, so that two sessions begun at once can't both take the last place."""
        with self._transaction() as conn:
            now = stamp(session.created_at)
            active = conn.execute("SELECT count(*) FROM sessions WHERE agent_id = ? AND status = 'active' "
                                  "AND expires_at > ?", [session.agent_id, now]).fetchone()[0]
            if active >= max_concurrent:
                return LimitReached("maxConcurrentSessions", max_concurrent, active)
            day_ago = stamp(session.created_at - timedelta(days=1))
            today = conn.execute("SELECT count(*) FROM sessions WHERE agent_id = ? AND created_at > ?",
                                 [session.agent_id, day_ago]).fetchone()[0]
            if today >= max_daily:
                return LimitReached("maxDailySessions", max_daily, today)
            self._db["sessions"].insert(session_row(session))
        return None

    def get_session(self, session_id: str, *, with_counts: bool = True) -> Session | None:
        with self._session() as conn:
            rows = list(self._db.query("SELECT * FROM sessions WHERE id = ?", [session_id]))
            if not rows:
                return None
            return session_from_row(rows[0], _session_counts(conn, session_id) if with_counts else SessionCounts())

    def list_sessions(self, filters: SessionFilter, page: int, page_size: int) -> Page[Session]:
        where, params = sessions_where(filters)
        with self._session() as conn:
            total = conn.execute(f"SELECT count(*) FROM sessions{where}", params).fetchone()[0]
            rows = self._db.query(f"SELECT * FROM sessions{where} ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                                  [*params, page_size, (page - 1) * page_size])
            items = [session_from_row(row, _session_counts(conn, row["id"])) for row in rows]
        return Page(items=items, page=page, page_size=page_size, total_count=total)

    def end_session(self, session_id: str, status: SessionStatus, *, at: datetime, by: str,
                    reason: str | None) -> bool:
        """End an open session (active and within its duration); False when it was not open."""
        with self._session() as conn:
            return conn.execute(
                "UPDATE sessions SET status = ?, ended_at = ?, ended_by = ?, end_reason = ? "
                "WHERE id = ? AND status = 'active' AND expires_at > ?",
                [status.value, stamp(at), by, reason, session_id, stamp(at)],
            ).rowcount == 1


def _session_counts(conn: sqlite3.Connection, session_id: str) -> SessionCounts:
    governed, allowed, denied = conn.execute(COUNTS_QUERY, [session_id]).fetchone()
    pending, approved = conn.execute(PENDING_COUNTS_QUERY, [session_id]).fetchone()
    return SessionCounts(governed=governed, allowed=allowed, denied=denied, pending=pending, approved=approved)


# audit_log column -> the record field it copies (for filtering; verification checks the copies)
_AUDIT_COLUMNS = {
    "time": "time",
    "actor": "actor",
    "agent_id": "agentId",
    "source": "source",
    "action": "action",
    "decision": "decision",
}
# audit_log column -> the path in the record's details of the value it copies
_DETAIL_COLUMNS = {
    "session_id": ("sessionId",),
    "shadow": ("shadow", "agrees"),
}
_INSERT_AUDIT = (
    f"INSERT INTO audit_log (id, hash, record, {', '.join([*_AUDIT_COLUMNS, *_DETAIL_COLUMNS])}) "
    f"VALUES (?, ?, ?{', ?' * (len(_AUDIT_COLUMNS) + len(_DETAIL_COLUMNS))})"
)
_AUDIT_CHUNK = 1000
#: how long past its expiry a spent assertion's jti is still kept (see ``use_assertion``)
_SPENT_MARGIN = timedelta(minutes=10)


def _of_agents_within(scope: frozenset[str]) -> tuple[str, list[str]]:
    """The rows (audit records, parked requests) of the agents a realm-scoped reader oversees."""
    scoped, params = within_scope("s", scope)
    return f"agent_id IN (SELECT s.id FROM agents s WHERE {scoped})", params


def _audit_row(sealed: SealedRecord) -> tuple[Any, ...]:
    record = sealed.record
    # each column is named like the field it copies: the record's time, the others its entry's
    copies = (record.time if column == "time" else getattr(record.entry, column) for column in _AUDIT_COLUMNS)
    details = (_detail(record.entry.details, path) for path in _DETAIL_COLUMNS.values())
    return (record.id, record.hash, sealed.canonical.decode(), *copies, *details)


def _detail(details: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` in a record's details (None where there is none); a boolean is kept as 0 or 1."""
    for key in path:
        details = details.get(key) if isinstance(details, Mapping) else None
    return int(details) if isinstance(details, bool) else details if isinstance(details, str) else None


def _audit_where(filters: AuditFilter) -> tuple[str, list[Any]]:
    conditions = {
        "agent_id = ?": filters.agent_id,
        "decision = ?": filters.decision,
        "time >= ?": filters.time_from,
        "time <= ?": filters.time_to,
        "action = ?": filters.action,
        "source = ?": filters.source,
        "session_id = ?": filters.session_id,
        "shadow = ?": None if filters.shadow is None else int(filters.shadow),
    }
    chosen = {sql: value for sql, value in conditions.items() if value is not None}
    sql, params = list(chosen), list(chosen.values())
    if filters.realm_scope is not None:
        scoped, scope_params = _of_agents_within(filters.realm_scope)
        sql.append(scoped)
        params += scope_params
    if not sql:
        return "", []
    return " WHERE " + " AND ".join(sql), params


def _audit_from_json(row: dict[str, Any]) -> AuditRecord:
    """A record from its stored JSON alone (what a replay or an export reads); a damaged one is left empty."""
    try:
        document = json.loads(row["record"])
    except ValueError:
        document = None
    if not isinstance(document, dict):
        document = {"id": row["id"]}
    return AuditRecord.from_document(document, row["hash"])


def _audit_from_row(row: dict[str, Any]) -> AuditRecord:
    """The record from its stored JSON; a row whose JSON was damaged is shown from its columns."""
    try:
        document = json.loads(row["record"])
        if isinstance(document, dict):
            return AuditRecord.from_document(document, row["hash"])
    except ValueError:
        pass
    entry = AuditEntry(actor=row["actor"], source=row["source"], action=row["action"], agent_id=row["agent_id"],
                       decision=row["decision"])
    return AuditRecord(id=row["id"], time=row["time"], entry=entry, schema_version=0, prev_hash="", hash=row["hash"])
