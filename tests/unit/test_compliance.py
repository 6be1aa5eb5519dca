"""Compliance exports built from a real store: a session's and a period's document, its proof checked by the
auditor's script, its printable page, and who may export what."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from vectra.config import Settings
from vectra.domain.audit import AuditEntry, AuditFilter
from vectra.domain.errors import Forbidden, InvalidInput, NotFound
from vectra.domain.models import Agent, Governance, Principal, Role, ShadowPolicy
from vectra.domain.policies import GatewayDecision
from vectra.forward.target import parse_target
from vectra.services import hitl
from vectra.services.agents import register_agent
from vectra.services.audit_proof import ChainProof
from vectra.services.auth import OPERATOR
from vectra.services.compliance import Export, ParkedOutcomes, build_export, period_export, session_export
from vectra.services.context import ServiceContext
from vectra.services.keyring import Keyring
from vectra.services.parking import new_pending, park
from vectra.services.sessions import complete_session, get_session, start_session
from vectra.store import SqliteStore

SCRIPT = Path(__file__).parents[1] / "tools" / "verify_export.py"
HOSTILE_URL = "https://api.example.com/<script>alert(1)</script>?q=\"x\"&y=1"
T = TypeVar("T")
Exported = tuple[Export, Export, str, str]  # the session's export, the period's, Alice's id, Bob's


def run(ctx: ServiceContext, scenario: Callable[[], Awaitable[T]]) -> T:
    """``scenario`` with the context's audit writer running, as in the daemon."""
    async def wrapped() -> T:
        await ctx.audit.start()
        try:
            return await scenario()
        finally:
            await ctx.audit.stop()

    return asyncio.run(wrapped())


async def call(ctx: ServiceContext, agent: str, decision: str, session: str | None = None, **details: Any) -> None:
    """A governed call's record, as the proxy writes it."""
    await ctx.audit.append(AuditEntry(
        actor=agent, source="proxy", action="proxy.request", agent_id=agent, method="POST", url=HOSTILE_URL,
        decision=decision, rule="r1", reason=f"{decision} by r1",
        details={"policyName": "billing", "policyVersion": 3, **({"sessionId": session} if session else {}),
                 **details},
    ))


@pytest.fixture
def exported(ctx: ServiceContext) -> Exported:
    """Alice's session (three calls, interleaved with Bob's, one an MCP tool call) and her whole day, exported."""
    async def scenario() -> Exported:
        alice = (await register_agent(ctx, OPERATOR, name="alice", owner_id="o")).agent
        bob = (await register_agent(ctx, OPERATOR, name="bob", owner_id="o")).agent
        session = await start_session(ctx, OPERATOR, alice.id, {"ticket": "T-1"})
        await call(ctx, bob.id, "Allow")
        await call(ctx, alice.id, "Allow", session.id, mcp={"method": "tools/call", "tool": "search"})
        await call(ctx, bob.id, "Deny")
        await call(ctx, alice.id, "Deny", session.id)
        await call(ctx, bob.id, "Allow")
        await call(ctx, alice.id, "Hitl", session.id, pendingId="gone")
        await call(ctx, alice.id, "Allow")  # outside the session
        await complete_session(ctx, OPERATOR, session.id)
        await call(ctx, bob.id, "Allow")
        day = datetime.now(UTC) - timedelta(hours=1)
        period = await period_export(ctx, OPERATOR, alice.id, day.isoformat(), (day + timedelta(hours=2)).isoformat())
        return await session_export(ctx, OPERATOR, session.id), period, alice.id, bob.id

    return run(ctx, scenario)


def verify(document: bytes) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "-"], input=document.decode(), capture_output=True,
                          text=True, timeout=60, check=False)


def test_a_session_export_summarises_its_calls_and_its_proof_verifies(exported: Exported) -> None:
    session_doc, _, alice, bob = exported
    document = json.loads(session_doc.json_bytes())
    answer = verify(session_doc.json_bytes())

    assert answer.returncode == 0, answer.stderr
    assert document["kind"] == "vectra.compliance/v1" and document["scope"] == {"sessionId": document["session"]["id"]}
    assert document["session"]["status"] == "completed" and document["session"]["metadata"] == {"ticket": "T-1"}
    assert document["agent"] == {"id": alice, "name": "alice", "realm": None}
    assert document["governanceProfile"]["limits"] == {"maxSessionHours": 8, "maxDailySessions": 50,
                                                       "maxConcurrentSessions": 10, "maxDelegationDepth": 0}
    assert document["summary"] == {"totalEvents": 5, "governed": 3, "allowed": 1, "denied": 1, "pending": 0,
                                   "approvalsUsed": 0, "hitl": 1, "denialRate": 0.3333, "denialRatePercent": "33.33%"}
    assert [e["action"] for e in document["timeline"]] == [
        "session.created", "proxy.request", "proxy.request", "proxy.request", "session.completed"]
    assert document["timeline"][1]["tool"] == "search"
    assert document["chain"]["verified"] is True
    assert bob not in session_doc.json_bytes().decode()  # Bob's interleaved records are digests only


