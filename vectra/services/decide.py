"""The decision the gateway takes about one outbound request (DESIGN.md pipeline steps 2, 4 and 5).

The agent's policy (compiled once per version, see :mod:`vectra.services.policy_cache`) gives the effect, rule
and reason; the request's risk score is computed first, so that rules may test ``input.risk.score``. An allowed
request whose risk exceeds the agent's HITL threshold — ``base + (trust - 0.5) * k``, the base being the policy's
``hitlThreshold`` or the configured ``VECTRA_HITL_THRESHOLD`` (0.8), and ``k`` ``VECTRA_HITL_TRUST_FACTOR`` (0.4)
— goes to a human with the reason
``High risk score: 0.92``. An agent that is not active, has no policy, or whose policy no longer exists (or no
longer compiles) is denied: Vectra fails closed.

The agent's recent behaviour (``history``: request rate, violations, baseline; see
:mod:`vectra.services.history`) feeds the risk score; without one (simulations) it counts as empty.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from policy_core import AgentHistory, CompiledPolicy, Policy, PolicyError, RiskScorer, compile_policy, hitl_threshold
from vectra.config import Settings
from vectra.domain.models import Agent, AgentStatus
from vectra.domain.policies import GatewayDecision, ShadowVerdict
from vectra.services.context import ServiceContext
from vectra.services.policy_cache import CurrentPolicy

__all__ = ["AgentFacts", "OutboundRequest", "Verdict", "decide", "judge", "request_facts"]

_SCORER = RiskScorer()
_NO_HISTORY = AgentHistory()


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """The call an agent wants to make."""

    method: str
    url: str
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = field(default_factory=dict)  # pairs keep repeats
    body: bytes | str | None = None


@dataclass(frozen=True, slots=True)
class AgentFacts:
    """What a decision knows of the calling agent: a registered one, or one described for a simulation."""

    id: str
    name: str
    owner_id: str | None
    trust_score: float
    roles: Sequence[str]
    policy_name: str | None
    status: AgentStatus = AgentStatus.ACTIVE
    capabilities: Sequence[str] = ()
    #: the slug of the agent's realm, the name policies test (``input.agent.realm``)
    realm: str | None = None

    @classmethod
    def of(cls, agent: Agent) -> AgentFacts:
        return cls(agent.id, agent.name, agent.owner_id, agent.trust_score, tuple(r.value for r in agent.roles),
                   agent.policy_name, agent.status, agent.capabilities, agent.realm.slug if agent.realm else None)


def decide(
    ctx: ServiceContext, agent: AgentFacts, request: OutboundRequest, *, draft: Policy | None = None,
    history: AgentHistory | None = None, current: CurrentPolicy | None = None, shadow: CurrentPolicy | None = None,
) -> GatewayDecision:
    """Decide with the agent's stored policy, or with ``draft`` (a policy being tried, not stored).

    ``current`` is the agent's policy when the caller has just looked it up (the proxy does, for its rate limit),
    so that it isn't looked up twice. ``shadow`` is a policy version that judges the call too, with the same facts
    and risk, and decides nothing: its verdict is the decision's ``shadow``.
    """
    if agent.status is not AgentStatus.ACTIVE:
        return _refused(agent, f"agent is {agent.status.value.lower()}")
    if draft is not None:
        return _evaluate(ctx, agent, request, compile_policy(draft), draft.name, None, history, None)
    if not agent.policy_name:
        return _refused(agent, "agent has no policy assigned")
    try:
        if current is None or current.name != agent.policy_name:
            current = ctx.policies.current(ctx.store, agent.policy_name)
    except PolicyError as exc:
        return _refused(agent, f"policy {agent.policy_name!r} can't be compiled: {exc}", agent.policy_name)
    if current is None:
        return _refused(agent, f"policy {agent.policy_name!r} no longer exists", agent.policy_name)
    return _evaluate(ctx, agent, request, current.compiled, current.name, current.version, history, shadow)


def _evaluate(
    ctx: ServiceContext, agent: AgentFacts, request: OutboundRequest, policy: CompiledPolicy, name: str,
    version: int | None, history: AgentHistory | None, shadow: CurrentPolicy | None,
) -> GatewayDecision:
    now = time.time()
    facts = request_facts(agent, request, now)
    risk = _SCORER.score(facts, history or _NO_HISTORY, now)
    facts["risk"] = {"score": risk.score}
    verdict = judge(ctx.settings, policy, facts, risk.score, agent.trust_score)
    shadowed = None
    if shadow is not None:
        other = judge(ctx.settings, shadow.compiled, facts, risk.score, agent.trust_score)
        shadowed = ShadowVerdict(shadow.name, shadow.version, other.effect, other.rule, other.reason)
    return GatewayDecision(
        effect=verdict.effect,
        rule=verdict.rule,
        reason=verdict.reason,
        agent_id=agent.id,
        trust_score=agent.trust_score,
        risk_score=risk.score,
        risk_factors=dict(risk.factors),
        hitl_threshold=verdict.threshold,
        policy_name=name,
        policy_version=version,
        shadow=shadowed,
    )


def request_facts(agent: AgentFacts, request: OutboundRequest, now: float) -> dict[str, Any]:
    """What a policy sees of one call (``input.*``), but its risk: the caller adds ``risk`` once it is scored."""
    return {
        "method": request.method,
        "url": request.url,
        "headers": request.headers,
        "body": request.body,
        "agent": {
            "id": agent.id,
            "name": agent.name,
            "ownerId": agent.owner_id,
            "trustScore": agent.trust_score,
            "roles": list(agent.roles),
            "capabilities": agent.capabilities,  # a tuple: policies take it as a list
            **({"realm": agent.realm} if agent.realm is not None else {}),
        },
        "time": now,
    }


class Verdict(NamedTuple):
    """A policy's answer about one call, with the trust-adjusted HITL threshold it was held to."""

    effect: str
    rule: str | None
    reason: str | None
    threshold: float


def judge(settings: Settings, policy: CompiledPolicy, facts: Mapping[str, Any], risk: float,
          trust: float) -> Verdict:
    """``policy``'s effect for ``facts`` (which hold ``risk``), an Allow above the agent's HITL threshold going to
    a human: the one rule live calls, shadow policies and replays are all judged by."""
    effect, rule, reason = policy.evaluate(facts)
    base = settings.hitl_threshold if policy.hitl_threshold is None else policy.hitl_threshold
    threshold = hitl_threshold(trust, base, settings.hitl_trust_factor)
    if effect == "Allow" and risk > threshold:
        effect, rule, reason = "Hitl", None, f"High risk score: {risk:.2f}"
    return Verdict(effect, rule, reason, threshold)


def _refused(agent: AgentFacts, reason: str, policy_name: str | None = None) -> GatewayDecision:
    return GatewayDecision(
        effect="Deny", rule=None, reason=reason, agent_id=agent.id, trust_score=agent.trust_score,
        policy_name=policy_name,
    )
