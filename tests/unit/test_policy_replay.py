"""Policy replay over real audit records in a real SQLite store: what a candidate policy changes, judged by the
rule live calls are judged by, from what each record kept of its call."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from policy_core import compile_policy
from vectra.domain.audit import GENESIS_HASH, AuditEntry, AuditFilter, AuditRecord, record_time, seal
from vectra.domain.errors import Forbidden, InvalidInput, NotFound
from vectra.domain.models import Agent, AgentStatus, Principal, Realm, Role
from vectra.domain.sessions import Session, SessionStatus
from vectra.services.audit import verify_chain
from vectra.services.context import ServiceContext
from vectra.services.decide import AgentFacts
from vectra.services.policy_replay import (
    MAX_RECORDS,
    ReplayCandidate,
    ReplayReport,
    ReplayScope,
    replay,
    replay_records,
)
from vectra.services.recorded_call import agent_view, request_view
from vectra.store import SqliteStore

AGENT = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
API = "https://api.example.com"
DAY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
ADMIN = Principal(subject="operator", roles=frozenset({Role.ADMIN}))
#: The agent as its calls' decisions saw it (its trust is each record's own).
BILLING = AgentFacts(AGENT, "billing-bot", "team-finance", 0.5, ("agent",), "live", capabilities=("api_call",),
                     realm="finance")

#: What the agent's calls were decided by when they were made: deletes denied, payments reviewed, the rest allowed.
LIVE = {"name": "live", "default": "Allow", "rules": [
    {"name": "block-deletes", "priority": 100, "effect": "Deny",
     "conditions": [{"field": "input.method", "operator": "eq", "value": "DELETE"}]},
    {"name": "review-payments", "priority": 90, "effect": "Hitl",
     "conditions": [{"field": "input.path", "operator": "startsWith", "value": "/payments"}]},
]}
#: The live rules, and orders reviewed, exports denied, and a lower risk threshold (0.7 for the default 0.8).
STRICTER = {"name": "stricter", "default": "Allow", "hitlThreshold": 0.7, "rules": [
    *LIVE["rules"],
    {"name": "review-orders", "priority": 80, "effect": "Hitl", "reason": "orders need a human",
     "conditions": [{"field": "input.method", "operator": "eq", "value": "POST"},
                    {"field": "input.path", "operator": "startsWith", "value": "/orders"}]},
    {"name": "block-exports", "priority": 70, "effect": "Deny", "reason": "no bulk exports",
     "conditions": [{"field": "input.path", "operator": "startsWith", "value": "/export"}]},
]}
#: Nothing denied, nothing reviewed.
LOOSER = {"name": "looser", "default": "Allow", "rules": []}


@dataclass(frozen=True)
class Call:
    """One governed call as the proxy records it (``details`` as docs/replay.md lists them)."""

    method: str
    path: str
    effect: str | None
    rule: str | None = None
    risk: float = 0.1
    trust: float = 0.5
    headers: Sequence[tuple[str, str]] = (("accept", "application/json"),)
    body: bytes | None = None
    kept: int = 16384  # VECTRA_AUDIT_BODY_BYTES
    action: str = "proxy.request"
    extra: dict[str, Any] = field(default_factory=dict)

    def entry(self) -> AuditEntry:
        details: dict[str, Any] = {"policyName": "live", "policyVersion": 1, **self.extra}
        if self.effect is not None:
            details.update(effect=self.effect, request=request_view(self.headers, self.body, self.kept),
                           agent=agent_view(BILLING))
        return AuditEntry(actor=AGENT, source="proxy", action=self.action, agent_id=AGENT, method=self.method,
                          url=API + self.path, decision=self.effect or "RateLimited", rule=self.rule,
                          risk=self.risk, trust=self.trust, details=details)


def append(store: SqliteStore, calls: Sequence[Call], start: datetime = DAY) -> None:
    """Seal ``calls`` into the chain after the stored head, one a minute from ``start`` (the first a minute after
    it), through the store's append."""

    def chain(head: tuple[int, str] | None) -> list[Any]:
        last_id, prev_hash = head or (0, GENESIS_HASH)
        sealed = []
        for i, call in enumerate(calls, 1):
            moment = start + timedelta(minutes=i)
            sealed.append(seal(call.entry(), record_id=last_id + i, time=record_time(moment), prev_hash=prev_hash))
            prev_hash = sealed[-1].record.hash
        return sealed

    store.append_audit(chain)


