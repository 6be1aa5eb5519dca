"""The risk scorer in pure Python: the twin of ``_risk_c.pyx`` (see :mod:`policy_core.risk` for what it scores)."""

from __future__ import annotations

import math
import time as _time
from collections.abc import Mapping

from ._risk_model import FACTORS, AgentHistory, RiskAssessment, RiskConfig
from ._url import split_url

__all__ = ["RiskScorer"]


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