async def upstream() -> asyncio.Server:
    """A real upstream on a loopback port that answers every request 200 (where an approved request is sent)."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0)


async def parked_call(ctx: ServiceContext, agent: str, session: str, url: str) -> str:
    """A call parked for review in ``session``, stored and recorded as the proxy does it; its pending id."""
    decision = GatewayDecision(effect="Hitl", rule="review", reason="a human reviews this", agent_id=agent,
                               trust_score=0.5, risk_score=0.6, policy_name="billing", policy_version=3)
    pending = new_pending(ctx, agent, "POST", parse_target(url), [("Content-Type", "text/plain")], b"pay",
                          decision, None, session)
    entry = AuditEntry(actor=agent, source="proxy", action="proxy.request", agent_id=agent, method="POST", url=url,
                       decision="Hitl", rule="review", reason="a human reviews this",
                       details={"pendingId": pending.id, "sessionId": session})
    assert await park(ctx, pending, entry, dataclasses.replace(entry, decision="HitlQueueFull"))
    return pending.id


def test_a_session_export_counts_its_parked_requests_as_the_session_does(tmp_path: Path) -> None:
    """Two calls parked in a session, one approved by a reviewer (and sent): the summary's ``pending`` and
    ``approvalsUsed`` are the session's own ``counts.pending`` and ``counts.approved``."""
    store = SqliteStore(tmp_path / "vectra.db")
    ctx = ServiceContext(settings=Settings(data_dir=tmp_path, upstream_allow_cidrs=("127.0.0.1/32",)), store=store,
                         keyring=Keyring("k", {"k": b"k" * 32}), admin_token="t" * 32, digest_key=b"d" * 32)
    reviewer = Principal(subject="rita", roles=frozenset({Role.REVIEWER}))

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        server = await upstream()
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/pay"
        try:
            alice = (await register_agent(ctx, OPERATOR, name="alice", owner_id="o")).agent
            session = await start_session(ctx, OPERATOR, alice.id)
            approved = await parked_call(ctx, alice.id, session.id, url)
            await parked_call(ctx, alice.id, session.id, url)
            await hitl.approve(ctx, reviewer, approved)
            shown = (await get_session(ctx, OPERATOR, session.id)).counts
            document = (await session_export(ctx, reviewer, session.id)).document
            return {"pending": shown.pending, "approved": shown.approved}, document
        finally:
            server.close()
            await ctx.close_forwarder()

    try:
        counts, document = run(ctx, scenario)
    finally:
        store.close()

    assert counts == {"pending": 1, "approved": 1}
    assert document["session"]["counts"]["pending"] == document["summary"]["pending"] == counts["pending"]
    assert document["session"]["counts"]["approved"] == document["summary"]["approvalsUsed"] == counts["approved"]
    assert document["summary"]["hitl"] == 2
    approval = next(c for c in document["controls"] if c["id"] == "approval-routing")
    assert approval["evidence"] == "2 calls routed to human review: 1 approved, 1 still waiting"


def test_the_controls_say_what_the_records_and_the_agent_show(exported: Exported) -> None:
    controls = {c["id"]: c for c in exported[0].document["controls"]}

    assert {k: c["status"] for k, c in controls.items()} == {
        "policy-evaluation": "in effect", "hash-chain": "in effect", "approval-routing": "in effect",
        "session-limits": "in effect", "shadow-policy": "not in effect", "secret-redaction": "in effect"}
    assert controls["policy-evaluation"]["evidence"] == "governed calls judged by billing v3"
    assert controls["approval-routing"]["evidence"].startswith("1 calls routed to human review")
    assert exported[0].document["chain"]["endHash"] in controls["hash-chain"]["evidence"]


def test_a_period_export_holds_every_record_of_the_agent_in_it(exported: Exported) -> None:
    _, period, alice, _ = exported
    document = period.document
    answer = verify(period.json_bytes())

    assert answer.returncode == 0, answer.stderr
    assert document["session"] is None and document["scope"]["agentId"] == alice
    assert [e["action"] for e in document["timeline"]][:2] == ["agent.registered", "session.created"]
    assert document["summary"]["governed"] == 4 and document["summary"]["allowed"] == 2