async def logged(ctx: ServiceContext, calls: Sequence[Call]) -> None:
    """Record ``calls`` now, through the daemon's audit writer."""
    await ctx.audit.start()
    for call in calls:
        await ctx.audit.append(call.entry())
    await ctx.audit.stop()


def stored(store: SqliteStore) -> list[AuditRecord]:
    """Every record, oldest first, as the store reads it back."""
    return list(reversed(store.list_audit(AuditFilter(), 1, 1000).items))


def judged(store: SqliteStore, ctx: ServiceContext, document: dict[str, Any]) -> ReplayReport:
    return replay_records(ctx.settings, compile_policy(document), stored(store))


def outcomes(report: ReplayReport) -> list[tuple[str, str, str, str | None]]:
    return [(c.url.removeprefix(API), c.original_decision, c.replayed_decision, c.rule) for c in report.changes]


HISTORY = (
    Call("GET", "/users/1", "Allow"),
    Call("POST", "/orders", "Allow", body=b'{"item": 7}'),  # Allow -> Hitl under the stricter policy
    Call("GET", "/export/customers.csv", "Allow"),  # Allow -> Deny
    Call("DELETE", "/users/1", "Deny", rule="block-deletes"),  # stays Deny
    Call("POST", "/payments", "Hitl", rule="review-payments", body=b'{"amount": 12}'),  # stays Hitl
    Call("GET", "/users/2", "Allow", risk=0.75),  # Allow -> Hitl: over 0.7, under 0.8
    Call("GET", "/users/3", "Allow", risk=0.75, trust=0.9),  # 0.7 + (0.9 - 0.5) * 0.4 = 0.86: stays Allow
)


@pytest.fixture
def history(ctx: ServiceContext) -> SqliteStore:
    append(ctx.store, HISTORY)
    return ctx.store


def test_a_stricter_policy_changes_exactly_the_calls_it_would_have_decided_otherwise(
        history: SqliteStore, ctx: ServiceContext) -> None:
    report = judged(history, ctx, STRICTER)

    assert outcomes(report) == [
        ("/orders", "Allow", "Hitl", "review-orders"),
        ("/export/customers.csv", "Allow", "Deny", "block-exports"),
        ("/users/2", "Allow", "Hitl", None),
    ]
    assert (report.total_replayed, report.consistent, report.changed, report.incomplete) == (7, 4, 3, 0)
    assert (report.policy_name, report.policy_version) == ("stricter", None)
    orders, export, risky = report.changes
    assert (orders.method, orders.original_rule, orders.reason) == ("POST", None, "orders need a human")
    assert export.reason == "no bulk exports"
    assert risky.reason == "High risk score: 0.75"  # the record's risk, held to the candidate's threshold
    ids = [r.id for r in stored(history)]
    assert [c.audit_id for c in report.changes] == [ids[1], ids[2], ids[5]]
    assert orders.time == record_time(DAY + timedelta(minutes=2))


def test_the_live_policy_replayed_changes_nothing(history: SqliteStore, ctx: ServiceContext) -> None:
    report = judged(history, ctx, LIVE)
    assert (report.total_replayed, report.consistent, report.changed, report.changes) == (7, 7, 0, ())


def test_a_looser_policy_lets_through_what_was_denied_or_reviewed(history: SqliteStore,
                                                                   ctx: ServiceContext) -> None:
    report = judged(history, ctx, LOOSER)
    assert outcomes(report) == [("/users/1", "Deny", "Allow", None), ("/payments", "Hitl", "Allow", None)]
    assert [c.original_rule for c in report.changes] == ["block-deletes", "review-payments"]


def test_allow_deny_and_hitl_are_three_decisions(ctx: ServiceContext) -> None:
    """A call once reviewed and now denied is a change, as is one once denied and now reviewed."""
    append(ctx.store, [Call("POST", "/payments", "Hitl", rule="review-payments"),
                       Call("DELETE", "/users/1", "Deny", rule="block-deletes")])
    swapped = {"name": "swapped", "default": "Allow", "rules": [
        {"name": "deny-payments", "effect": "Deny",
         "conditions": [{"field": "input.path", "operator": "startsWith", "value": "/payments"}]},
        {"name": "review-deletes", "effect": "Hitl",
         "conditions": [{"field": "input.method", "operator": "eq", "value": "DELETE"}]},
    ]}
    report = judged(ctx.store, ctx, swapped)
    assert outcomes(report) == [("/payments", "Hitl", "Deny", "deny-payments"),
                                ("/users/1", "Deny", "Hitl", "review-deletes")]


