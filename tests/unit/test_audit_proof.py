"""The inclusion proof of an export, built from a real SQLite store and checked by the independent script."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from vectra.domain.audit import AuditEntry, AuditFilter
from vectra.domain.errors import InvalidInput
from vectra.services.audit_log import AuditLog
from vectra.services.audit_proof import MAX_STEPS, inclusion_proof
from vectra.store import SqliteStore

SCRIPT = Path(__file__).parents[1] / "tools" / "verify_export.py"
ALICE = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
BOB = "9b2f4c1e-0d7a-4e8b-a1c3-5f6e7d8c9b0a"
# who each record is about, in chain order: Alice's records interleave with Bob's, and Bob's come first and last
ORDER = [BOB, ALICE, BOB, BOB, ALICE, ALICE, BOB, ALICE, BOB, BOB]


def append(store: SqliteStore, agents: list[str]) -> None:
    async def scenario() -> None:
        log = AuditLog(store)
        await log.start()
        for n, agent in enumerate(agents):
            await log.append(AuditEntry(actor=agent, source="proxy", action="proxy.request", agent_id=agent,
                                        decision="Allow", details={"secret": f"{agent}-{n}"}))
        await log.stop()

    asyncio.run(scenario())


def ids_of(store: SqliteStore, agent: str) -> list[int]:
    return [r.id for r in store.list_audit(AuditFilter(agent_id=agent), 1, 1000).items]


def check(export: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """Run the auditor's script on the export, as an auditor would: another process, the JSON on stdin."""
    return subprocess.run([sys.executable, str(SCRIPT), "-"], input=json.dumps(export), capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.fixture
def proven(store: SqliteStore) -> dict[str, Any]:
    """Alice's records proven: the export's chain object."""
    append(store, ORDER)
    return {"chain": inclusion_proof(store, reversed(ids_of(store, ALICE))).document()}


def test_a_proof_of_one_agents_records_verifies_without_revealing_the_other_agents(
    store: SqliteStore, proven: dict[str, Any]
) -> None:
    chain = proven["chain"]
    records = {r.id: r for r in store.list_audit(AuditFilter(), 1, 100).items}
    answer = check(proven)

    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.startswith("OK: 4 included records, 7 steps")
    assert chain["verified"] is True
    assert [s["id"] for s in chain["steps"]] == [2, 3, 4, 5, 6, 7, 8]
    assert [s["id"] for s in chain["steps"] if "record" in s] == [2, 5, 6, 8]
    assert all(set(s) == {"id", "contentDigest"} for s in chain["steps"] if s["id"] in (3, 4, 7))
    assert (chain["anchorHash"], chain["endHash"]) == (records[2].prev_hash, records[8].hash)
    assert chain["head"] == {"id": 10, "hash": records[10].hash}
    assert BOB not in json.dumps(chain)  # nothing of Bob's records is shown, only their digests


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda c: c["steps"][0].update(record=c["steps"][0]["record"].replace("Allow", "Deny")),
                     id="included-record-edited"),
        pytest.param(lambda c: c["steps"][1].update(contentDigest="0" * 64), id="digest-replaced"),
        pytest.param(lambda c: c["steps"].insert(1, c["steps"].pop(2)), id="steps-swapped"),
        pytest.param(lambda c: c["steps"].pop(1), id="step-dropped"),
        pytest.param(lambda c: swap_digests(c["steps"][1], c["steps"][2]), id="hidden-records-reordered"),
        pytest.param(lambda c: c.update(endHash="f" * 64), id="end-hash-replaced"),
        pytest.param(lambda c: c.update(anchorHash="e" * 64), id="anchor-replaced"),
    ],
)
def test_a_tampered_proof_fails_the_script(proven: dict[str, Any], tamper: Any) -> None:
    forged = copy.deepcopy(proven)
    tamper(forged["chain"])
    answer = check(forged)

    assert answer.returncode == 1
    assert answer.stderr.startswith("FAILED: ")


def swap_digests(one: dict[str, Any], other: dict[str, Any]) -> None:
    """Two hidden records moved into each other's place, their ids left in order."""
    one["contentDigest"], other["contentDigest"] = other["contentDigest"], one["contentDigest"]


def test_an_included_record_edited_and_rehashed_still_fails_at_the_end_of_the_fold(proven: dict[str, Any]) -> None:
    forged = copy.deepcopy(proven)
    step = forged["chain"]["steps"][0]
    step["record"] = step["record"].replace("Allow", "Deny")
    digest = hashlib.sha256(step["record"].encode()).hexdigest()
    step["hash"] = hashlib.sha256((forged["chain"]["anchorHash"] + digest).encode()).hexdigest()
    answer = check(forged)

    assert answer.returncode == 1
    assert "prevHash" in answer.stderr  # the next included record no longer links to it


def test_a_timeline_that_says_other_than_its_records_fails_the_script(proven: dict[str, Any]) -> None:
    record = json.loads(proven["chain"]["steps"][0]["record"])
    event = {"auditId": record["id"], "time": record["time"], "action": record["action"], "method": None,
             "url": None, "decision": record["decision"], "rule": None, "reason": None}

    assert check({**proven, "timeline": [event]}).returncode == 0
    assert "timeline[0].decision" in check({**proven, "timeline": [{**event, "decision": "Deny"}]}).stderr
    assert "not one of" in check({**proven, "timeline": [{**event, "auditId": 3}]}).stderr


def test_the_daemon_says_unverified_when_a_hidden_record_was_edited_in_the_store(store: SqliteStore) -> None:
    append(store, ORDER)
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE audit_log SET record = replace(record, 'Allow', 'Deny') WHERE id = 4")

    assert inclusion_proof(store, ids_of(store, ALICE)).verified is False


def test_no_records_prove_nothing_and_a_too_long_stretch_asks_for_a_narrower_period(store: SqliteStore) -> None:
    append(store, ORDER)
    empty = inclusion_proof(store, []).document()

    assert (empty["steps"], empty["anchorHash"], empty["endHash"], empty["verified"]) == ([], None, None, True)
    assert check({"chain": empty}).returncode == 0
    with pytest.raises(InvalidInput, match="narrower period"):
        inclusion_proof(store, [1, MAX_STEPS + 1])


def test_schema_1_records_are_proven_in_full_but_never_hidden(store: SqliteStore) -> None:
    append(store, [ALICE, BOB, ALICE])
    as_schema_1(store)
    append(store, [ALICE, BOB])  # the upgraded daemon: chain v2 continues from the last schema 1 hash

    whole = inclusion_proof(store, [1, 2, 3, 4])
    answer = check({"chain": whole.document()})

    assert whole.verified and answer.returncode == 0, answer.stderr
    with pytest.raises(InvalidInput, match="record 2 was sealed before chain v2"):
        inclusion_proof(store, [1, 3])


def as_schema_1(store: SqliteStore) -> None:
    """Re-seal every stored record as a daemon before chain v2 did (hash = SHA-256 of the canonical JSON)."""
    with sqlite3.connect(store.path) as conn:
        prev = "0" * 64
        for row_id, text in conn.execute("SELECT id, record FROM audit_log ORDER BY id").fetchall():
            canonical = rfc8785.dumps({**json.loads(text), "schemaVersion": 1, "prevHash": prev})
            prev = hashlib.sha256(canonical).hexdigest()
            conn.execute("UPDATE audit_log SET record = ?, hash = ? WHERE id = ?", [canonical.decode(), prev, row_id])
