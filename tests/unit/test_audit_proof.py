"""The inclusion proof of an export, built from a real SQLite store, and the attacks on it that the independent
script (run as an auditor would: another process, the JSON on stdin) and the daemon's own fold must catch."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from vectra.domain.audit import AuditEntry, AuditFilter
from vectra.domain.errors import InvalidInput
from vectra.services.agents import register_agent
from vectra.services.audit import verify_chain
from vectra.services.audit_log import AuditLog
from vectra.services.audit_proof import MAX_STEPS, inclusion_proof
from vectra.services.auth import OPERATOR
from vectra.services.compliance import period_export, session_export
from vectra.services.context import ServiceContext
from vectra.services.sessions import complete_session, start_session
from vectra.store import SqliteStore

SCRIPT = Path(__file__).parents[1] / "tools" / "verify_export.py"
ALICE = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
BOB = "9b2f4c1e-0d7a-4e8b-a1c3-5f6e7d8c9b0a"
# who each record is about, in chain order: Alice's records interleave with Bob's, and Bob's come first and last
ORDER = [BOB, ALICE, BOB, BOB, ALICE, ALICE, BOB, ALICE, BOB, BOB]
ALWAYS = {"from": "2000-01-01T00:00:00.000000Z", "to": "2999-12-31T23:59:59.999999Z"}
Doc = dict[str, Any]


def check(export: Doc | str | bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run the auditor's script on the export (a document, or raw input as it is)."""
    raw = export if isinstance(export, bytes) else (export if isinstance(export, str) else json.dumps(export)).encode()
    return subprocess.run([sys.executable, str(SCRIPT), "-", *args], input=raw, capture_output=True, timeout=120,
                          check=False)


def failed(answer: subprocess.CompletedProcess[bytes]) -> str:
    """The script's reason for failing (and that it failed as it should: exit 1, one FAILED line, no traceback)."""
    stderr = answer.stderr.decode()
    assert answer.returncode == 1 and stderr.startswith("FAILED: ") and "Traceback" not in stderr, stderr
    return stderr


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- the proof itself, over records of two agents (a period of Alice's) --------------------------------------------

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
    return [r.id for r in store.iter_audit_matching(AuditFilter(agent_id=agent), 1000)]


def period_document(store: SqliteStore, agent: str, chain: Doc) -> Doc:
    """The parts of a period's export the script checks, around ``chain``: Alice's records as the export shows them."""
    timeline = [{"auditId": r.id, "time": r.time, "action": r.entry.action, "method": r.entry.method,
                 "url": r.entry.url, "tool": None, "decision": r.entry.decision, "rule": r.entry.rule,
                 "reason": r.entry.reason} for r in store.iter_audit_matching(AuditFilter(agent_id=agent), 1000)]
    return {"scope": {"agentId": agent, **ALWAYS}, "session": None, "agent": {"id": agent}, "timeline": timeline,
            "chain": chain}


@pytest.fixture
def proven(store: SqliteStore) -> Doc:
    """Alice's records proven, as the parts of her period's export that the script reads."""
    append(store, ORDER)
    proof = inclusion_proof(store, reversed(ids_of(store, ALICE)), {"agentId": ALICE, **ALWAYS})
    return period_document(store, ALICE, proof.document())


def test_a_proof_runs_to_the_head_and_shows_nothing_of_the_other_agents_records(store: SqliteStore,
                                                                                proven: Doc) -> None:
    chain = proven["chain"]
    head = verify_chain(store.iter_audit()).head_hash
    answer = check(proven)

    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.decode().startswith(f"OK: agent '{ALICE}' from ")
    assert f"the chain's head, record 10, hash {head}" in answer.stdout.decode()
    assert chain["verified"] is True
    assert [s["id"] for s in chain["steps"]] == list(range(2, 11))  # from Alice's first record to the head
    assert [s["id"] for s in chain["steps"] if "record" in s] == [2, 5, 6, 8]
    assert all(set(s) == {"id", "contentDigest"} for s in chain["steps"] if s["id"] in (3, 4, 7, 9, 10))
    assert chain["head"] == {"id": 10, "hash": head} and chain["endHash"] == head
    assert BOB not in json.dumps(chain)  # nothing of Bob's records is shown, only their digests


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        pytest.param(lambda c: c["steps"][0].update(record=c["steps"][0]["record"].replace("Allow", "Deny")),
                     "hashes to", id="included-record-edited"),
        pytest.param(lambda c: c["steps"][1].update(contentDigest="0" * 64), "prevHash", id="digest-replaced"),
        pytest.param(lambda c: c["steps"].insert(1, c["steps"].pop(2)), "does not follow", id="steps-swapped"),
        pytest.param(lambda c: c["steps"].pop(1), "does not follow", id="step-dropped"),
        pytest.param(lambda c: swap_digests(c["steps"][1], c["steps"][2]), "prevHash", id="hidden-records-reordered"),
        pytest.param(lambda c: c.update(endHash="f" * 64), "not at endHash", id="end-hash-replaced"),
        pytest.param(lambda c: c.update(anchorHash="e" * 64), "prevHash", id="anchor-replaced"),
        pytest.param(lambda c: c["steps"].pop(), "head is not the last step", id="tail-step-dropped"),
        pytest.param(lambda c: c["head"].update(hash="d" * 64), "head.hash", id="head-replaced"),
    ],
)
def test_a_tampered_proof_fails_the_script(proven: Doc, tamper: Callable[[Doc], Any], reason: str) -> None:
    forged = copy.deepcopy(proven)
    tamper(forged["chain"])
    if reason == "head is not the last step":  # the forger moves the end along: the head still isn't there
        forged["chain"]["endHash"] = fold_hash(forged["chain"]["steps"], forged["chain"]["anchorHash"])

    assert reason in failed(check(forged))


