"""Refused calls are recorded in bounded numbers: identical ones counted per window, kinds past the cap together."""

from __future__ import annotations

import asyncio

from vectra.domain.audit import AuditFilter, AuditSource
from vectra.domain.errors import Denied, Forbidden, Unauthenticated
from vectra.services.audit import verify_chain
from vectra.services.audit_log import AuditLog
from vectra.services.refusals import ACTION, Attempt, Refusals, is_access_refusal
from vectra.store import SqliteStore


def attempt(peer: str) -> Attempt:
    return Attempt(source=AuditSource.CONTROL_PLANE, surface="rest", route="/agents", peer=peer, method="GET")


def recorded(store: SqliteStore) -> list[tuple[str | None, str, int]]:
    """(reason, peer, calls it counts) of every refusal record, oldest first."""
    page = store.list_audit(AuditFilter(action=ACTION), 1, 100)
    return [(r.entry.reason, r.entry.details["peer"], r.entry.details.get("repeated", 1)) for r in reversed(page.items)]


def test_identical_refusals_are_counted_and_kinds_past_the_cap_share_one_overflow_record(store: SqliteStore) -> None:
    async def scenario() -> None:
        log = AuditLog(store)
        await log.start()
        refusals = Refusals(log, window_seconds=60, max_open=2)
        for peer in ("10.0.0.1", "10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.4"):
            await refusals.record(Unauthenticated("invalid token", cause="bad_signature"), attempt(peer))
        await refusals.flush()
        await log.stop()

    asyncio.run(scenario())
    assert recorded(store) == [
        ("bad_signature", "10.0.0.1", 1), ("bad_signature", "10.0.0.2", 1), ("overflow", "*", 1),
        ("bad_signature", "10.0.0.1", 2), ("overflow", "*", 2),
    ]
    assert sum(calls for _, _, calls in recorded(store)) == 7
    assert verify_chain(store.iter_audit()).valid


def test_a_window_that_closes_writes_its_count_and_the_next_refusal_is_recorded_again(store: SqliteStore) -> None:
    async def scenario() -> None:
        log = AuditLog(store)
        await log.start()
        refusals = Refusals(log, window_seconds=0.05)
        for _ in range(3):
            await refusals.record(Forbidden("no", cause="role", subject="agent-1"), attempt("10.0.0.1"))
        await asyncio.sleep(0.3)
        await refusals.record(Forbidden("no", cause="role", subject="agent-1"), attempt("10.0.0.1"))
        await refusals.flush()
        await log.stop()

    asyncio.run(scenario())
    assert recorded(store) == [("role", "10.0.0.1", 1), ("role", "10.0.0.1", 2), ("role", "10.0.0.1", 1)]


def test_a_decision_its_service_records_is_no_access_refusal() -> None:
    assert is_access_refusal(Unauthenticated("x")) and is_access_refusal(Forbidden("x"))
    assert not is_access_refusal(Denied("denied by rule r"))
