"""decide() and the compiled-policy cache over a real SQLite store: fail closed, no stale compile."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from vectra.domain.models import AgentStatus
from vectra.services.context import ServiceContext
from vectra.services.decide import AgentFacts, OutboundRequest, decide

DELETE_ALL = OutboundRequest("DELETE", "https://api.example.com/users/all")
READ_ONE = OutboundRequest("GET", "https://api.example.com/users/7")


def save(ctx: ServiceContext, name: str, **document: object) -> None:
    ctx.store.save_policy(name, json.dumps({"name": name, "rules": [], **document}), "test", datetime.now(UTC))


def agent(policy_name: str | None, trust: float = 0.5, status: AgentStatus = AgentStatus.ACTIVE) -> AgentFacts:
    return AgentFacts("a-1", "agent", None, trust, ("agent",), policy_name, status)


def test_an_agent_without_a_policy_is_denied(ctx: ServiceContext) -> None:
    decision = decide(ctx, agent(None), READ_ONE)
    assert (decision.effect, decision.rule, decision.reason) == ("Deny", None, "agent has no policy assigned")


def test_a_policy_that_no_longer_exists_denies(ctx: ServiceContext) -> None:
    save(ctx, "short-lived", default="Allow")
    assert decide(ctx, agent("short-lived"), READ_ONE).effect == "Allow"
    ctx.store.delete_policy("short-lived")
    decision = decide(ctx, agent("short-lived"), READ_ONE)
    assert (decision.effect, decision.reason) == ("Deny", "policy 'short-lived' no longer exists")


def test_a_stored_policy_that_no_longer_compiles_denies(ctx: ServiceContext) -> None:
    save(ctx, "broken", rules=[{"name": "r", "effect": "Sometimes"}])
    decision = decide(ctx, agent("broken"), READ_ONE)
    assert decision.effect == "Deny"
    assert decision.reason is not None and decision.reason.startswith("policy 'broken' can't be compiled: rules[0]")
    assert len(ctx.policies) == 1  # the failure is kept: the next decision does not compile the document again
    assert decide(ctx, agent("broken"), READ_ONE).reason == decision.reason


def test_an_agent_that_is_not_active_is_denied_before_its_policy(ctx: ServiceContext) -> None:
    save(ctx, "open", default="Allow")
    decision = decide(ctx, agent("open", status=AgentStatus.QUARANTINED), READ_ONE)
    assert (decision.effect, decision.reason, decision.risk_score) == ("Deny", "agent is quarantined", None)


def test_a_policy_is_compiled_once_per_version(ctx: ServiceContext) -> None:
    save(ctx, "cached", default="Allow")
    first = ctx.policies.current(ctx.store, "cached")
    again = ctx.policies.current(ctx.store, "cached")
    assert first is not None and again is not None and first.compiled is again.compiled
    save(ctx, "cached", default="Deny")
    decision = decide(ctx, agent("cached"), READ_ONE)
    assert (decision.effect, decision.policy_version) == ("Deny", 2)
    assert len(ctx.policies) == 2


def test_a_recreated_policy_is_not_decided_by_its_predecessors_compile(ctx: ServiceContext) -> None:
    save(ctx, "phoenix", default="Allow")
    assert decide(ctx, agent("phoenix"), READ_ONE).effect == "Allow"
    ctx.store.delete_policy("phoenix")
    save(ctx, "phoenix", default="Deny")
    decision = decide(ctx, agent("phoenix"), READ_ONE)
    assert (decision.effect, decision.policy_version) == ("Deny", 1)


def test_an_allowed_call_above_the_trust_adjusted_threshold_goes_to_a_human(ctx: ServiceContext) -> None:
    save(ctx, "open", default="Allow")
    risky = decide(ctx, agent("open", trust=0.1), DELETE_ALL)
    assert risky.effect == "Hitl" and risky.rule is None
    assert risky.reason == f"High risk score: {risky.risk_score:.2f}"
    assert risky.hitl_threshold == pytest.approx(0.64)
    assert sum(risky.risk_factors.values()) == pytest.approx(risky.risk_score)

    trusted = decide(ctx, agent("open", trust=0.9), DELETE_ALL)
    assert trusted.effect == "Allow" and trusted.hitl_threshold == pytest.approx(0.96)


def test_the_policys_hitl_threshold_is_the_base_and_rules_may_test_the_risk(ctx: ServiceContext) -> None:
    save(ctx, "strict", default="Allow", hitlThreshold=0.3)
    assert decide(ctx, agent("strict"), READ_ONE).effect == "Allow"
    assert decide(ctx, agent("strict"), DELETE_ALL).hitl_threshold == pytest.approx(0.3)
    save(ctx, "by-risk", default="Allow", rules=[
        {"name": "risky", "effect": "Deny", "reason": "too risky",
         "conditions": [{"field": "input.risk.score", "operator": "gt", "value": 0.5}]}])
    decision = decide(ctx, agent("by-risk"), DELETE_ALL)
    assert (decision.effect, decision.rule, decision.reason) == ("Deny", "risky", "too risky")
