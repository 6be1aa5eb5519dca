"""Parked requests in the SQLite store: secrets sealed apart and bound to their row, digests that notice any change,
and decisions that are compare-and-set."""

from __future__ import annotations

import dataclasses
import sqlite3
import uuid
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vectra.domain.pending import (
    PendingFilter,
    PendingRequest,
    PendingStatus,
    ReplayOutcome,
    is_secret_header,
    redacted,
    request_digest,
)
from vectra.store import SqliteStore
from vectra.store.cipher import FieldCipher, SealBroken

KEY = bytes(range(32))
DIGEST_KEY = b"d" * 32
HEADERS = (("Authorization", "Bearer upstream"), ("X-Api-Key", "k-1"), ("Content-Type", "text/plain"),
           ("Cookie", "s=1"))


def parked(**changes: object) -> PendingRequest:
    now = datetime.now(UTC)
    pending = PendingRequest(
        id=str(uuid.uuid4()), agent_id=str(uuid.uuid4()), method="POST", url="https://api.example.com/pay",
        headers=HEADERS, body=b"\x00\xffbody", body_size=6, rule="review", reason="a human reviews this", risk=0.4,
        risk_factors={"method": 0.4}, policy_name="p", policy_version=3, digest="", created_at=now,
        expires_at=now + timedelta(hours=1),
    )
    pending = dataclasses.replace(pending, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(pending, digest=pending.current_digest(DIGEST_KEY))


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "v.db", FieldCipher(KEY))


def test_a_parked_request_reads_back_whole_with_its_real_secret_values(store: SqliteStore) -> None:
    pending = parked()
    store.insert_pending(pending)
    assert store.get_pending(pending.id) == pending


def test_secret_values_are_not_in_the_file_and_do_not_open_under_another_key(store: SqliteStore) -> None:
    pending = parked()
    store.insert_pending(pending)
    raw = store.path.read_bytes() + (store.path.with_name(store.path.name + "-wal").read_bytes())
    assert b"Bearer upstream" not in raw and b"k-1" not in raw and b"s=1" not in raw

    other = SqliteStore(store.path, FieldCipher(bytes(32)))
    read = other.get_pending(pending.id)
    assert read is not None and dict(read.headers)["Authorization"] == ""
    assert read.current_digest(DIGEST_KEY) != pending.digest  # so it will never be replayed


def test_a_seal_moved_to_another_row_does_not_open(store: SqliteStore) -> None:
    first, second = parked(), parked()
    store.insert_pending(first)
    store.insert_pending(second)
    with closing(sqlite3.connect(store.path)) as conn:
        conn.execute("UPDATE pending_requests SET sealed_headers = (SELECT sealed_headers FROM pending_requests "
                     "WHERE id = ?) WHERE id = ?", [first.id, second.id])
        conn.commit()
    read = store.get_pending(second.id)
    assert read is not None and read.current_digest(DIGEST_KEY) != second.digest


def test_the_cipher_refuses_altered_or_rebound_values() -> None:
    cipher = FieldCipher(KEY)
    sealed = cipher.seal(b"secret", "row-1")
    assert cipher.open(sealed, "row-1") == b"secret"
    with pytest.raises(SealBroken):
        cipher.open(sealed, "row-2")
    with pytest.raises(SealBroken):
        cipher.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), "row-1")
    with pytest.raises(SealBroken):
        cipher.open(b"\x01short", "row-1")


@pytest.mark.parametrize("change", [
    {"method": "PUT"}, {"url": "https://api.example.com/pay?x=1"}, {"body": b"\x00\xffbodY"},
    {"headers": HEADERS[:-1]}, {"headers": (("Authorization", "Bearer other"), *HEADERS[1:])},
    {"agent_id": str(uuid.uuid4())}, {"policy_version": 4},
])
def test_the_digest_changes_with_anything_an_approval_replays_or_is_bound_to(change: dict[str, object]) -> None:
    pending = parked()
    assert dataclasses.replace(pending, **change).current_digest(DIGEST_KEY) != pending.digest  # type: ignore[arg-type]