def test_the_printable_page_is_self_contained_and_escapes_every_value(exported: Exported) -> None:
    page = exported[0].html()

    assert page.startswith("<!DOCTYPE html>") and "@media print" in page
    assert "<script" not in page and not re.search(r"\b(src|href)=|<link|@import|url\(", page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&quot;x&quot;&amp;y=1" in page
    assert exported[0].document["chain"]["anchorHash"] in page and "verify_export.py" in page
    assert page.count("<tr>") == 1 + 6 + 1 + 5  # controls and timeline, with their heads


def test_a_tampered_export_fails_the_script(exported: Exported) -> None:
    document = json.loads(exported[0].json_bytes())
    document["timeline"][2]["decision"] = "Allow"  # a denial hidden from the timeline

    answer = verify(json.dumps(document).encode())

    assert answer.returncode == 1 and "timeline[2].decision" in answer.stderr


def test_only_overseers_of_the_agent_export(ctx: ServiceContext) -> None:
    async def scenario() -> list[type[Exception]]:
        alice = (await register_agent(ctx, OPERATOR, name="alice", owner_id="o")).agent
        session = await start_session(ctx, OPERATOR, alice.id)
        elsewhere = principal(alice, Role.REVIEWER, scope_realms=("another-realm",))
        refused = []
        for who in (principal(alice, Role.AGENT), elsewhere):
            for attempt in (session_export(ctx, who, session.id),
                            period_export(ctx, who, alice.id, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z")):
                try:
                    await attempt
                except (Forbidden, NotFound) as exc:
                    refused.append(type(exc))
        return refused

    assert run(ctx, scenario) == [Forbidden, Forbidden, NotFound, NotFound]


@pytest.mark.parametrize(("time_from", "time_to", "pointer"), [
    ("yesterday", "2026-01-02T00:00:00Z", "from"),
    ("2026-01-01T00:00:00", "2026-01-02T00:00:00Z", "from"),  # no offset
    ("2026-01-03T00:00:00Z", "2026-01-02T00:00:00Z", "from"),  # after to
    ("2026-01-01T00:00:00Z", None, "to"),
])
def test_a_period_must_be_two_ordered_date_times(ctx: ServiceContext, time_from: str, time_to: str | None,
                                                 pointer: str) -> None:
    async def scenario() -> InvalidInput:
        alice = (await register_agent(ctx, OPERATOR, name="alice", owner_id="o")).agent
        with pytest.raises(InvalidInput) as refused:
            await period_export(ctx, OPERATOR, alice.id, time_from, time_to)
        return refused.value

    assert run(ctx, scenario).extra.get("pointer") == pointer


def test_a_document_without_governed_calls_has_a_zero_denial_rate_and_no_controls_it_cannot_show(
    ctx: ServiceContext,
) -> None:
    async def scenario() -> Agent:
        return (await register_agent(ctx, OPERATOR, name="quiet", owner_id="o")).agent

    since = datetime(2026, 1, 1, tzinfo=UTC)
    agent = dataclasses.replace(run(ctx, scenario), shadow=ShadowPolicy("candidate", 2, since))
    records = list(ctx.store.iter_audit_matching(AuditFilter(agent_id=agent.id), 10))
    document = build_export(
        scope={"agentId": agent.id, "from": "a", "to": "b"}, session=None, agent=agent, policy=(None, None),
        limits=Governance(1.5, 2, 3, 0), records=records,
        proof=ChainProof(anchor_hash=None, steps=(), end_hash=None, head=None, verified=True),
        parked=ParkedOutcomes(), generated_at=datetime(2026, 1, 31, tzinfo=UTC),
    ).document
    controls = {c["id"]: c["status"] for c in document["controls"]}

    assert (document["summary"]["denialRate"], document["summary"]["denialRatePercent"]) == (0.0, "0.00%")
    assert document["governanceProfile"]["shadowPolicy"] == {"policyName": "candidate", "policyVersion": 2,
                                                             "since": "2026-01-01T00:00:00Z"}
    assert controls == {"policy-evaluation": "not in effect", "hash-chain": "not in effect",
                        "approval-routing": "not in effect", "session-limits": "in effect",
                        "shadow-policy": "in effect", "secret-redaction": "in effect"}


def principal(like: Agent, role: Role, scope_realms: tuple[str, ...] = ()) -> Principal:
    """A caller with ``role`` (another agent, built from ``like``)."""
    agent = dataclasses.replace(like, id="0e6c7d8a-1b2c-4d3e-8f90-a1b2c3d4e5f6", name="caller", roles=(role,),
                                scope_realms=scope_realms)
    return Principal(subject=agent.id, roles=frozenset({role}), agent=agent)


def test_an_export_renders_as_json_or_a_page_and_refuses_any_other_format(exported: Exported) -> None:
    export = exported[0]

    assert export.render() == export.render("json") == ("application/json", export.json_bytes())
    assert export.render("html") == ("text/html; charset=utf-8", export.html().encode())
    with pytest.raises(InvalidInput) as refused:
        export.render("pdf")
    assert (str(refused.value), refused.value.extra.get("pointer")) == ("format must be one of json, html", "format")
