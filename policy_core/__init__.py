"""policy_core: Vectra's hot path — policy parsing, compilation and evaluation, risk scoring, trust.

Stages, each usable alone: :mod:`~policy_core.document` (text ⇄ mapping), :mod:`~policy_core.parse`
(mapping → typed :mod:`~policy_core.model`, validation), :mod:`~policy_core.compile` (model → evaluator),
:mod:`~policy_core.evaluator` (compiled Cython or its pure-Python twin), :mod:`~policy_core.risk`,
:mod:`~policy_core.trust`, and :mod:`~policy_core.mcp` (a body read as an MCP message: the ``input.mcp.*`` fields,
:func:`mcp_call` for audit records).

    >>> policy = compile_policy(load_document(text))
    >>> policy.evaluate({"method": "DELETE", "url": "https://api.example.com/users/1", "agent": {...}})
    Decision(effect='Deny', rule='block-delete', reason=None)
"""

from __future__ import annotations

from .compile import CompiledPolicy, compile_policy
from .decision import Decision
from .document import load_document, policy_to_document
from .errors import PolicyError
from .evaluator import IMPLEMENTATION, PolicyRequest, prepare_request
from .mcp import McpCall, mcp_call
from .model import AllOf, AnyOf, Condition, Effect, Not, Policy, RateLimit, Rule
from .parse import parse_policy
from .risk import AgentHistory, RiskAssessment, RiskConfig, RiskScorer
from .trust import OUTCOMES, QUARANTINE_FLOOR, TrustConfig, hitl_threshold, update_trust

__all__ = [
    "IMPLEMENTATION",
    "OUTCOMES",
    "QUARANTINE_FLOOR",
    "AgentHistory",
    "AllOf",
    "AnyOf",
    "CompiledPolicy",
    "Condition",
    "Decision",
    "Effect",
    "McpCall",
    "Not",
    "Policy",
    "PolicyError",
    "PolicyRequest",
    "RateLimit",
    "RiskAssessment",
    "RiskConfig",
    "RiskScorer",
    "Rule",
    "TrustConfig",
    "compile_policy",
    "hitl_threshold",
    "load_document",
    "mcp_call",
    "parse_policy",
    "policy_to_document",
    "prepare_request",
    "update_trust",
]
