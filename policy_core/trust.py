"""Trust: how an agent's trust score moves, and how trust moves the HITL threshold.

Pure functions over plain numbers; the daemon applies :func:`update_trust` atomically per agent and quarantines
an agent whose trust falls below :data:`QUARANTINE_FLOOR`.

Defaults (:class:`TrustConfig`), per outcome:

==================  =========  ==========================================================================
outcome             change     notes
==================  =========  ==========================================================================
``allowed``         +0.01      scaled by ``1 - risk / allowed_risk_ceiling``: no rise at risk >= 0.6
``hitl_approved``   +0.02      a human approved the agent's escalated request
``upstream_error``  0          the upstream failed; not the agent's fault
``denied``          -0.05      a policy denied the request
``hitl``            -0.02      the request was escalated to a human
``hitl_denied``     -0.10      a human refused it
``hitl_expired``    -0.01      nobody decided in time
``rate_limited``    -0.03      the agent exceeded its rate limit
==================  =========  ==========================================================================

The result is clamped to [0, 1]. A trust that is not a finite number is treated as 0 (fail closed); a risk that
is not a finite number as 1 (no reward).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["OUTCOMES", "QUARANTINE_FLOOR", "TrustConfig", "hitl_threshold", "update_trust"]

#: Below this trust an agent is quarantined.
QUARANTINE_FLOOR = 0.3

#: The outcomes :func:`update_trust` knows.
OUTCOMES = (
    "allowed",
    "hitl_approved",
    "upstream_error",
    "denied",
    "hitl",
    "hitl_denied",
    "hitl_expired",
    "rate_limited",
)


@dataclass(frozen=True, slots=True)
class TrustConfig:
    """The steps of :func:`update_trust` (changes are added to the trust, then clamped to [0, 1])."""

    allowed: float = 0.01
    allowed_risk_ceiling: float = 0.6
    hitl_approved: float = 0.02
    upstream_error: float = 0.0
    denied: float = -0.05
    hitl: float = -0.02
    hitl_denied: float = -0.10
    hitl_expired: float = -0.01
    rate_limited: float = -0.03


_DEFAULT = TrustConfig()


def _clamp(value: float) -> float:
    return 0.0 if value < 0.0 else 1.0 if value > 1.0 else value


def update_trust(trust: float, outcome: str, risk: float = 0.0, config: TrustConfig | None = None) -> float:
    """The agent's new trust after one ``outcome`` (see :data:`OUTCOMES`); ``ValueError`` for another."""
    config = config or _DEFAULT
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown trust outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
    trust = float(trust) if isinstance(trust, (int, float)) and math.isfinite(trust) else 0.0
    risk = float(risk) if isinstance(risk, (int, float)) and math.isfinite(risk) else 1.0
    change = getattr(config, outcome)
    if outcome == "allowed":
        ceiling = config.allowed_risk_ceiling
        scale = 1.0 - _clamp(risk) / ceiling if ceiling > 0 else 0.0
        change *= max(0.0, scale)
    return _clamp(_clamp(trust) + change)


def hitl_threshold(trust: float, base: float = 0.8, k: float = 0.4) -> float:
    """The risk above which an allowed call goes to a human: ``base + (trust - 0.5) * k``, clamped to [0, 1].

    A trusted agent (0.9) gets 0.96, a neutral one 0.8, a nearly quarantined one (0.3) 0.72. A trust that is not
    a finite number counts as 0.
    """
    trust = float(trust) if isinstance(trust, (int, float)) and math.isfinite(trust) else 0.0
    return _clamp(base + (_clamp(trust) - 0.5) * k)
