"""The risk scorer: how dangerous one request looks, in [0, 1], with each factor's share.

Factors (each a score in [0, 1]):

=================  ========  ===============================================================================
factor             weight    score
=================  ========  ===============================================================================
``method``         0.20      GET .1, HEAD/OPTIONS .05, POST .4, PATCH .5, PUT .6, DELETE .9, other .5
``path``           0.25      highest matching sensitive pattern: ``/users/all`` .95, ``/export`` ``/dump``
                             ``/bulk`` .9, ``/delete`` ``/remove`` ``/drop`` .85, ``/admin`` .8,
                             ``/config`` ``/settings`` ``/env`` .7; otherwise .1. A pattern matches a path
                             segment prefix, case-insensitively: ``/admin`` matches ``/v1/admin/x`` but not
                             ``/administrators``
``body_size``      0.05      0 up to 1 KiB, rising logarithmically to 1 at 10 MiB
``time_of_day``    0.05      .6 at night (22:00-06:00 UTC), .4 at the weekend (UTC), the higher of the two
``violations``     0.15      the agent's recent violation rate, saturating at 50 %
``request_rate``   0.10      requests in the last minute / 120
``rate_anomaly``   0.10      0 up to twice the agent's baseline rate, 1 at ten times it
``low_trust``      0.10      ``(0.5 - trust) / 0.5``: 0 for a neutral or trusted agent, 1 at trust 0
=================  ========  ===============================================================================

Score. The original scorer used the weighted mean alone, and a mean of eight factors cannot reach 0.8 unless
nearly all of them are extreme at once, so its HITL threshold never fired. Here the mean is combined with an
*action severity* term::

    mean      = Σ wᵢ·fᵢ / Σ wᵢ
    severity  = sqrt(method · path)                       # what the call does: DELETE /users/all ≈ .92
    behaviour = max(violations, low_trust, rate_anomaly)  # how the agent has been behaving
    escalated = severity · (0.75 + 0.25 · behaviour)
    score     = max(mean, escalated)

A destructive call by a well-behaved agent scores up to .75·severity (DELETE /users/all: .69, below the
neutral threshold .8); the same call by a low-trust agent with violations crosses it (trust .2, 30 %
violations: .83, against a threshold of .68 at that trust). A plain GET stays under .1.

Shares. ``RiskAssessment.factors`` holds each factor's weighted share of the mean, plus ``severity``: the amount
by which the escalated term exceeds the mean (0 when the mean wins). The shares sum to the score.

The scorer is plain Python: it runs once per allowed request, costs about ten microseconds, and a compiled copy
would double its maintenance for no visible gain (see ``benchmarks/README.md``).
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ._url import split_url

__all__ = ["FACTORS", "AgentHistory", "RiskAssessment", "RiskConfig", "RiskScorer"]

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
    """Everything the scorer weighs; every default is documented in the module docstring."""

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


def _clamp(value: float) -> float:
    if value != value:  # NaN
        return 0.0
    return 0.0 if value < 0.0 else 1.0 if value > 1.0 else float(value)


def _number(value: object, default: float) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return default


def _segment_match(path: str, pattern: str) -> bool:
    """``pattern`` occurs in ``path`` and is not followed by a letter or digit (``/env`` ≠ ``/environment``)."""
    start = path.find(pattern)
    while start >= 0:
        end = start + len(pattern)
        if end == len(path) or not (path[end].isascii() and path[end].isalnum()):
            return True
        start = path.find(pattern, start + 1)
    return False


class RiskScorer:
    """Scores requests (mappings as for :meth:`CompiledPolicy.evaluate`, or a prepared ``PolicyRequest``)."""

    def __init__(self, config: RiskConfig | None = None) -> None:
        self.config = config or RiskConfig()
        self._patterns = tuple(
            sorted(
                ((pattern.lower(), float(score)) for pattern, score in self.config.path_patterns),
                key=lambda item: -item[1],
            )
        )
        self._weights = {name: max(0.0, float(self.config.weights.get(name, 0.0))) for name in FACTORS}
        self._total_weight = sum(self._weights.values()) or 1.0

    def score(
        self, request: Mapping | object, history: AgentHistory | None = None, now: float | None = None
    ) -> RiskAssessment:
        if not isinstance(request, Mapping):
            to_mapping = getattr(request, "to_mapping", None)
            request = to_mapping() if callable(to_mapping) else {}
        history = history or AgentHistory()
        factors = self.factor_scores(request, history, now)
        config = self.config
        shares = {name: self._weights[name] * factors[name] / self._total_weight for name in FACTORS}
        mean = math.fsum(shares.values())
        severity = math.sqrt(factors["method"] * factors["path"])
        behaviour = max(factors["violations"], factors["low_trust"], factors["rate_anomaly"])
        floor = _clamp(config.severity_floor)
        escalated = severity * (floor + (1.0 - floor) * behaviour)
        shares["severity"] = max(0.0, escalated - mean)
        score = _clamp(mean + shares["severity"])
        return RiskAssessment(score, shares)

    def factor_scores(self, request: Mapping, history: AgentHistory, now: float | None) -> dict[str, float]:
        """Each factor's raw score in [0, 1]."""
        config = self.config
        method = request.get("method")
        method = method.upper() if isinstance(method, str) else ""
        url = request.get("url")
        path = split_url(url)[3].lower() if isinstance(url, str) else "/"
        path_score = config.default_path_score
        for pattern, score in self._patterns:  # highest score first: the first match wins
            if score <= path_score:
                break
            if _segment_match(path, pattern):
                path_score = score
                break
        agent = request.get("agent")
        agent = agent if isinstance(agent, Mapping) else {}
        trust = history.trust_score
        if trust is None:
            trust = agent.get("trustScore", agent.get("trust_score"))
        trust = _number(trust, config.neutral_trust)
        when = _number(now, math.nan)
        if when != when:
            when = _number(request.get("time"), _time.time())
        rate = max(0.0, _number(history.requests_last_minute, 0.0))
        baseline = _number(history.baseline_per_minute, 0.0)
        return {
            "method": _clamp(config.method_scores.get(method, config.unknown_method_score)),
            "path": _clamp(path_score),
            "body_size": self._body_score(request.get("body")),
            "time_of_day": self._time_score(when),
            "violations": _clamp(
                _number(history.violation_rate, 0.0) / max(config.violation_rate_saturation, 1e-9)
            ),
            "request_rate": _clamp(rate / max(config.high_requests_per_minute, 1e-9)),
            "rate_anomaly": self._anomaly_score(rate, baseline),
            "low_trust": _clamp((config.neutral_trust - _clamp(trust)) / max(config.neutral_trust, 1e-9)),
        }

    def _body_score(self, body: object) -> float:
        if isinstance(body, str):
            size = len(body.encode("utf-8", "surrogatepass"))
        elif isinstance(body, (bytes, bytearray, memoryview)):
            size = len(body)
        else:
            return 0.0
        low, high = max(self.config.body_size_low, 1), max(self.config.body_size_high, 2)
        if size <= low:
            return 0.0
        if size >= high or high <= low:
            return 1.0
        return _clamp(math.log(size / low) / math.log(high / low))

    def _time_score(self, when: float) -> float:
        config = self.config
        seconds = math.floor(when)
        hour = (seconds // 3600) % 24
        weekday = (seconds // 86400 + 3) % 7  # 0 = Monday
        start, end = config.night_start_hour, config.night_end_hour
        night = (start <= hour or hour < end) if start > end else (start <= hour < end)
        score = config.night_score if night else 0.0
        if weekday >= 5:
            score = max(score, config.weekend_score)
        return _clamp(score)

    def _anomaly_score(self, rate: float, baseline: float) -> float:
        config = self.config
        if baseline <= 0.0:
            return 0.0
        ratio = rate / baseline
        span = config.anomaly_ratio_full - config.anomaly_ratio_start
        if span <= 0:
            return 1.0 if ratio >= config.anomaly_ratio_start else 0.0
        return _clamp((ratio - config.anomaly_ratio_start) / span)