def swap_digests(one: Doc, other: Doc) -> None:
    """Two hidden records moved into each other's place, their ids left in order."""
    one["contentDigest"], other["contentDigest"] = other["contentDigest"], one["contentDigest"]


def test_an_included_record_edited_and_rehashed_still_fails_at_the_next_included_one(proven: Doc) -> None:
    forged = copy.deepcopy(proven)
    step = forged["chain"]["steps"][0]
    step["record"] = step["record"].replace("Allow", "Deny")
    step["hash"] = sha256(forged["chain"]["anchorHash"] + sha256(step["record"]))

    assert "prevHash" in failed(check(forged))  # the next included record no longer links to it


def test_the_daemon_says_unverified_when_a_hidden_record_was_edited_in_the_store(store: SqliteStore) -> None:
    append(store, ORDER)
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE audit_log SET record = replace(record, 'Allow', 'Deny') WHERE id = 9")

    assert inclusion_proof(store, ids_of(store, ALICE)).verified is False  # after the last included record too


def test_no_records_prove_nothing_and_a_too_long_stretch_asks_for_a_narrower_period(store: SqliteStore) -> None:
    append(store, ORDER)
    empty = inclusion_proof(store, []).document()
    document = {**period_document(store, "nobody", empty), "agent": {"id": "nobody"}}

    assert (empty["steps"], empty["anchorHash"], empty["endHash"], empty["verified"]) == ([], None, None, True)
    assert "no records, nothing to prove" in check(document).stdout.decode()
    assert "proves no records" in failed(check(document, "--head", empty["head"]["hash"]))
    with pytest.raises(InvalidInput, match="narrower, later period"):
        inclusion_proof(store, [1], head=(MAX_STEPS + 1, "0" * 64))


def test_schema_1_records_are_proven_in_full_but_never_hidden(store: SqliteStore) -> None:
    append(store, [ALICE, ALICE, ALICE])
    as_schema_1(store)
    append(store, [ALICE, BOB])  # the upgraded daemon: chain v2 continues from the last schema 1 hash

    whole = inclusion_proof(store, [1, 2, 3, 4])
    answer = check(period_document(store, ALICE, whole.document()))

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


# --- real exports of sessions and the attacks on them ----------------------------------------------------------------

class Exports:
    """What the scenario left: the exports (JSON as served), the sessions, the agents and the chain's head."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.documents: dict[str, Doc] = {}
        self.ids: dict[str, str] = {}
        self.head = ""


async def call(ctx: ServiceContext, agent: str, decision: str, session: str | None = None, **details: Any) -> None:
    """A governed call's record, as the proxy writes it."""
    await ctx.audit.append(AuditEntry(
        actor=agent, source="proxy", action="proxy.request", agent_id=agent, method="POST",
        url="https://api.example.com/v1", decision=decision, rule="r1", reason=f"{decision} by r1",
        details={"policyName": "billing", "policyVersion": 3, **({"sessionId": session} if session else {}),
                 **details},
    ))


