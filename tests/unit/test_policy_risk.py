"""Risk scorer: reachable HITL threshold for risky calls, low scores for benign ones, shares that add up."""

from __future__ import annotations

import math

import pytest

from policy_core import AgentHistory, RiskConfig, RiskScorer, hitl_threshold

WEEKDAY_NOON = 1_700_481_600.0  # Monday 12:00 UTC
SATURDAY_3AM = WEEKDAY_NOON + 5 * 86_400 - 9 * 3600


def score(
    method: str, url: str, trust: float = 0.5, history: AgentHistory | None = None, now=WEEKDAY_NOON, **kw
):
    request = {"method": method, "url": url, "agent": {"id": "a", "trustScore": trust}, **kw}
    return RiskScorer().score(request, history, now=now)


def test_destructive_call_by_a_low_trust_agent_with_violations_crosses_the_threshold():
    assessment = score(
        "DELETE", "https://api.example.com/users/all", trust=0.2, history=AgentHistory(violation_rate=0.3)
    )
    assert assessment.score > 0.8
    assert assessment.score > hitl_threshold(0.2)


def test_plain_get_by_a_neutral_agent_stays_low():
    assert score("GET", "https://api.example.com/items/1").score < 0.3
    assert score("GET", "https://api.example.com/items/1", now=SATURDAY_3AM).score < 0.3


def test_destructive_call_by_a_neutral_agent_is_high_but_not_escalated():
    assessment = score("DELETE", "https://api.example.com/users/all")
    assert 0.5 < assessment.score < hitl_threshold(0.5)


def test_shares_sum_to_the_score():
    assessment = score(
        "POST",
        "https://api.example.com/admin/export",
        trust=0.35,
        history=AgentHistory(requests_last_minute=90, baseline_per_minute=10, violation_rate=0.1),
        body=b"x" * 100_000,
        now=SATURDAY_3AM,
    )
    assert math.isclose(math.fsum(assessment.factors.values()), assessment.score, abs_tol=1e-12)
    assert set(assessment.factors) >= {
        "method",
        "path",
        "body_size",
        "time_of_day",
        "violations",
        "request_rate",
        "rate_anomaly",
        "low_trust",
        "severity",
    }


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/admin", 0.8),
        ("/v1/Admin/users", 0.8),
        ("/administrators", 0.1),
        ("/users/all", 0.95),
        ("/env", 0.7),
        ("/environment", 0.1),
        ("/data/export.csv", 0.9),
        ("/", 0.1),
    ],
)
def test_path_patterns_match_segment_prefixes(path, expected):
    factors = RiskScorer().factor_scores(
        {"method": "GET", "url": f"https://x{path}"}, AgentHistory(), WEEKDAY_NOON
    )
    assert factors["path"] == expected


def test_rate_anomaly_is_relative_to_the_agents_baseline():
    scorer = RiskScorer()
    calm = scorer.factor_scores(
        {}, AgentHistory(requests_last_minute=10, baseline_per_minute=10), WEEKDAY_NOON
    )
    burst = scorer.factor_scores(
        {}, AgentHistory(requests_last_minute=100, baseline_per_minute=10), WEEKDAY_NOON
    )
    assert calm["rate_anomaly"] == 0.0
    assert burst["rate_anomaly"] == 1.0


def test_configuration_changes_the_weights():
    config = RiskConfig(weights={"method": 1.0}, severity_floor=0.0)
    assessment = RiskScorer(config).score({"method": "DELETE", "url": "https://x/"}, now=WEEKDAY_NOON)
    assert math.isclose(assessment.score, 0.9)


def test_scorer_accepts_a_prepared_request_and_garbage():
    from policy_core import prepare_request

    prepared = prepare_request({"method": "DELETE", "url": "https://x/users/all"})
    assert RiskScorer().score(prepared, now=WEEKDAY_NOON).score > 0.5
    for garbage in (None, 5, {"method": 5, "url": None, "body": 3, "agent": "x", "time": "noon"}):
        assert 0.0 <= RiskScorer().score(garbage).score <= 1.0
