"""Stored policies, their versions, and the decisions the gateway takes with them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "GatewayDecision", "PolicyHead", "PolicyProblem", "PolicyRecord", "PolicyVersion", "PutOutcome", "ShadowVerdict",
]


@dataclass(frozen=True, slots=True)
class PolicyHead:
    """Which version of a policy is current. ``created_at`` tells a re-created policy from the deleted one."""

    name: str
    version: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    """One version of a policy with the policy's own timestamps.

    ``document`` is the canonical mapping (``policy_core.policy_to_document``); ``updated_at``/``updated_by``
    say when and by whom this version was stored; ``current`` whether it is the policy's current version.
    """

    name: str
    version: int
    document: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    updated_by: str
    current: bool = True

    @property
    def rule_count(self) -> int:
        return len(self.document.get("rules", ()))


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    """One entry of a policy's history."""

    name: str
    version: int
    created_at: datetime
    created_by: str
    rule_count: int


@dataclass(frozen=True, slots=True)
class PutOutcome:
    """What a put did: ``created`` (the policy is new), ``changed`` (a version was added)."""

    policy: PolicyRecord
    created: bool
    changed: bool


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """Where a policy document is wrong (``rules[2].conditions[0].operator``; ``""`` for the whole document)."""

    pointer: str
    message: str


@dataclass(frozen=True, slots=True)
class GatewayDecision:
    """What Vectra decides about one outbound request, and why (pipeline steps 2-5).

    ``effect`` is ``Allow``, ``Deny`` or ``Hitl``; ``rule`` the deciding rule (``None`` for a policy default or a
    refusal before the policy); ``risk_factors`` each factor's share of ``risk_score``; ``hitl_threshold`` the
    trust-adjusted threshold above which an allowed call goes to a human.
    """

    effect: str
    rule: str | None
    reason: str | None
    agent_id: str | None
    trust_score: float
    risk_score: float | None = None
    risk_factors: Mapping[str, float] = field(default_factory=dict)
    hitl_threshold: float | None = None
    policy_name: str | None = None
    policy_version: int | None = None
    #: what the agent's shadow policy would have decided, when it has one (it decides nothing)
    shadow: ShadowVerdict | None = None


@dataclass(frozen=True, slots=True)
class ShadowVerdict:
    """A shadow policy version's answer about a call: recorded beside the live decision, never enforced."""

    policy_name: str
    policy_version: int
    effect: str
    rule: str | None
    reason: str | None

    def agrees_with(self, decision: GatewayDecision) -> bool:
        return self.effect == decision.effect