def test_the_risk_threshold_is_the_candidates_and_the_risk_the_records(ctx: ServiceContext) -> None:
    append(ctx.store, [Call("GET", f"/users/{i}", "Allow", risk=risk) for i, risk in enumerate((0.5, 0.65, 0.9))])
    # the default threshold (0.8): the 0.9 call, recorded as allowed, would have gone to a human
    assert [c.reason for c in judged(ctx.store, ctx, LOOSER).changes] == ["High risk score: 0.90"]
    lower = {**LOOSER, "hitlThreshold": 0.6}
    assert [(c.url, c.replayed_decision) for c in judged(ctx.store, ctx, lower).changes] == [
        (f"{API}/users/1", "Hitl"), (f"{API}/users/2", "Hitl")]
    # a rule testing the risk sees the record's score
    risky = {**LOOSER, "hitlThreshold": 1, "rules": [{"name": "risky", "effect": "Deny", "conditions": [
        {"field": "input.risk.score", "operator": "gt", "value": 0.6}]}]}
    assert [c.url for c in judged(ctx.store, ctx, risky).changes] == [f"{API}/users/1", f"{API}/users/2"]


def test_the_calls_time_is_the_records(ctx: ServiceContext) -> None:
    night = datetime(2026, 11, 30, 2, 30, tzinfo=UTC)
    append(ctx.store, [Call("GET", "/users/1", "Allow")], start=night)
    append(ctx.store, [Call("GET", "/users/2", "Allow")], start=DAY)
    no_nights = {**LOOSER, "rules": [{"name": "no-nights", "effect": "Deny", "conditions": [
        {"field": "input.time.hour", "operator": "lt", "value": 6}]}]}
    assert outcomes(judged(ctx.store, ctx, no_nights)) == [("/users/1", "Allow", "Deny", "no-nights")]


def test_the_agent_is_judged_as_the_decision_saw_it(ctx: ServiceContext) -> None:
    append(ctx.store, [Call("GET", "/users/1", "Allow", trust=0.3)])
    rules = [
        {"name": "finance", "effect": "Deny",
         "conditions": [{"field": "input.agent.realm", "operator": "eq", "value": "finance"}]},
        {"name": "low-trust", "effect": "Deny",
         "conditions": [{"field": "input.agent.trustScore", "operator": "lt", "value": 0.4}]},
        {"name": "api-callers", "effect": "Deny",
         "conditions": [{"field": "input.agent.capabilities", "operator": "contains", "value": "api_call"}]},
        {"name": "owner", "effect": "Deny",
         "conditions": [{"field": "input.agent.ownerId", "operator": "eq", "value": "team-finance"}]},
    ]
    for rule in rules:
        report = judged(ctx.store, ctx, {**LOOSER, "rules": [rule]})
        assert [c.rule for c in report.changes] == [rule["name"]]


def test_secret_headers_are_seen_as_the_record_kept_them_redacted(ctx: ServiceContext) -> None:
    append(ctx.store, [Call("GET", "/users/1", "Allow",
                            headers=(("Authorization", "Bearer s3cret"), ("X-Api-Key", "k-123"),
                                     ("X-Tenant", "acme")))])
    def denying(header: str, value: str) -> dict[str, Any]:
        return {**LOOSER, "rules": [{"name": "r", "effect": "Deny", "conditions": [
            {"field": f"input.headers.{header}", "operator": "eq", "value": value}]}]}

    assert judged(ctx.store, ctx, denying("authorization", "[redacted]")).changed == 1
    assert judged(ctx.store, ctx, denying("x-api-key", "[redacted]")).changed == 1
    assert judged(ctx.store, ctx, denying("authorization", "Bearer s3cret")).changed == 0
    assert judged(ctx.store, ctx, denying("x-tenant", "acme")).changed == 1


