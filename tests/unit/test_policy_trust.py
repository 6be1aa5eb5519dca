"""Trust updates and the trust-adjusted HITL threshold."""

from __future__ import annotations

import pytest

from policy_core import OUTCOMES, QUARANTINE_FLOOR, TrustConfig, hitl_threshold, update_trust


def test_hitl_threshold_moves_with_trust():
    assert hitl_threshold(0.5) == pytest.approx(0.8)
    assert hitl_threshold(1.0) == pytest.approx(1.0)
    assert hitl_threshold(0.0) == pytest.approx(0.6)
    assert hitl_threshold(0.9, base=0.9, k=0.5) == 1.0  # clamped
    assert hitl_threshold(0.0, base=0.1, k=1.0) == 0.0


def test_low_risk_success_rises_a_little_and_high_risk_success_not_at_all():
    assert 0.5 < update_trust(0.5, "allowed", risk=0.05) <= 0.51
    assert update_trust(0.5, "allowed", risk=0.3) < update_trust(0.5, "allowed", risk=0.05)
    assert update_trust(0.5, "allowed", risk=0.9) == 0.5


@pytest.mark.parametrize("outcome", ["denied", "hitl", "hitl_denied", "hitl_expired", "rate_limited"])
def test_bad_outcomes_lower_trust(outcome):
    assert update_trust(0.5, outcome, risk=0.0) < 0.5


def test_hitl_denial_costs_more_than_escalation():
    assert update_trust(0.5, "hitl_denied", 0.0) < update_trust(0.5, "hitl", 0.0)


def test_upstream_errors_do_not_move_trust_by_default():
    assert update_trust(0.5, "upstream_error", 0.1) == 0.5


def test_result_is_clamped_and_repeated_denials_reach_quarantine():
    trust = 0.5
    for _ in range(10):
        trust = update_trust(trust, "denied", 0.5)
    assert trust < QUARANTINE_FLOOR
    assert update_trust(0.0, "hitl_denied", 0.0) == 0.0
    assert update_trust(1.0, "allowed", 0.0) == 1.0
    assert update_trust(float("nan"), "allowed", 0.0) == pytest.approx(0.01)


def test_steps_are_configurable():
    assert update_trust(0.5, "denied", 0.0, TrustConfig(denied=-0.2)) == pytest.approx(0.3)


def test_unknown_outcome_is_an_error():
    with pytest.raises(ValueError, match="unknown trust outcome"):
        update_trust(0.5, "exploded", 0.0)
    assert "rate_limited" in OUTCOMES
