# cython: language_level=3, cdivision=False, boundscheck=True, wraparound=True
"""The compiled risk scorer: the same behaviour as ``_risk_py`` (read that module and :mod:`policy_core.risk` for
the semantics), typed.

The factors are C doubles and the configuration is read into C fields once, when the scorer is built; the path
patterns are matched with the same string search as the twin. Arithmetic is written in the twin's order, with
Python's division semantics (``cdivision=False``), so that the scores agree to the last bit; the property tests
hold the two to it. Values that may be anything (the request's fields, the history's) go through the same checks
as in the twin before they become doubles.
"""

import math
import time as _time
from collections.abc import Mapping

from libc.math cimport log, sqrt

from ._risk_model import FACTORS, AgentHistory, RiskAssessment, RiskConfig
from ._url import split_url

__all__ = ["RiskScorer"]

cdef object _NO_HISTORY = AgentHistory()


cdef inline double _clamp(double value):
    if value != value:  # NaN
        return 0.0
    return 0.0 if value < 0.0 else 1.0 if value > 1.0 else value


cdef double _number(object value, double default) except? -1.0:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return default


cdef bint _segment_match(str path, str pattern):
    """``pattern`` occurs in ``path`` and is not followed by a letter or digit (``/env`` ≠ ``/environment``)."""
    cdef Py_ssize_t start = path.find(pattern), end, size = len(path)
    while start >= 0:
        end = start + len(pattern)
        if end == size or not (path[end].isascii() and path[end].isalnum()):
            return True
        start = path.find(pattern, start + 1)
    return False


cdef class RiskScorer:
    """Scores requests (mappings as for :meth:`CompiledPolicy.evaluate`, or a prepared ``PolicyRequest``)."""

    cdef readonly object config
    cdef tuple _patterns
    cdef dict _weights
    cdef double _total_weight
    cdef double _w[8]
    cdef object _method_scores
    cdef double _unknown_method, _default_path, _violation_saturation, _high_rate, _neutral_trust
    cdef double _severity_floor, _anomaly_start, _anomaly_full, _night_score, _weekend_score
    cdef object _body_low, _body_high, _night_start, _night_end

    def __init__(self, config=None):
        self.config = config or RiskConfig()
        cfg = self.config
        self._patterns = tuple(
            sorted(((pattern.lower(), float(score)) for pattern, score in cfg.path_patterns),
                   key=lambda item: -item[1])
        )
        self._weights = {name: max(0.0, float(cfg.weights.get(name, 0.0))) for name in FACTORS}
        self._total_weight = sum(self._weights.values()) or 1.0
        for index, name in enumerate(FACTORS):
            self._w[index] = self._weights[name]
        self._method_scores = cfg.method_scores
        self._unknown_method = cfg.unknown_method_score
        self._default_path = cfg.default_path_score
        self._violation_saturation = max(cfg.violation_rate_saturation, 1e-9)
        self._high_rate = max(cfg.high_requests_per_minute, 1e-9)
        self._neutral_trust = cfg.neutral_trust
        self._severity_floor = _clamp(cfg.severity_floor)
        self._anomaly_start = cfg.anomaly_ratio_start
        self._anomaly_full = cfg.anomaly_ratio_full
        self._night_score = cfg.night_score
        self._weekend_score = cfg.weekend_score
        self._body_low = max(cfg.body_size_low, 1)
        self._body_high = max(cfg.body_size_high, 2)
        self._night_start = cfg.night_start_hour
        self._night_end = cfg.night_end_hour

    def score(self, request, history=None, now=None):
        cdef double f[8]
        cdef double mean, severity, behaviour, escalated, share
        cdef Py_ssize_t index
        if not isinstance(request, Mapping):
            to_mapping = getattr(request, "to_mapping", None)
            request = to_mapping() if callable(to_mapping) else {}
        self._factors(request, history or _NO_HISTORY, now, f)
        shares = {}
        values = []
        for index in range(8):
            share = self._w[index] * f[index] / self._total_weight
            shares[FACTORS[index]] = share
            values.append(share)
        mean = math.fsum(values)
        severity = sqrt(f[0] * f[1])
        behaviour = max(f[4], f[7], f[6])
        escalated = severity * (self._severity_floor + (1.0 - self._severity_floor) * behaviour)
        share = max(0.0, escalated - mean)
        shares["severity"] = share
        return RiskAssessment(_clamp(mean + share), shares)

    def factor_scores(self, request, history, now):
        """Each factor's raw score in [0, 1]."""
        cdef double f[8]
        self._factors(request, history, now, f)
        return {FACTORS[index]: f[index] for index in range(8)}

    cdef int _factors(self, request, history, now, double* f) except -1:
        cdef double path_score, score, trust, when, rate, baseline
        method = request.get("method")
        method = method.upper() if isinstance(method, str) else ""
        url = request.get("url")
        path = split_url(url)[3].lower() if isinstance(url, str) else "/"
        path_score = self._default_path
        for pattern, pattern_score in self._patterns:  # highest score first: the first match wins
            score = pattern_score
            if score <= path_score:
                break
            if _segment_match(path, pattern):
                path_score = score
                break
        agent = request.get("agent")
        agent = agent if isinstance(agent, Mapping) else {}
        trust_value = history.trust_score
        if trust_value is None:
            trust_value = agent.get("trustScore", agent.get("trust_score"))
        trust = _number(trust_value, self._neutral_trust)
        when = _number(now, math.nan)
        if when != when:
            when = _number(request.get("time"), _time.time())
        rate = max(0.0, _number(history.requests_last_minute, 0.0))
        baseline = _number(history.baseline_per_minute, 0.0)
        f[0] = _clamp(self._method_scores.get(method, self._unknown_method))
        f[1] = _clamp(path_score)
        f[2] = self._body_score(request.get("body"))
        f[3] = self._time_score(when)
        f[4] = _clamp(_number(history.violation_rate, 0.0) / self._violation_saturation)
        f[5] = _clamp(rate / self._high_rate)
        f[6] = self._anomaly_score(rate, baseline)
        f[7] = _clamp((self._neutral_trust - _clamp(trust)) / max(self._neutral_trust, 1e-9))
        return 0

    cdef double _body_score(self, body) except? -1.0:
        if isinstance(body, str):
            size = len(body.encode("utf-8", "surrogatepass"))
        elif isinstance(body, (bytes, bytearray, memoryview)):
            size = len(body)
        else:
            return 0.0
        low, high = self._body_low, self._body_high
        if size <= low:
            return 0.0
        if size >= high or high <= low:
            return 1.0
        return _clamp(log(size / low) / log(high / low))

    cdef double _time_score(self, double when) except? -1.0:
        cdef double score
        seconds = math.floor(when)
        hour = (seconds // 3600) % 24
        weekday = (seconds // 86400 + 3) % 7  # 0 = Monday
        start, end = self._night_start, self._night_end
        night = (start <= hour or hour < end) if start > end else (start <= hour < end)
        score = self._night_score if night else 0.0
        if weekday >= 5:
            score = max(score, self._weekend_score)
        return _clamp(score)

    cdef double _anomaly_score(self, double rate, double baseline):
        cdef double ratio, span
        if baseline <= 0.0:
            return 0.0
        ratio = rate / baseline
        span = self._anomaly_full - self._anomaly_start
        if span <= 0:
            return 1.0 if ratio >= self._anomaly_start else 0.0
        return _clamp((ratio - self._anomaly_start) / span)
