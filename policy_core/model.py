"""The typed policy model: what :func:`policy_core.parse_policy` produces and the compiler consumes.

Everything is immutable. Field names and operator names are stored in canonical form (``input.agent.id`` for
the alias ``input.agentId``, ``notIn`` for ``NOTIN``); values are stored as written in the document, and the
compiler normalises them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any as _Any

__all__ = ["AllOf", "AnyOf", "Condition", "ConditionNode", "Effect", "Not", "Policy", "RateLimit", "Rule"]


class Effect(enum.StrEnum):
    """A rule's or a policy's verdict. Input is case-insensitive; these are the canonical spellings."""

    ALLOW = "Allow"
    DENY = "Deny"
    HITL = "Hitl"

    @classmethod
    def from_text(cls, text: str) -> Effect | None:
        """The effect named by ``text`` (any case), or ``None``."""
        return _EFFECTS.get(text.lower()) if isinstance(text, str) else None


_EFFECTS = {effect.value.lower(): effect for effect in Effect}


@dataclass(frozen=True, slots=True)
class Condition:
    """A leaf test: ``field operator value``; ``field`` and ``operator`` are canonical."""

    field: str
    operator: str
    value: _Any = None
    ignore_case: bool = False


@dataclass(frozen=True, slots=True)
class AnyOf:
    """True when at least one child holds (``{any: [...]}``; false when empty)."""

    conditions: tuple[ConditionNode, ...]


@dataclass(frozen=True, slots=True)
class AllOf:
    """True when every child holds (``{all: [...]}``; true when empty)."""

    conditions: tuple[ConditionNode, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """True when the child does not hold (``{not: {...}}``). A child that is false because its field is missing
    or of the wrong type counts as "does not hold", so ``not`` over it is true."""

    condition: ConditionNode


ConditionNode = Condition | AnyOf | AllOf | Not


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``rateLimit``: at most ``requests`` requests every ``per_seconds`` seconds, per agent."""

    requests: int
    per_seconds: int


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule. ``conditions`` must all hold (empty: the rule always matches)."""

    name: str
    effect: Effect
    priority: int = 0
    reason: str | None = None
    conditions: tuple[ConditionNode, ...] = ()
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """A whole policy. ``rules`` are in document order; evaluation order is by priority, then document order."""

    name: str
    description: str = ""
    owner: str = ""
    default: Effect = Effect.DENY
    rules: tuple[Rule, ...] = ()
    hitl_threshold: float | None = None
    rate_limit: RateLimit | None = None
    hitl_expiry_seconds: int | None = None
