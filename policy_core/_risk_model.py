"""What the risk scorer weighs and what it returns, shared by the compiled scorer and its twin (see
:mod:`policy_core.risk`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["FACTORS", "AgentHistory", "RiskAssessment", "RiskConfig"]

FACTORS = (
    "method",
    "path",
    "body_size",
    "time_of_day",
    "violations",
    "request_rate",
    "rate_anomaly",
    "low_trust",
)


def _frozen(mapping: dict) -> Mapping:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class RiskConfig:
    """Everything the scorer weighs; every default is documented in :mod:`policy_core.risk`."""

    weights: Mapping[str, float] = field(
        default_factory=lambda: _frozen(
            {
                "method": 0.20,
                "path": 0.25,
                "body_size": 0.05,
                "time_of_day": 0.05,
                "violations": 0.15,
                "request_rate": 0.10,
                "rate_anomaly": 0.10,
                "low_trust": 0.10,
            }
        )
    )
    method_scores: Mapping[str, float] = field(
        default_factory=lambda: _frozen(
            {"GET": 0.1, "HEAD": 0.05, "OPTIONS": 0.05, "POST": 0.4, "PATCH": 0.5, "PUT": 0.6, "DELETE": 0.9}
        )
    )
    unknown_method_score: float = 0.5
    path_patterns: tuple[tuple[str, float], ...] = (
        ("/users/all", 0.95),
        ("/export", 0.9),
        ("/dump", 0.9),
        ("/bulk", 0.9),
        ("/delete", 0.85),
        ("/remove", 0.85),
        ("/drop", 0.85),
        ("/admin", 0.8),
        ("/config", 0.7),
        ("/settings", 0.7),
        ("/env", 0.7),
    )
    default_path_score: float = 0.1
    body_size_low: int = 1024
    body_size_high: int = 10 * 1024 * 1024
    night_start_hour: int = 22
    night_end_hour: int = 6
    night_score: float = 0.6
    weekend_score: float = 0.4
    violation_rate_saturation: float = 0.5
    high_requests_per_minute: float = 120.0
    anomaly_ratio_start: float = 2.0
    anomaly_ratio_full: float = 10.0
    neutral_trust: float = 0.5
    severity_floor: float = 0.75


@dataclass(frozen=True, slots=True)
class AgentHistory:
    """What the proxy knows about the agent's recent behaviour (all optional).

    ``requests_last_minute``: the agent's requests in the last 60 s, this one included.
    ``baseline_per_minute``: its usual rate (e.g. a long-run average); ``None`` when not yet known.
    ``violation_rate``: the fraction (0..1) of its recent requests that were denied or refused by a human.
    ``trust_score``: its current trust, when it should override the request's ``agent.trustScore``.
    """

    requests_last_minute: int = 0
    baseline_per_minute: float | None = None
    violation_rate: float = 0.0
    trust_score: float | None = None


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    """``score`` in [0, 1]; ``factors`` each factor's share (they sum to ``score``), plus ``severity``."""

    score: float
    factors: dict[str, float]
