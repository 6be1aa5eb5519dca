"""What a decision asks the store on every call: whether a policy changed, by this store or another daemon's, and
only that (the audit log's commits don't count)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from vectra.domain.audit import AuditEntry, record_time, seal
from vectra.store import SqliteStore


def _append_audit(store: SqliteStore) -> None:
    def chain(head: tuple[int, str] | None) -> list:
        last_id, last_hash = head or (0, "0" * 64)
        entry = AuditEntry(actor="t", source="proxy", action="proxy.request")
        return [seal(entry, record_id=last_id + 1, time=record_time(datetime.now(UTC)), prev_hash=last_hash)]

    store.append_audit(chain)


def test_the_generation_moves_with_policy_changes_from_any_connection_and_only_with_them(tmp_path: Path) -> None:
    store, other = SqliteStore(tmp_path / "v.db"), SqliteStore(tmp_path / "v.db")
    start = store.changes_seen()

    _append_audit(store)
    _append_audit(other)
    assert store.changes_seen() == start

    other.save_policy("p", '{"name": "p"}', "operator", datetime.now(UTC))
    after_put = store.changes_seen()
    assert after_put != start
    head = store.policy_head("p")
    assert head is not None and head.version == 1

    store.save_policy("p", '{"name": "p", "default": "Allow"}', "operator", datetime.now(UTC))
    assert store.changes_seen() != after_put and other.policy_head("p").version == 2  # type: ignore[union-attr]

    before_delete = store.changes_seen()
    other.delete_policy("p")
    assert store.changes_seen() != before_delete and store.policy_head("p") is None
