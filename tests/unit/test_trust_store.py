"""The store's trust update over real SQLite: atomic per agent, even across connections, and quarantining."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from policy_core import QUARANTINE_FLOOR, update_trust
from vectra.domain.models import Agent, AgentStatus, Role
from vectra.store import SqliteStore


def _agent(store: SqliteStore, trust: float = 0.5) -> str:
    agent = Agent(id="a-1", name="a", owner_id=None, status=AgentStatus.ACTIVE, policy_name=None, trust_score=trust,
                  roles=(Role.AGENT,), created_at=datetime.now(UTC), last_seen_at=None, secret_hash=b"x")
    store.insert_agent(agent)
    return agent.id


def test_fifty_concurrent_updates_through_two_connections_lose_none(tmp_path: Path) -> None:
    first, second = SqliteStore(tmp_path / "v.db"), SqliteStore(tmp_path / "v.db")
    agent_id = _agent(first)
    start = threading.Barrier(50)

    def allowed(store: SqliteStore) -> None:
        start.wait()
        store.update_trust(agent_id, lambda trust: update_trust(trust, "allowed", 0.0), QUARANTINE_FLOOR)

    threads = [threading.Thread(target=allowed, args=(first if i % 2 else second,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    expected = 0.5
    for _ in range(50):
        expected = update_trust(expected, "allowed", 0.0)
    agent = first.get_agent(agent_id)
    assert agent is not None and abs(agent.trust_score - expected) < 1e-9 and expected == 1.0
    first.close()
    second.close()


def test_falling_below_the_floor_quarantines_once(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "v.db")
    agent_id = _agent(store, trust=0.32)

    agent, quarantined = store.update_trust(agent_id, lambda trust: trust - 0.05, QUARANTINE_FLOOR) or (None, None)
    again = store.update_trust(agent_id, lambda trust: trust - 0.05, QUARANTINE_FLOOR)

    assert agent is not None and quarantined is True and agent.status is AgentStatus.QUARANTINED
    assert again is not None and again[1] is False and again[0].trust_score < agent.trust_score
    assert store.update_trust("missing", lambda trust: trust, QUARANTINE_FLOOR) is None
    store.close()


def test_a_conditional_status_change_leaves_an_agent_another_daemon_changed_meanwhile(tmp_path: Path) -> None:
    """lift-quarantine's update: a quarantined agent revoked through a second connection stays revoked."""
    first, second = SqliteStore(tmp_path / "v.db"), SqliteStore(tmp_path / "v.db")
    agent_id = _agent(first)
    first.set_agent_status(agent_id, AgentStatus.QUARANTINED)
    second.set_agent_status(agent_id, AgentStatus.REVOKED)

    lifted = first.set_agent_status(agent_id, AgentStatus.ACTIVE, trust_score=0.5, only_if=AgentStatus.QUARANTINED)

    assert lifted is None
    agent = first.get_agent(agent_id)
    assert agent is not None and agent.status is AgentStatus.REVOKED


def _in_one_transaction(store: SqliteStore, *steps: object) -> list[object]:
    """Run each step (a callable) in one write transaction, each under a savepoint, as the audit writer does;
    a step that raises ValueError is rolled back alone."""
    results: list[object] = []

    def work() -> None:
        for step in steps:
            try:
                results.append(store.atomically(step))  # type: ignore[arg-type]
            except ValueError as exc:
                results.append(exc)

    store.atomically(work)
    return results


def test_moves_in_one_transaction_build_on_each_other_and_reads_inside_and_after_it_see_the_last(
        tmp_path: Path) -> None:
    store, other = SqliteStore(tmp_path / "v.db"), SqliteStore(tmp_path / "v.db")
    agent_id = _agent(store)
    seen_inside: list[float] = []

    def move() -> float:
        moved = store.update_trust(agent_id, lambda trust: trust + 0.1, QUARANTINE_FLOOR)
        assert moved is not None
        return moved[0].trust_score

    def read_inside() -> float:
        agent = store.get_agent(agent_id)  # a read in the transaction sees the moves so far
        assert agent is not None
        seen_inside.append(agent.trust_score)
        return agent.trust_score

    results = _in_one_transaction(store, move, move, read_inside, move)

    assert [round(r, 6) for r in results] == [0.6, 0.7, 0.7, 0.8]  # type: ignore[arg-type]
    agent = other.get_agent(agent_id)
    assert agent is not None and round(agent.trust_score, 6) == 0.8


def test_a_move_in_a_rolled_back_savepoint_is_forgotten(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "v.db")
    agent_id = _agent(store)

    def move() -> None:
        store.update_trust(agent_id, lambda trust: trust + 0.1, QUARANTINE_FLOOR)

    def move_then_fail() -> None:
        move()
        raise ValueError("refused after moving")

    _in_one_transaction(store, move, move_then_fail, move)

    agent = store.get_agent(agent_id)
    assert agent is not None and round(agent.trust_score, 6) == 0.7


def test_a_status_change_in_the_same_transaction_is_not_overwritten_by_earlier_moves(tmp_path: Path) -> None:
    """An agent quarantined by a trust move and lifted in the same batch ends Active with trust 0.5."""
    store = SqliteStore(tmp_path / "v.db")
    agent_id = _agent(store, trust=0.31)

    def fall() -> object:
        return store.update_trust(agent_id, lambda trust: trust - 0.05, QUARANTINE_FLOOR)

    def lift() -> object:
        return store.set_agent_status(agent_id, AgentStatus.ACTIVE, trust_score=0.5, only_if=AgentStatus.QUARANTINED)

    fell, lifted = _in_one_transaction(store, fall, lift)

    assert fell is not None and fell[1] is True  # type: ignore[index]
    assert lifted is not None
    agent = store.get_agent(agent_id)
    assert agent is not None and (agent.status, agent.trust_score) == (AgentStatus.ACTIVE, 0.5)


def test_a_failed_commit_writes_none_of_its_moves(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "v.db")
    agent_id = _agent(store)

    def move_then_fail() -> None:
        store.update_trust(agent_id, lambda trust: trust + 0.1, QUARANTINE_FLOOR)
        raise RuntimeError("the transaction fails")

    with pytest.raises(RuntimeError):
        store.atomically(move_then_fail)
    agent = store.get_agent(agent_id)
    assert agent is not None and agent.trust_score == 0.5
    moved = store.update_trust(agent_id, lambda trust: trust + 0.1, QUARANTINE_FLOOR)
    assert moved is not None and round(moved[0].trust_score, 6) == 0.6