@pytest.fixture
def exports(ctx: ServiceContext) -> Exports:
    """Alice's session (a tool call, a Deny, then completed) interleaved with Bob's calls, her clean second session
    (still active), and her period; exported once every record is in."""
    made = Exports(ctx)

    async def scenario() -> None:
        await ctx.audit.start()
        try:
            alice = (await register_agent(ctx, OPERATOR, name="alice", owner_id="o")).agent
            bob = (await register_agent(ctx, OPERATOR, name="bob", owner_id="o")).agent
            session = await start_session(ctx, OPERATOR, alice.id)
            await call(ctx, alice.id, "Allow", session.id, mcp={"method": "tools/call", "tool": "search"})
            await call(ctx, bob.id, "Allow")
            await call(ctx, alice.id, "Deny", session.id)
            await call(ctx, bob.id, "Allow")
            await call(ctx, alice.id, "Allow", session.id)
            await complete_session(ctx, OPERATOR, session.id)
            clean = await start_session(ctx, OPERATOR, alice.id)
            await call(ctx, alice.id, "Allow", clean.id)
            await call(ctx, bob.id, "Allow")
            made.ids.update(alice=alice.id, bob=bob.id, session=session.id, clean=clean.id)
            for name, export in (("session", await session_export(ctx, OPERATOR, session.id)),
                                 ("clean", await session_export(ctx, OPERATOR, clean.id)),
                                 ("period", await period_export(ctx, OPERATOR, alice.id, ALWAYS["from"],
                                                                ALWAYS["to"]))):
                made.documents[name] = json.loads(export.json_bytes())
        finally:
            await ctx.audit.stop()

    asyncio.run(scenario())
    made.head = verify_chain(ctx.store.iter_audit()).head_hash
    return made


def test_real_exports_pass_and_name_the_head_an_auditor_compares(exports: Exports) -> None:
    for name in ("session", "clean", "period"):
        answer = check(exports.documents[name])
        assert answer.returncode == 0, (name, answer.stderr)
        assert f"hash {exports.head}: compare it with a head hash you hold" in answer.stdout.decode()
    given = check(exports.documents["session"], "--head", exports.head)

    assert given.returncode == 0 and "the head hash given" in given.stdout.decode()
    assert "not at the head hash given" in failed(check(exports.documents["session"], "--head", "a" * 64))


def test_an_export_invented_whole_passes_only_its_own_fold_never_the_head_the_auditor_holds(
    exports: Exports,
) -> None:
    forged = copy.deepcopy(exports.documents["session"])
    denied = next(i for i, e in enumerate(forged["timeline"]) if e["decision"] == "Deny")
    forged["timeline"][denied]["decision"] = "Allow"
    reseal(forged["chain"], lambda record: record.update(decision="Allow") if record["decision"] == "Deny" else None)
    answer = check(forged)

    assert answer.returncode == 0 and exports.head not in answer.stdout.decode()  # a head no one else holds
    assert "not at the head hash given" in failed(check(forged, "--head", exports.head))


def test_records_trimmed_off_the_start_fail_the_script(exports: Exports) -> None:
    forged = copy.deepcopy(exports.documents["session"])
    chain = forged["chain"]
    second = next(i for i, s in enumerate(chain["steps"]) if "record" in s and i > 0)
    chain["anchorHash"] = json.loads(chain["steps"][second]["record"])["prevHash"]
    del chain["steps"][:second]
    forged["timeline"].pop(0)

    assert "is not the session's start" in failed(check(forged))


def test_records_trimmed_off_the_end_fail_the_script_or_the_head_the_auditor_holds(exports: Exports) -> None:
    forged = copy.deepcopy(exports.documents["session"])
    chain = forged["chain"]
    end = next(i for i, s in enumerate(chain["steps"]) if '"session.completed"' in s.get("record", ""))
    del chain["steps"][end:]
    chain["endHash"] = fold_hash(chain["steps"], chain["anchorHash"])
    chain["head"] = {"id": chain["steps"][-1]["id"], "hash": chain["endHash"]}
    forged["timeline"].pop()

    assert "its session.completed record is not shown" in failed(check(forged))
    forged["session"]["status"] = "active"
    assert check(forged).returncode == 0  # consistent in itself, but it ends at a head that is not the chain's
    assert "not at the head hash given" in failed(check(forged, "--head", exports.head))


