"""The store's memory of spent key assertions: a jti is used once, and still known a while past its expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from vectra.store.sqlite import SqliteStore


def test_a_jti_is_used_once_per_agent(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "vectra.db")
    now = datetime.now(UTC)
    later = now + timedelta(minutes=5)

    assert store.use_assertion("agent-a", "jti-1", later, now)
    assert not store.use_assertion("agent-a", "jti-1", later, now)
    assert store.use_assertion("agent-b", "jti-1", later, now)  # another agent's jti of the same text
    store.close()


def test_a_jti_just_past_its_expiry_is_still_spent(tmp_path: Path) -> None:
    """An assertion checked just before its expiry may reach the store just after it: its first use must still be
    found then, or a replay at the last moment would pass."""
    store = SqliteStore(tmp_path / "vectra.db")
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=1)
    assert store.use_assertion("agent-a", "jti-1", expires, now)

    assert not store.use_assertion("agent-a", "jti-1", expires, now + timedelta(seconds=2))
    # long past it, it is forgotten (and refused by its expiry before it ever reaches the store)
    assert store.use_assertion("agent-a", "jti-1", expires, now + timedelta(hours=1))
    store.close()
