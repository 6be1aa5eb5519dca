"""The audit writer and the chain check, against a real SQLite file (tampered with by a second connection)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from vectra.domain.audit import GENESIS_HASH, AuditEntry, AuditFilter
from vectra.domain.errors import Conflict, InvalidInput, Unavailable
from vectra.domain.models import Agent, AgentStatus, Role
from vectra.services.audit import verify_chain
from vectra.services.audit_log import Applied, AuditLog
from vectra.store import SqliteStore

AGENT = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "vectra.db")
    yield opened
    opened.close()


def entry(i: int, decision: str = "Allow") -> AuditEntry:
    return AuditEntry(actor=AGENT, source="proxy", action="proxy.decision", agent_id=AGENT, decision=decision,
                      risk=i / 1000, details={"n": i})


async def filled(store: SqliteStore, count: int) -> AuditLog:
    log = AuditLog(store)
    await log.start()
    for i in range(count):
        await log.append(entry(i))
    return log


def tamper(store: SqliteStore, *statements: str) -> None:
    """Change the file behind the writer's back, as someone with the file would: another connection.

    SQLite has no sha256() of its own; the connection gets one, to forge a record's hash.
    """
    conn = sqlite3.connect(store.path)
    conn.create_function("sha256", 1, lambda text: hashlib.sha256(text.encode()).digest())
    with conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


def test_500_concurrent_appends_get_contiguous_ids_a_valid_chain_and_fewer_commits(store: SqliteStore) -> None:
    async def scenario() -> tuple[list[int], AuditLog]:
        log = AuditLog(store)
        await log.start()

        async def writer(task: int) -> list[int]:
            return [(await log.append(entry(task * 10 + i))).id for i in range(10)]

        ids = [i for chunk in await asyncio.gather(*(writer(t) for t in range(50))) for i in chunk]
        await log.stop()
        return ids, log

    ids, log = asyncio.run(scenario())
    result = verify_chain(store.iter_audit())

    assert sorted(ids) == list(range(1, 501))
    assert result.valid and result.count == 500 and result.first_broken_id is None
    assert log.head == (500, result.head_hash)
    assert 0 < log.commits < 500  # group commit: one transaction took many records


def test_a_new_writer_continues_the_chain_from_the_stored_head(store: SqliteStore) -> None:
    async def scenario() -> int:
        await (await filled(store, 3)).stop()
        return (await (await filled(store, 2)).append(entry(99))).id

    assert asyncio.run(scenario()) == 6
    assert verify_chain(store.iter_audit()).valid


def test_an_empty_log_is_valid_and_its_head_is_the_genesis_hash(store: SqliteStore) -> None:
    result = verify_chain(store.iter_audit())

    assert (result.valid, result.count, result.head_hash, result.first_broken_id) == (True, 0, GENESIS_HASH, None)


def test_each_record_links_to_the_previous_hash_from_the_genesis(store: SqliteStore) -> None:
    asyncio.run(filled(store, 3))
    records = sorted(store.list_audit(AuditFilter(), 1, 10).items, key=lambda r: r.id)

    assert [r.prev_hash for r in records] == [GENESIS_HASH, records[0].hash, records[1].hash]


@pytest.mark.parametrize(
    ("statements", "broken"),
    [
        # the stored JSON of record 4 edited
        (["UPDATE audit_log SET record = replace(record, '\"n\":3', '\"n\":333') WHERE id = 4"], 4),
        # record 4 edited and its hash recomputed (schema 2): its successor's link no longer holds
        (["UPDATE audit_log SET record = replace(record, '\"n\":3', '\"n\":333') WHERE id = 4",
          "UPDATE audit_log SET hash = lower(hex(sha256((SELECT hash FROM audit_log WHERE id = 3) "
          "|| lower(hex(sha256(record)))))) WHERE id = 4"], 5),
        # re-hashed by the schema 1 formula instead: the record itself no longer holds
        (["UPDATE audit_log SET record = replace(record, '\"n\":3', '\"n\":333') WHERE id = 4",
          "UPDATE audit_log SET hash = lower(hex(sha256(record))) WHERE id = 4"], 4),
        # only a filter column edited: the list would lie, so the record is named
        (["UPDATE audit_log SET decision = 'Deny' WHERE id = 6"], 6),
        # a record deleted: named by its missing id
        (["DELETE FROM audit_log WHERE id = 7"], 7),
        (["DELETE FROM audit_log WHERE id = 1"], 1),
        # two records swapped
        (["UPDATE audit_log SET id = -3 WHERE id = 3", "UPDATE audit_log SET id = 3 WHERE id = 4",
          "UPDATE audit_log SET id = 4 WHERE id = -3"], 3),
    ],
    ids=["edited", "edited-and-rehashed", "rehashed-as-schema-1", "column-edited", "deleted", "first-deleted",
         "reordered"],
)
def test_verify_names_the_first_broken_record(store: SqliteStore, statements: list[str], broken: int) -> None:
    asyncio.run(filled(store, 10))
    assert verify_chain(store.iter_audit()).valid

    tamper(store, *statements)
    result = verify_chain(store.iter_audit())

    assert not result.valid
    assert result.first_broken_id == broken


def test_a_write_that_cannot_commit_raises_unavailable_leaves_the_head_and_then_recovers(
    store: SqliteStore,
) -> None:
    """Another connection holds the write lock past the busy timeout: the append fails closed."""

    async def scenario() -> None:
        log = await filled(store, 3)
        head = log.head
        blocker = sqlite3.connect(store.path, timeout=0, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            outcomes = await asyncio.gather(*(log.append(entry(i)) for i in range(5)), return_exceptions=True)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()

        assert all(isinstance(o, Unavailable) for o in outcomes)
        assert store.audit_head() == head
        assert (await log.append(entry(100))).id == 4
        assert log.head == store.audit_head()

    asyncio.run(scenario())
    assert verify_chain(store.iter_audit()).valid


def test_the_write_probe_sets_failing_while_the_database_refuses_writes_and_adds_no_record(
    store: SqliteStore,
) -> None:
    """The database file moved away (the store refuses a file that is not the one it opened): the probe fails
    and the log is failing; moved back, the probe succeeds and clears it. The chain is untouched throughout."""

    async def scenario() -> None:
        log = await filled(store, 2)
        assert await log.probe() is True and log.failing is False
        moved = store.path.rename(store.path.with_name("moved.db"))
        assert await log.probe() is False and log.failing is True
        moved.rename(store.path)
        assert await log.probe() is True and log.failing is False
        assert log.head is not None and log.head[0] == 2 and store.audit_head() == log.head

    asyncio.run(scenario())
    assert verify_chain(store.iter_audit()).valid


def test_a_probe_that_succeeds_does_not_clear_a_failure_of_records(store: SqliteStore) -> None:
    """The database refuses records but still takes the probe's one-row write (here a trigger refuses inserts into
    the chain, as a disk with room for a page but not a batch would): the log stays failing until a record
    commits (the probe's ``audit.resumed``), or calls would be forwarded whose records then fail."""

    async def scenario() -> None:
        log = await filled(store, 1)
        with sqlite3.connect(store.path) as other:
            other.execute("CREATE TRIGGER refuse BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'full'); END")
        with pytest.raises(Unavailable):
            await log.append(entry(2))
        assert log.failing is True
        assert await log.probe() is False and log.failing is True  # the probe's row went in, its record did not
        with sqlite3.connect(store.path) as other:
            other.execute("DROP TRIGGER refuse")
        assert await log.probe() is True and log.failing is False  # ended by a record: audit.resumed
        await log.append(entry(2))

    asyncio.run(scenario())
    assert [json.loads(r.canonical)["action"] for r in store.iter_audit()][-2:] == ["audit.resumed", "proxy.decision"]
    assert verify_chain(store.iter_audit()).valid


def test_stop_commits_what_is_queued_and_later_appends_are_refused(store: SqliteStore) -> None:
    async def scenario() -> None:
        log = AuditLog(store)
        await log.start()
        pending = [asyncio.ensure_future(log.append(entry(i))) for i in range(20)]
        await asyncio.sleep(0)  # let them queue
        await log.stop()

        assert sorted([(await p).id for p in pending]) == list(range(1, 21))
        with pytest.raises(Unavailable):
            await log.append(entry(21))

    asyncio.run(scenario())
    assert verify_chain(store.iter_audit()).count == 20


def test_an_entry_json_cannot_hold_is_refused_alone_without_a_place_in_the_chain(store: SqliteStore) -> None:
    async def scenario() -> list[object]:
        log = AuditLog(store)
        await log.start()
        bad = AuditEntry(actor="operator", source="proxy", action="proxy.decision", risk=float("nan"))
        return await asyncio.gather(log.append(entry(1)), log.append(bad), log.append(entry(2)),
                                    return_exceptions=True)

    first, refused, last = asyncio.run(scenario())

    assert isinstance(refused, InvalidInput)
    assert (first.id, last.id) == (1, 2)  # type: ignore[union-attr]
    assert verify_chain(store.iter_audit()).valid


def test_the_list_filters_by_agent_decision_and_time_newest_first(store: SqliteStore) -> None:
    async def scenario() -> None:
        log = AuditLog(store)
        await log.start()
        for i, decision in enumerate(["Allow", "Deny", "Allow", "Hitl", "Deny"]):
            await log.append(entry(i, decision))
        await log.append(AuditEntry(actor="operator", source="control_plane", action="agent.registered",
                                    agent_id="7c9e6679-7425-40de-944b-e07fc1f99af7"))

    asyncio.run(scenario())
    everything = store.list_audit(AuditFilter(), 1, 100).items
    third = next(r for r in everything if r.id == 3)

    assert [r.id for r in everything] == [6, 5, 4, 3, 2, 1]
    assert [r.id for r in store.list_audit(AuditFilter(decision="Deny"), 1, 10).items] == [5, 2]
    assert [r.id for r in store.list_audit(AuditFilter(agent_id=AGENT), 1, 2).items] == [5, 4]
    assert store.list_audit(AuditFilter(agent_id=AGENT), 3, 2).total_count == 5
    assert [r.id for r in store.list_audit(AuditFilter(time_from=third.time), 1, 10).items] == [6, 5, 4, 3]
    assert [r.id for r in store.list_audit(AuditFilter(time_to=third.time), 1, 10).items] == [3, 2, 1]
    assert [r.id for r in store.list_audit(AuditFilter(source="control_plane"), 1, 10).items] == [6]



def test_one_log_keeps_one_chain_across_event_loops(store: SqliteStore) -> None:
    """Code that runs the services under several asyncio.run calls shares one AuditLog, as the daemon does."""
    log = AuditLog(store)

    first = asyncio.run(log.append(entry(1)))
    second = asyncio.run(log.append(entry(2)))

    assert (first.id, second.id, second.prev_hash) == (1, 2, first.hash)
    assert verify_chain(store.iter_audit()).valid


def test_two_daemons_appending_to_one_database_extend_one_chain(store: SqliteStore, tmp_path: Path) -> None:
    """Each writer reads the head inside its write transaction, so interleaved batches from two processes
    (here: two stores on one file) neither collide nor fork the chain."""
    other = SqliteStore(store.path)

    async def scenario() -> list[int]:
        first, second = AuditLog(store), AuditLog(other)
        await first.start()
        await second.start()

        async def writer(log: AuditLog, base: int) -> list[int]:
            return [(await log.append(entry(base + i))).id for i in range(40)]

        ids = [i for chunk in await asyncio.gather(writer(first, 0), writer(second, 100)) for i in chunk]
        await first.stop()
        await second.stop()
        return ids

    ids = asyncio.run(scenario())
    other.close()
    result = verify_chain(store.iter_audit())

    assert sorted(ids) == list(range(1, 81))
    assert result.valid and result.count == 80


def _agent_row(store: SqliteStore) -> Agent:
    agent = Agent(id=AGENT, name="a", owner_id="o", status=AgentStatus.ACTIVE, policy_name=None, trust_score=0.5,
                  roles=(Role.AGENT,), created_at=datetime.now(UTC), last_seen_at=None, secret_hash="x")
    store.insert_agent(agent)
    return agent


def test_a_change_commits_with_its_record_and_gives_back_its_result(store: SqliteStore) -> None:
    _agent_row(store)

    async def scenario() -> tuple[object, object]:
        log = AuditLog(store)
        await log.start()

        def revoke(recorded: AuditEntry) -> Applied[Agent | None]:
            return Applied(store.set_agent_status(AGENT, AgentStatus.REVOKED), (recorded,))

        return await log.apply(entry(1, "Revoked"), revoke)

    record, agent = asyncio.run(scenario())

    assert agent.status is AgentStatus.REVOKED  # type: ignore[union-attr]
    assert record.id == 1 and record.entry.decision == "Revoked"  # type: ignore[union-attr]
    assert store.get_agent(AGENT).status is AgentStatus.REVOKED  # type: ignore[union-attr]


def test_a_change_whose_transaction_fails_is_not_made(store: SqliteStore) -> None:
    """The audit insert is refused (a trigger, as a full disk would): the change made before it is rolled back."""
    _agent_row(store)
    tamper(store, "CREATE TRIGGER refuse BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'no space'); END")

    async def scenario() -> None:
        log = AuditLog(store)
        await log.start()
        with pytest.raises(Unavailable):
            await log.apply(entry(1), lambda recorded: Applied(
                store.set_agent_status(AGENT, AgentStatus.REVOKED), (recorded,)))

    asyncio.run(scenario())
    assert store.get_agent(AGENT).status is AgentStatus.ACTIVE  # type: ignore[union-attr]
    assert store.audit_head() is None


def test_a_change_that_refuses_is_rolled_back_alone_and_the_batch_commits(store: SqliteStore) -> None:
    _agent_row(store)

    def half_done_then_refused(recorded: AuditEntry) -> Applied[None]:
        store.set_agent_status(AGENT, AgentStatus.REVOKED)
        raise Conflict("refused after a write")

    async def scenario() -> list[object]:
        log = AuditLog(store)
        await log.start()
        return await asyncio.gather(log.append(entry(1)), log.apply(entry(2), half_done_then_refused),
                                    log.apply(entry(3), lambda recorded: Applied("done", (recorded,))),
                                    return_exceptions=True)

    first, refused, last = asyncio.run(scenario())

    assert isinstance(refused, Conflict)
    assert first.id == 1  # type: ignore[union-attr]
    assert (last[0].id, last[1]) == (2, "done")  # type: ignore[index]
    assert store.get_agent(AGENT).status is AgentStatus.ACTIVE  # type: ignore[union-attr]
    assert verify_chain(store.iter_audit()).count == 2


def test_a_change_that_records_nothing_takes_no_place_in_the_chain(store: SqliteStore) -> None:
    async def scenario() -> list[object]:
        log = AuditLog(store)
        await log.start()
        return await asyncio.gather(log.append(entry(1)), log.apply(entry(2), lambda recorded: Applied("same", ())),
                                    log.append(entry(3)))

    first, unrecorded, last = asyncio.run(scenario())

    assert unrecorded == (None, "same")
    assert (first.id, last.id) == (1, 2)  # type: ignore[union-attr]
    assert verify_chain(store.iter_audit()).valid


def test_a_commit_that_fails_is_rolled_back_and_the_next_transaction_commits(store: SqliteStore) -> None:
    """The failure comes at COMMIT itself (a deferred foreign key that a trigger breaks): nothing of the batch
    stays, and the connection is not left inside a transaction that later writes would join and never commit."""
    tamper(store, "CREATE TABLE orphans (agent TEXT REFERENCES agents (id) DEFERRABLE INITIALLY DEFERRED)",
           "CREATE TRIGGER orphan AFTER INSERT ON audit_log BEGIN INSERT INTO orphans VALUES ('nobody'); END")

    async def scenario() -> None:
        log = AuditLog(store)
        await log.start()
        with pytest.raises(Unavailable):
            await log.append(entry(1))
        tamper(store, "DROP TRIGGER orphan")
        assert (await log.append(entry(2))).id == 1

    asyncio.run(scenario())
    other = sqlite3.connect(store.path)  # what another connection sees was really committed
    assert other.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 1
    other.close()
    assert verify_chain(store.iter_audit()).valid


def in_session(session: str | None, n: int) -> AuditEntry:
    details = {"n": n, **({"sessionId": session} if session else {})}
    return AuditEntry(actor=AGENT, source="proxy", action="proxy.request", agent_id=AGENT, decision="Allow",
                      details=details)


def test_each_record_of_a_session_links_to_the_sessions_previous_one_within_and_across_batches(
    store: SqliteStore,
) -> None:
    """Two sessions interleaved with each other and with records of no session, in one transaction and then in a
    second; a change refused in the first takes no place in its session's chain either."""
    def refused(recorded: AuditEntry) -> Applied[None]:
        raise Conflict("refused")

    async def scenario() -> int:
        log = AuditLog(store)
        await log.start()
        await asyncio.gather(log.append(in_session("vs_a", 1)), log.append(in_session("vs_b", 2)),
                             log.apply(in_session("vs_a", 3), refused), log.append(in_session(None, 4)),
                             log.append(in_session("vs_a", 5)), log.append(in_session("vs_b", 6)),
                             return_exceptions=True)
        await asyncio.gather(log.append(in_session("vs_b", 7)), log.append(in_session("vs_a", 8)))
        await log.stop()
        return log.commits

    commits = asyncio.run(scenario())
    records = sorted(store.list_audit(AuditFilter(), 1, 100).items, key=lambda r: r.id)
    by_n = {r.entry.details["n"]: r for r in records}

    def links(session: str) -> list[tuple[int, str | None]]:
        return [(r.entry.details["n"], r.entry.details["sessionPrevHash"]) for r in records
                if r.entry.details.get("sessionId") == session]

    assert commits == 2 and [r.entry.details["n"] for r in records] == [1, 2, 4, 5, 6, 7, 8]
    assert links("vs_a") == [(1, None), (5, by_n[1].hash), (8, by_n[5].hash)]
    assert links("vs_b") == [(2, None), (6, by_n[2].hash), (7, by_n[6].hash)]
    assert "sessionPrevHash" not in by_n[4].entry.details  # a record of no session has no session link
    assert store.session_audit_head("vs_a") == by_n[8].hash and store.session_audit_head("vs_c") is None
    assert verify_chain(store.iter_audit()).valid  # the link is inside each record's hash