def test_a_session_record_hidden_as_a_digest_fails_the_script(exports: Exports) -> None:
    forged = copy.deepcopy(exports.documents["session"])
    index = next(i for i, s in enumerate(forged["chain"]["steps"]) if '"Deny"' in s.get("record", ""))
    step = forged["chain"]["steps"][index]
    forged["chain"]["steps"][index] = {"id": step["id"], "contentDigest": sha256(step["record"])}
    forged["timeline"] = [e for e in forged["timeline"] if e["decision"] != "Deny"]

    assert "a record of the session is left out between them" in failed(check(forged))


def test_a_clean_session_relabelled_as_another_fails_the_script(exports: Exports) -> None:
    relabelled = copy.deepcopy(exports.documents["clean"])
    relabelled["scope"]["sessionId"] = relabelled["session"]["id"] = exports.ids["session"]
    other_agent = copy.deepcopy(exports.documents["clean"])
    other_agent["session"]["agentId"] = other_agent["agent"]["id"] = exports.ids["bob"]

    assert f"is not of session '{exports.ids['session']}'" in failed(check(relabelled))
    assert f"not the session's '{exports.ids['bob']}'" in failed(check(other_agent))


def test_a_period_relabelled_or_narrowed_fails_the_script(exports: Exports) -> None:
    relabelled = copy.deepcopy(exports.documents["period"])
    relabelled["scope"]["agentId"] = relabelled["agent"]["id"] = exports.ids["bob"]
    narrowed = copy.deepcopy(exports.documents["period"])
    narrowed["scope"]["from"] = narrowed["timeline"][2]["time"]

    assert f"not '{exports.ids['bob']}'" in failed(check(relabelled))
    assert "not within" in failed(check(narrowed))


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        pytest.param(lambda t: t[1].update(tool="delete_everything"), "timeline[1].tool", id="tool-edited"),
        pytest.param(lambda t: t[1].update(tool=None), "timeline[1].tool", id="tool-removed"),
        pytest.param(lambda t: t[2].update(decision="Allow"), "timeline[2].decision", id="decision-edited"),
        pytest.param(lambda t: t[2].update(auditId=t[2]["auditId"] * 1.0), "timeline[2].auditId", id="id-as-float"),
        pytest.param(lambda t: t.pop(2), "not a list of the 5 included records", id="entry-dropped"),
        pytest.param(lambda t: t.insert(1, t.pop(2)), "timeline[1]", id="entries-swapped"),
        pytest.param(lambda t: t[0].update(note="verified by KPMG"), "not an object of exactly", id="field-added"),
    ],
)
def test_a_timeline_that_says_other_than_its_records_fails_the_script(exports: Exports, tamper: Callable[[Any], Any],
                                                                     reason: str) -> None:
    forged = copy.deepcopy(exports.documents["session"])
    tamper(forged["timeline"])

    assert reason in failed(check(forged))