def test_bodies_and_mcp_calls_are_judged_and_a_truncated_body_is_incomplete(ctx: ServiceContext) -> None:
    mcp = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "delete_repo", "arguments": {"repo": "acme/site"}}}).encode()
    big = json.dumps({"rows": ["x" * 100] * 40, "drop": True}).encode()  # 4 KB, its end past what was kept
    append(ctx.store, [
        Call("POST", "/mcp", "Allow", body=mcp, extra={"mcp": {"method": "tools/call", "tool": "delete_repo"}}),
        Call("POST", "/import", "Allow", body=big, kept=1024),
        Call("POST", "/blob", "Allow", body=bytes(range(256)) + b"drop"),
        Call("POST", "/short", "Allow", body=b'{"drop": true}'),
    ])
    on_body = {**LOOSER, "rules": [
        {"name": "no-repo-deletes", "effect": "Deny",
         "conditions": [{"field": "input.mcp.tool", "operator": "eq", "value": "delete_repo"}]},
        {"name": "no-drops", "effect": "Deny",
         "conditions": [{"field": "input.body", "operator": "contains", "value": "drop"}]},
    ]}
    report = judged(ctx.store, ctx, on_body)

    assert outcomes(report) == [("/mcp", "Allow", "Deny", "no-repo-deletes"), ("/blob", "Allow", "Deny", "no-drops"),
                                ("/short", "Allow", "Deny", "no-drops")]
    assert report.changes[0].tool == "delete_repo" and report.changes[1].tool is None
    assert not any(c.body_truncated for c in report.changes)
    # the import's "drop" was past the kept kilobyte: judged on what was kept, and counted as incomplete
    assert (report.total_replayed, report.incomplete) == (4, 1)
    flagged = judged(ctx.store, ctx, {**LOOSER, "rules": [{"name": "imports", "effect": "Hitl", "conditions": [
        {"field": "input.path", "operator": "eq", "value": "/import"}]}]})
    assert [(c.url, c.body_truncated) for c in flagged.changes] == [(f"{API}/import", True)]
    assert flagged.incomplete == 1


def test_records_of_no_decision_are_skipped(ctx: ServiceContext) -> None:
    append(ctx.store, [
        Call("GET", "/users/1", None),  # rate limited before any decision: no details.effect
        Call("GET", "/users/2", "Allow", action="proxy.check"),
        Call("GET", "/users/3", "Allow", action="policy.put"),
        Call("GET", "/users/4", "Allow"),
    ])
    ctx.store.append_audit(lambda head: [seal(AuditEntry(actor="operator", source="control_plane",
                                                         action="agent.created", agent_id=AGENT),
                                              record_id=head[0] + 1, time=record_time(DAY), prev_hash=head[1])])
    report = judged(ctx.store, ctx, {**LOOSER, "default": "Deny"})
    assert [c.url.removeprefix(API) for c in report.changes] == ["/users/2", "/users/4"]
    assert (report.total_replayed, report.consistent) == (2, 0)
    assert verify_chain(ctx.store.iter_audit()).valid  # the records are the chain's own


def test_more_than_100000_records_asks_for_a_narrower_scope(ctx: ServiceContext) -> None:
    """Every record the scope holds counts, the skipped ones too: the bound is on what a replay reads."""
    append(ctx.store, [Call("POST", "/orders", "Allow"), Call("GET", "/users/1", None)])
    changed, skipped = stored(ctx.store)
    compiled = compile_policy(STRICTER)
    report = replay_records(ctx.settings, compiled,
                            itertools.chain([changed], itertools.repeat(skipped, MAX_RECORDS - 1)))
    assert (report.total_replayed, report.changed) == (1, 1)
    with pytest.raises(InvalidInput, match="more than 100,000 records: replay a shorter period"):
        replay_records(ctx.settings, compiled, itertools.chain([changed], itertools.repeat(skipped, MAX_RECORDS)))


# --- the service ------------------------------------------------------------------------------------------------
def agent(realm: Realm | None = None) -> Agent:
    return Agent(id=AGENT, name="billing-bot", owner_id="team-finance", status=AgentStatus.ACTIVE,
                 policy_name="live", trust_score=0.5, roles=(Role.AGENT,), created_at=DAY - timedelta(days=1),
                 last_seen_at=None, secret_hash=b"", capabilities=("api_call",), realm=realm)


def period(start: datetime = DAY, hours: float = 24) -> ReplayScope:
    return ReplayScope(agent_id=AGENT, time_from=start.isoformat(),
                       time_to=(start + timedelta(hours=hours)).isoformat())


def run(ctx: ServiceContext, scope: ReplayScope, candidate: ReplayCandidate,
        principal: Principal = ADMIN) -> ReplayReport:
    return asyncio.run(replay(ctx, principal, scope, candidate))