def test_the_digest_is_a_pure_function_of_the_request_and_its_key() -> None:
    args = ("a", "GET", "https://x.test/", [("A", "1")], b"", None, None)
    assert request_digest(DIGEST_KEY, *args) == request_digest(DIGEST_KEY, *args)
    assert request_digest(DIGEST_KEY, *args) != request_digest(b"e" * 32, *args)
    digest = request_digest(DIGEST_KEY, *args)
    assert digest.startswith("hmac-sha256:") and len(digest) == len("hmac-sha256:") + 64


@pytest.mark.parametrize("name, secret", [
    ("Authorization", True), ("proxy-authorization", True), ("Cookie", True), ("X-Api-Key", True),
    ("Api-Key", True), ("X-Auth-Token", True), ("X-Amz-Security-Token", True), ("X-Client-Secret", True),
    ("Content-Type", False), ("Accept", False), ("X-Request-Id", False), ("Keyboard-Layout", False),
])
def test_credentials_are_recognised_by_name(name: str, secret: bool) -> None:
    assert is_secret_header(name) is secret
    assert (redacted([(name, "v")])[0][1] == "[redacted]") is secret


def test_of_two_decisions_only_the_first_lands(store: SqliteStore) -> None:
    pending = parked()
    store.insert_pending(pending)
    now = datetime.now(UTC)
    approved = store.settle_pending(pending.id, PendingStatus.APPROVED, by="ann", at=now, comment="ok")
    assert approved is not None and (approved.status, approved.decided_by, approved.comment) == \
        (PendingStatus.APPROVED, "ann", "ok")
    assert store.settle_pending(pending.id, PendingStatus.DENIED, by="bob", at=now, comment=None) is None
    assert store.settle_pending(pending.id, PendingStatus.EXPIRED, by=None, at=now + timedelta(hours=2),
                                comment=None) is None


def test_expiry_lands_only_once_due_and_a_due_request_can_no_longer_be_decided(store: SqliteStore) -> None:
    pending = parked()
    store.insert_pending(pending)
    due = pending.expires_at + timedelta(microseconds=1)
    assert store.settle_pending(pending.id, PendingStatus.EXPIRED, by=None, at=pending.expires_at
                                - timedelta(seconds=1), comment=None) is None
    assert store.due_pending(due, 10) == [pending.id]
    assert store.settle_pending(pending.id, PendingStatus.APPROVED, by="ann", at=due, comment=None) is None
    assert store.settle_pending(pending.id, PendingStatus.EXPIRED, by=None, at=due, comment=None) is not None
    assert store.due_pending(due, 10) == []


def test_lists_filter_by_agent_and_status_newest_first_without_bodies(store: SqliteStore) -> None:
    agent = str(uuid.uuid4())
    old = parked(agent_id=agent, created_at=datetime.now(UTC) - timedelta(minutes=5))
    new = parked(agent_id=agent)
    for pending in (old, new, parked()):
        store.insert_pending(pending)
    page = store.list_pending(PendingFilter(agent_id=agent), 1, 10)
    assert ([p.id for p in page.items], page.total_count) == ([new.id, old.id], 2)
    assert all(p.body is None and p.body_size == 6 for p in page.items)
    assert store.count_pending(agent) == 2
    store.settle_pending(old.id, PendingStatus.DENIED, by="ann", at=datetime.now(UTC), comment=None)
    assert [p.id for p in store.list_pending(PendingFilter(agent, (PendingStatus.DENIED,)), 1, 10).items] == [old.id]
    assert store.count_pending(agent) == 1


def test_a_replays_outcome_is_kept(store: SqliteStore) -> None:
    pending = parked()
    store.insert_pending(pending)
    outcome = ReplayOutcome(status=201, headers=(("X-A", "1"), ("X-A", "2")), body=b"\x00first", body_size=1000)
    store.record_replay(pending.id, outcome)
    read = store.get_pending(pending.id)
    assert read is not None and read.outcome == outcome and read.outcome.body_truncated
