"""SQLite store through sqlite-utils: WAL, one connection, migrations at open."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from vectra.domain.audit import AuditEntry, AuditFilter, AuditRecord, SealedRecord, StoredAudit
from vectra.domain.models import Agent, AgentStatus, Page, Role
from vectra.store.migrations import migrate

__all__ = ["SqliteStore"]


def _agent_from_row(row: dict[str, Any]) -> Agent:
    return Agent(
        id=row["id"],
        name=row["name"],
        owner_id=row["owner_id"],
        status=AgentStatus(row["status"]),
        policy_name=row["policy_name"],
        trust_score=row["trust_score"],
        roles=tuple(Role(r) for r in json.loads(row["roles"])),
        created_at=datetime.fromisoformat(row["created_at"]),
        last_seen_at=datetime.fromisoformat(row["last_seen_at"]) if row["last_seen_at"] else None,
        secret_hash=row["secret_hash"],
    )


def _agent_to_row(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "owner_id": agent.owner_id,
        "status": agent.status.value,
        "policy_name": agent.policy_name,
        "trust_score": agent.trust_score,
        "roles": json.dumps([r.value for r in agent.roles]),
        "secret_hash": agent.secret_hash,
        "created_at": agent.created_at.isoformat(),
        "last_seen_at": agent.last_seen_at.isoformat() if agent.last_seen_at else None,
    }


class SqliteStore:
    """One connection shared under a lock; every write is one short transaction.

    WAL with ``synchronous=NORMAL`` survives a killed process without losing a committed
    transaction (a power loss may lose the last few; see README, Durability).
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=10000")
        migrate(self._conn)
        self._db = sqlite_utils.Database(self._conn)
        self._lock = threading.RLock()
        self.path = path

    def ping(self) -> None:
        with self._lock:
            self._conn.execute("SELECT count(*) FROM agents LIMIT 1").fetchone()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # agents ------------------------------------------------------------------------------------
    def insert_agent(self, agent: Agent) -> None:
        with self._lock:
            self._db["agents"].insert(_agent_to_row(agent))

    def get_agent(self, agent_id: str) -> Agent | None:
        with self._lock:
            rows = list(self._db.query("SELECT * FROM agents WHERE id = ?", [agent_id]))
        return _agent_from_row(rows[0]) if rows else None

    def list_agents(self, page: int, page_size: int) -> Page[Agent]:
        with self._lock:
            total = self._conn.execute("SELECT count(*) FROM agents").fetchone()[0]
            rows = self._db.query(
                "SELECT * FROM agents ORDER BY created_at, id LIMIT ? OFFSET ?",
                [page_size, (page - 1) * page_size],
            )
            items = [_agent_from_row(r) for r in rows]
        return Page(items=items, page=page, page_size=page_size, total_count=total)

    def delete_agent(self, agent_id: str) -> bool:
        with self._lock:
            return self._conn.execute("DELETE FROM agents WHERE id = ?", [agent_id]).rowcount == 1

    def set_agent_policy(self, agent_id: str, policy_name: str | None) -> Agent | None:
        return self._update_agent(agent_id, {"policy_name": policy_name})

    def set_agent_status(
        self, agent_id: str, status: AgentStatus, *, trust_score: float | None = None
    ) -> Agent | None:
        changes: dict[str, Any] = {"status": status.value}
        if trust_score is not None:
            changes["trust_score"] = trust_score
        return self._update_agent(agent_id, changes)

    def touch_agent(self, agent_id: str, seen_at: str) -> None:
        with self._lock:
            self._conn.execute("UPDATE agents SET last_seen_at = ? WHERE id = ?", [seen_at, agent_id])

    def _update_agent(self, agent_id: str, changes: dict[str, Any]) -> Agent | None:
        assignments = ", ".join(f"{column} = ?" for column in changes)
        with self._lock:
            cursor = self._conn.execute(
                f"UPDATE agents SET {assignments} WHERE id = ? RETURNING *",
                [*changes.values(), agent_id],
            )
            row = cursor.fetchone()
            if row is None:
                return None
            columns = [d[0] for d in cursor.description]
            cursor.fetchall()
        return _agent_from_row(dict(zip(columns, row, strict=True)))

    # audit log ---------------------------------------------------------------------------------
    def append_audit(self, records: Sequence[SealedRecord]) -> None:
        rows = [_audit_row(sealed) for sealed in records]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(_INSERT_AUDIT, rows)
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def audit_head(self) -> tuple[int, str] | None:
        with self._lock:
            row = self._conn.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
        return (row[0], row[1]) if row else None

    def list_audit(self, filters: AuditFilter, page: int, page_size: int) -> Page[AuditRecord]:
        where, params = _audit_where(filters)
        with self._lock:
            total = self._conn.execute(f"SELECT count(*) FROM audit_log{where}", params).fetchone()[0]
            rows = self._db.query(
                f"SELECT * FROM audit_log{where} ORDER BY id DESC LIMIT ? OFFSET ?",
                [*params, page_size, (page - 1) * page_size],
            )
            items = [_audit_from_row(row) for row in rows]
        return Page(items=items, page=page, page_size=page_size, total_count=total)

    def iter_audit(self) -> Iterator[StoredAudit]:
        last_id = -1  # below any id, even one planted by hand
        while True:
            with self._lock:
                rows = list(self._db.query(
                    "SELECT * FROM audit_log WHERE id > ? ORDER BY id LIMIT ?", [last_id, _AUDIT_CHUNK]
                ))
            for row in rows:
                columns = {field: row[column] for column, field in _AUDIT_COLUMNS.items()}
                yield StoredAudit(id=row["id"], canonical=row["record"], hash=row["hash"], columns=columns)
            if len(rows) < _AUDIT_CHUNK:
                return
            last_id = rows[-1]["id"]


# audit_log column -> the record field it copies (for filtering; verification checks the copies)
_AUDIT_COLUMNS = {
    "time": "time",
    "actor": "actor",
    "agent_id": "agentId",
    "source": "source",
    "action": "action",
    "decision": "decision",
}
_INSERT_AUDIT = (
    f"INSERT INTO audit_log (id, hash, record, {', '.join(_AUDIT_COLUMNS)}) "
    f"VALUES (?, ?, ?{', ?' * len(_AUDIT_COLUMNS)})"
)
_AUDIT_CHUNK = 1000


def _audit_row(sealed: SealedRecord) -> tuple[Any, ...]:
    document = sealed.record.document()
    copies = (document[field] for field in _AUDIT_COLUMNS.values())
    return (sealed.record.id, sealed.record.hash, sealed.canonical.decode(), *copies)


def _audit_where(filters: AuditFilter) -> tuple[str, list[Any]]:
    conditions = {
        "agent_id = ?": filters.agent_id,
        "decision = ?": filters.decision,
        "time >= ?": filters.time_from,
        "time <= ?": filters.time_to,
        "action = ?": filters.action,
        "source = ?": filters.source,
    }
    chosen = {sql: value for sql, value in conditions.items() if value is not None}
    if not chosen:
        return "", []
    return " WHERE " + " AND ".join(chosen), list(chosen.values())


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