def test_a_bad_inline_document_is_refused_pointing_at_the_problem(ctx: ServiceContext) -> None:
    bad = {**LOOSER, "rules": [{"name": "r", "effect": "Sometimes"}]}
    with pytest.raises(InvalidInput) as caught:
        run(ctx, period(), ReplayCandidate(document=bad))
    assert caught.value.extra["pointer"] == "policy.document.rules[0].effect"
    assert caught.value.detail.startswith("policy.document.rules[0].effect: ")
    with pytest.raises(InvalidInput, match=r"^policy\.document: "):
        run(ctx, period(), ReplayCandidate(document="rules: [unclosed"))
    with pytest.raises(InvalidInput, match=r"give either policy\.name or policy\.document"):
        run(ctx, period(), ReplayCandidate(policy_name="live", document=LOOSER))


def test_a_scope_is_a_session_or_an_agents_period(ctx: ServiceContext) -> None:
    with pytest.raises(InvalidInput, match="give either sessionId or agentId"):
        run(ctx, ReplayScope(), ReplayCandidate(document=LOOSER))
    with pytest.raises(InvalidInput, match="to is required"):
        run(ctx, ReplayScope(agent_id=AGENT, time_from=DAY.isoformat()), ReplayCandidate(document=LOOSER))
    with pytest.raises(InvalidInput, match="from must not be after to"):
        run(ctx, period(hours=-1), ReplayCandidate(document=LOOSER))
    for written in ("yesterday", "2026-11-30T09:00:00"):  # not a date-time; no offset
        with pytest.raises(InvalidInput, match=r"^from must be an RFC 3339 date-time with an offset") as caught:
            run(ctx, dataclasses.replace(period(), time_from=written), ReplayCandidate(document=LOOSER))
        assert caught.value.extra["pointer"] == "from"
    with pytest.raises(InvalidInput, match=r"^to must be an RFC 3339 date-time with an offset"):
        run(ctx, dataclasses.replace(period(), time_to="9999-12-31T23:59:59-23:59"), ReplayCandidate(document=LOOSER))
    with pytest.raises(InvalidInput, match="give either sessionId or agentId"):
        run(ctx, dataclasses.replace(period(), session_id="vs_" + "0" * 32), ReplayCandidate(document=LOOSER))
    with pytest.raises(InvalidInput, match="sessionId must be a session id"):
        run(ctx, ReplayScope(session_id="vs_nope"), ReplayCandidate(document=LOOSER))
    with pytest.raises(InvalidInput, match="agentId must be a UUID"):
        run(ctx, dataclasses.replace(period(), agent_id="nope"), ReplayCandidate(document=LOOSER))


def test_only_admins_and_reviewers_replay(ctx: ServiceContext) -> None:
    caller = Principal(subject=AGENT, roles=frozenset({Role.AGENT}))
    with pytest.raises(Forbidden, match="replaying calls needs the admin or reviewer role"):
        run(ctx, period(), ReplayCandidate(document=LOOSER), principal=caller)


OTHER = "9b2f6c1e-0d4e-4a8e-9a55-3f1d2c7b8e90"
FINANCE = Realm(id="5a0f3c2e-8b1d-4c6f-9e7a-2d4b6c8e0f1a", name="Finance", slug="finance", color=None,
                created_at=DAY - timedelta(days=30))
SALES = Realm(id="6b1e4d3f-9c2e-4d7a-8f6b-3e5c7d9f1a2b", name="Sales", slug="sales", color=None,
              created_at=DAY - timedelta(days=30))


def reviewer_of(realm: Realm) -> Principal:
    overseer = dataclasses.replace(agent(realm), id=OTHER, name="sales-reviewer", roles=(Role.REVIEWER,),
                                   scope_realms=(realm.id,))
    return Principal(subject=OTHER, roles=frozenset({Role.REVIEWER}), agent=overseer)


@pytest.fixture
def registered(ctx: ServiceContext) -> ServiceContext:
    """The agent (of the finance realm) with a day of calls, and the live and stricter policies stored."""
    for realm in (FINANCE, SALES):
        ctx.store.insert_realm(realm)
    ctx.store.insert_agent(agent(FINANCE))
    for document in (LIVE, STRICTER):
        ctx.store.save_policy(document["name"], json.dumps(document), "test", DAY)
    append(ctx.store, HISTORY)
    return ctx


