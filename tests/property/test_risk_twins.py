"""The compiled risk scorer and its pure-Python twin give the same scores and shares, to the last bit, whatever
the request, the history, the time and the configuration."""

from __future__ import annotations

import importlib.util
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_core import _risk_py as twin
from policy_core._risk_model import AgentHistory, RiskConfig

pytestmark = pytest.mark.skipif(importlib.util.find_spec("policy_core._risk_c") is None,
                                reason="the compiled core is not built")

anything = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                     st.text(max_size=8))
numbers = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.none())
paths = st.lists(st.sampled_from(["users", "all", "export", "admin", "administrators", "env", "environment",
                                  "v1", "Config", "drop", "x", "bulk", "settings", "%2F", ""]), max_size=5)


@st.composite
def requests(draw: st.DrawFn) -> dict:
    url = draw(st.one_of(
        paths.map(lambda parts: "https://api.example.com/" + "/".join(parts) + draw(st.sampled_from(["", "?q=1"]))),
        anything,
    ))
    body = draw(st.one_of(st.none(), st.binary(max_size=64), st.text(max_size=64),
                          st.integers(0, 14).map(lambda n: b"x" * (1024 * 2 ** n))))
    agent = draw(st.one_of(st.fixed_dictionaries({"trustScore": anything}),
                           st.fixed_dictionaries({"trust_score": anything}), anything))
    return {"method": draw(st.one_of(st.sampled_from(["GET", "get", "POST", "DELETE", "PUT", "BREW", "HEAD"]),
                                     anything)),
            "url": url, "body": body, "agent": agent, "time": draw(numbers)}


histories = st.builds(AgentHistory, requests_last_minute=st.integers(0, 10_000),
                      baseline_per_minute=st.one_of(st.none(), st.floats(0, 1e4)),
                      violation_rate=st.floats(0, 1), trust_score=st.one_of(st.none(), st.floats(0, 1)))
configs = st.builds(RiskConfig, severity_floor=st.floats(-1, 2), anomaly_ratio_start=st.floats(0, 20),
                    anomaly_ratio_full=st.floats(0, 20), night_start_hour=st.integers(0, 23),
                    night_end_hour=st.integers(0, 23), body_size_low=st.integers(-5, 5000),
                    body_size_high=st.integers(-5, 10**8))


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@settings(max_examples=400, deadline=None)
@given(requests(), st.one_of(st.none(), histories), st.one_of(st.none(), numbers), configs)
def test_the_compiled_scorer_and_its_twin_agree_exactly(request: dict, history: AgentHistory | None,
                                                        now: float | None, config: RiskConfig) -> None:
    from policy_core import _risk_c

    outcomes = []
    for module in (twin, _risk_c):
        try:
            outcomes.append(module.RiskScorer(config).score(request, history, now))
        except Exception as exc:  # the same inputs must fail the same way
            outcomes.append(type(exc))
    expected, got = outcomes
    if isinstance(expected, type):
        assert got is expected
        return
    assert _same(got.score, expected.score), (got, expected)
    assert got.factors.keys() == expected.factors.keys()
    assert all(_same(got.factors[k], expected.factors[k]) for k in expected.factors), (got, expected)