def test_a_session_column_edited_in_the_store_fails_the_script_and_the_daemons_fold(exports: Exports) -> None:
    store, session = exports.ctx.store, exports.ids["session"]
    ids = [r.id for r in store.iter_audit_matching(AuditFilter(session_id=session), 1000)]
    denied = next(r.id for r in store.iter_audit_matching(AuditFilter(session_id=session, decision="Deny"), 1))
    bobs = next(r.id for r in store.iter_audit_matching(AuditFilter(agent_id=exports.ids["bob"]), 1000)
                if r.id > ids[0])
    scope = {"sessionId": session}
    assert inclusion_proof(store, ids, scope).verified is True
    with sqlite3.connect(store.path) as conn:  # the Deny drops out of the session; one of Bob's records joins it
        conn.execute("UPDATE audit_log SET session_id = NULL WHERE id = ?", [denied])
        conn.execute("UPDATE audit_log SET session_id = ? WHERE id = ?", [session, bobs])
    shown = [r.id for r in store.iter_audit_matching(AuditFilter(session_id=session), 1000)]

    assert denied not in shown and bobs in shown
    assert inclusion_proof(store, shown, scope).verified is False
    assert inclusion_proof(store, [i for i in shown if i != bobs], scope).verified is False  # the Deny, hidden
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE audit_log SET session_id = NULL WHERE id = ?", [bobs])

    last = [r.id for r in store.iter_audit_matching(AuditFilter(session_id=exports.ids["clean"]), 1000)]
    with sqlite3.connect(store.path) as conn:  # the clean session's last record: no later record of it shows it
        conn.execute("UPDATE audit_log SET session_id = NULL WHERE id = ?", [last[-1]])
    assert inclusion_proof(store, last[:-1], {"sessionId": exports.ids["clean"]}).verified is False
    answer = check(json.loads(asyncio.run(session_export(exports.ctx, OPERATOR, session)).json_bytes()))
    assert "a record of the session is left out between them" in failed(answer)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xfe{}", id="not-utf-8"),
        pytest.param(b"[]", id="a-list"),
        pytest.param(b"[" * 200_000 + b"]" * 200_000, id="nested-deep"),
        pytest.param(b'{"chain": {"algorithm": "vectra-audit-chain-v2", "steps": [{"id": 1' + b"0" * 5000 + b"}]}}",
                     id="huge-integer"),
        pytest.param(b'{"chain": []}', id="chain-a-list"),
        pytest.param(b'{"chain": {"algorithm": "vectra-audit-chain-v2", "steps": [1, 2]}}', id="steps-of-numbers"),
    ],
)
def test_malformed_input_fails_the_script_never_with_a_traceback(raw: bytes) -> None:
    assert "malformed" not in failed(check(raw))  # each named by a check, not caught as an oversight


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda d: d["chain"]["steps"][0].update(record="[" * 100_000 + "]" * 100_000), id="record-deep"),
        pytest.param(lambda d: d["chain"]["steps"][0].update(
            record=d["chain"]["steps"][0]["record"].replace("session.created", "session.created\ud800")),
            id="lone-surrogate-in-a-record"),
        pytest.param(lambda d: d["chain"]["steps"][0].update(id=True), id="id-a-boolean"),
        pytest.param(lambda d: d["chain"]["steps"][1].update(id=None), id="id-null"),
        pytest.param(lambda d: d["chain"]["steps"][0].update(record=None), id="record-null"),
        pytest.param(lambda d: d["chain"].update(anchorHash=5), id="anchor-a-number"),
        pytest.param(lambda d: d["chain"].update(head="x"), id="head-a-string"),
        pytest.param(lambda d: d["chain"]["head"].update(id="x" * 10_000), id="head-id-a-long-string"),
        pytest.param(lambda d: d.update(timeline=[1, 2, 3, 4, 5]), id="timeline-of-numbers"),
        pytest.param(lambda d: d["timeline"][0].update(auditId={"a": [1]}), id="audit-id-an-object"),
        pytest.param(lambda d: d.update(scope=[]), id="scope-a-list"),
        pytest.param(lambda d: d.update(scope={"sessionId": 5}), id="session-id-a-number"),
        pytest.param(lambda d: d.update(session="x"), id="session-a-string"),
        pytest.param(lambda d: d.update(agent=None), id="agent-null"),
    ],
)
def test_a_hostile_export_fails_the_script_never_with_a_traceback(exports: Exports,
                                                                  tamper: Callable[[Doc], Any]) -> None:
    forged = copy.deepcopy(exports.documents["session"])
    tamper(forged)

    assert "malformed" not in failed(check(forged))  # each named by a check, not caught as an oversight


def fold_hash(steps: list[Doc], anchor: str) -> str:
    """Where folding ``steps`` from ``anchor`` ends, as the script folds them."""
    running = anchor
    for step in steps:
        running = step["hash"] if "record" in step else sha256(running + step["contentDigest"])
    return running


def reseal(chain: Doc, edit: Callable[[Doc], Any]) -> None:
    """Edit the included records and make the whole proof consistent again, hashes, links and head, as a forger with
    the file would: every included record re-linked (``prevHash``, ``sessionPrevHash``) and re-hashed."""
    running, previous = chain["anchorHash"], None
    for step in chain["steps"]:
        if "contentDigest" in step:
            running = sha256(running + step["contentDigest"])
            continue
        record = json.loads(step["record"])
        edit(record)
        record["prevHash"] = running
        if record["details"].get("sessionPrevHash") is not None:
            record["details"]["sessionPrevHash"] = previous
        step["record"] = json.dumps(record, sort_keys=True, separators=(",", ":"))
        step["hash"] = running = previous = sha256(running + sha256(step["record"]))
    chain["endHash"] = running
    chain["head"]["hash"] = running