def test_an_agents_period_replays_its_records_of_that_period_alone(registered: ServiceContext) -> None:
    ctx = registered
    foreign = dataclasses.replace(Call("GET", "/export/all", "Allow").entry(), actor=OTHER, agent_id=OTHER)
    ctx.store.append_audit(lambda head: [seal(foreign, record_id=head[0] + 1, time=record_time(DAY + timedelta(
        minutes=30)), prev_hash=head[1])])
    append(ctx.store, [Call("GET", "/export/tomorrow.csv", "Allow")], start=DAY + timedelta(days=1))

    report = run(ctx, period(), ReplayCandidate(policy_name="stricter"))
    assert outcomes(report) == [("/orders", "Allow", "Hitl", "review-orders"),
                                ("/export/customers.csv", "Allow", "Deny", "block-exports"),
                                ("/users/2", "Allow", "Hitl", None)]
    assert (report.total_replayed, report.policy_name, report.policy_version) == (7, "stricter", 1)
    # the first five minutes (both ends included): the first five calls, one a minute, the risky one after them
    early = run(ctx, period(hours=5 / 60), ReplayCandidate(document=STRICTER))
    assert (early.total_replayed, early.changed, early.policy_version) == (5, 2, None)


def test_a_stored_policy_is_its_current_version_or_the_one_named(registered: ServiceContext) -> None:
    ctx = registered
    ctx.store.save_policy("stricter", json.dumps(LOOSER | {"name": "stricter"}), "test", DAY)
    current = run(ctx, period(), ReplayCandidate(policy_name="stricter"))
    assert (current.policy_version, [c.replayed_decision for c in current.changes]) == (2, ["Allow", "Allow"])
    first = run(ctx, period(), ReplayCandidate(policy_name="stricter", version=1))
    assert (first.policy_version, first.changed) == (1, 3)
    with pytest.raises(NotFound, match="policy 'stricter' has no version 3"):
        run(ctx, period(), ReplayCandidate(policy_name="stricter", version=3))
    with pytest.raises(NotFound, match="policy 'nowhere' not found"):
        run(ctx, period(), ReplayCandidate(policy_name="nowhere"))
    with pytest.raises(InvalidInput) as caught:
        run(ctx, period(), ReplayCandidate(policy_name="stricter", version=0))
    assert caught.value.extra["pointer"] == "policy.version"


def test_a_sessions_records_are_replayed_alone(registered: ServiceContext) -> None:
    ctx = registered
    session = Session(id="vs_" + "ab" * 16, agent_id=AGENT, stored_status=SessionStatus.COMPLETED, metadata={},
                      created_at=DAY, expires_at=DAY + timedelta(hours=8))
    assert ctx.store.open_session(session, 10, 50) is None
    asyncio.run(logged(ctx, [Call("POST", "/orders", "Allow", extra={"sessionId": session.id}),
                             Call("DELETE", "/users/9", "Deny", rule="block-deletes",
                                  extra={"sessionId": session.id})]))
    report = run(ctx, ReplayScope(session_id=session.id), ReplayCandidate(policy_name="stricter"))
    assert (report.total_replayed, outcomes(report)) == (2, [("/orders", "Allow", "Hitl", "review-orders")])
    with pytest.raises(NotFound, match=r"session vs_0+ not found"):
        run(ctx, ReplayScope(session_id="vs_" + "0" * 32), ReplayCandidate(document=LOOSER))
    with pytest.raises(NotFound, match=f"session {session.id} not found"):  # not the reviewer's realm
        run(ctx, ReplayScope(session_id=session.id), ReplayCandidate(document=LOOSER), principal=reviewer_of(SALES))


def test_an_agent_the_caller_does_not_oversee_is_not_found(registered: ServiceContext) -> None:
    ctx = registered
    with pytest.raises(NotFound, match=f"agent {AGENT} not found"):
        run(ctx, period(), ReplayCandidate(document=LOOSER), principal=reviewer_of(SALES))
    with pytest.raises(NotFound, match=f"agent {OTHER} not found"):
        run(ctx, dataclasses.replace(period(), agent_id=OTHER), ReplayCandidate(document=LOOSER))
    # a reviewer of the agent's realm replays it
    assert run(ctx, period(), ReplayCandidate(document=LOOSER), principal=reviewer_of(FINANCE)).changed == 2
