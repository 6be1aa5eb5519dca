"""Property tests: the compiled evaluator and the twin agree (on generated requests, JSON-RPC/MCP bodies among
them); evaluation never raises; the indexed evaluator agrees with a naive first-match evaluator; risk and trust
stay in range."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import policy_core
from policy_core import AgentHistory, PolicyError, RiskScorer, update_trust
from policy_core import _evaluator_py as twin
from policy_core.compile import NODE_ALL, NODE_ANY, NODE_LEAF, lower_condition
from policy_core.trust import OUTCOMES
from tests.policy_impl import COMPILED_AVAILABLE

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

METHODS = ["GET", "POST", "DELETE", "put", "Patch", "HEAD"]
HOSTS = ["a.example", "B.example", "c.example", "10.0.0.7", "[::1]"]
PATHS = ["/", "/v1/items", "/v1/items/42", "/admin/users", "/users/all", "/x y", "/ä", "/€/v1", "/v1/😀"]
FIELDS = [
    "input.method",
    "input.host",
    "input.path",
    "input.url",
    "input.scheme",
    "input.port",
    "input.query",
    "input.query.a",
    "input.headers.x-tag",
    "input.headers.content-type",
    "input.body",
    "input.bodySize",
    "input.json.a",
    "input.json.a.b",
    "input.json.list.0",
    "input.agent.id",
    "input.agent.roles",
    "input.agent.trustScore",
    "input.agent.realm",
    "input.risk.score",
    "input.time.hour",
    "input.time.weekday",
    "input.mcp.method",
    "input.mcp.tool",
    "input.mcp.arguments",
    "input.mcp.arguments.a",
    "input.mcp.arguments.a.b",
    "input.mcp.arguments.list.0",
    "input.mcp.batch",
]
MCP_METHODS = ["tools/call", "tools/list", "initialize", "notifications/initialized"]
TOOLS = ["read_file", "Read_File", "delete"]

scalars = st.one_of(
    st.sampled_from(METHODS + HOSTS + PATHS + MCP_METHODS + TOOLS + ["a", "b", "10", "1.5", "", "admin", "x-tag"]),
    st.integers(-3, 500),
    st.floats(-10, 1000, allow_nan=False),
    st.booleans(),
    st.none(),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "0", "list"]), inner, max_size=3)
    ),
    max_leaves=8,
)



@st.composite
def jsonrpc_messages(draw) -> dict:
    """A JSON-RPC message, mostly well formed: a tools/call with a tool and arguments, another method, a
    notification; sometimes with the wrong version, a method, params, name or arguments of another type."""
    message: dict[str, Any] = {"jsonrpc": draw(st.sampled_from(["2.0", "2.0", "2.0", "1.0", 2.0]))}
    if draw(st.booleans()):
        message["id"] = draw(st.one_of(st.integers(0, 9), st.text(max_size=3)))
    message["method"] = draw(st.one_of(st.sampled_from(MCP_METHODS), json_values))
    params: Any = {"name": draw(st.one_of(st.sampled_from(TOOLS), json_values)),
                   "arguments": draw(st.one_of(json_values, st.dictionaries(st.sampled_from(["a", "list"]),
                                                                            json_values, max_size=2)))}
    message["params"] = draw(st.one_of(st.just(params), json_values))
    return message


jsonrpc_bodies = st.one_of(
    jsonrpc_messages(),
    st.lists(st.one_of(jsonrpc_messages(), json_values), max_size=3),  # a batch, or an array of other things
).map(lambda value: json.dumps(value).encode())


@st.composite
def leaves(draw) -> dict:
    field = draw(st.sampled_from(FIELDS))
    operator = draw(
        st.sampled_from(
            [
                "eq",
                "ne",
                "gt",
                "ge",
                "lt",
                "le",
                "in",
                "notIn",
                "contains",
                "notContains",
                "startsWith",
                "endsWith",
                "regex",
                "exists",
                "notExists",
                "glob",
                "cidr",
            ]
        )
    )
    if operator in ("in", "notIn"):
        value: Any = draw(st.lists(scalars, max_size=4))
    elif operator in ("regex",):
        value = draw(st.sampled_from(["^/v1", "a+", "EXAMPLE", r"\d+", "^$", "(a+)+$", "."]))
    elif operator == "glob":
        value = draw(st.sampled_from(["*", "/v1/*", "*.example", "?", "[ab]*", "/admin/[!x]*"]))
    elif operator == "cidr":
        value = draw(st.sampled_from(["10.0.0.0/8", "::1/128", ["192.168.0.0/16", "10.0.0.7/32"]]))
    elif operator in ("exists", "notExists"):
        value = None
    else:
        value = draw(json_values)
    condition = {"field": field, "operator": operator, "value": value}
    if draw(st.booleans()):
        condition["ignoreCase"] = True
    return condition


conditions = st.recursive(
    leaves(),
    lambda inner: st.one_of(
        st.builds(lambda c: {"any": c}, st.lists(inner, max_size=3)),
        st.builds(lambda c: {"all": c}, st.lists(inner, max_size=3)),
        st.builds(lambda c: {"not": c}, inner),
    ),
    max_leaves=6,
)

index_leaves = st.one_of(
    st.builds(lambda m: {"field": "input.method", "operator": "eq", "value": m}, st.sampled_from(METHODS)),
    st.builds(
        lambda h: {"field": "input.host", "operator": "eq", "value": h.strip("[]")}, st.sampled_from(HOSTS)
    ),
    st.builds(
        lambda ms: {"field": "method", "operator": "in", "value": ms},
        st.lists(st.sampled_from(METHODS), max_size=3),
    ),
)


@st.composite
def policies(draw) -> dict:
    rules = []
    for i in range(draw(st.integers(0, 8))):
        rule_conditions = draw(st.lists(st.one_of(index_leaves, conditions), max_size=3))
        rules.append(
            {
                "name": f"r{i}",
                "priority": draw(st.integers(0, 3)),
                "effect": draw(st.sampled_from(["Allow", "Deny", "Hitl"])),
                "conditions": rule_conditions,
            }
        )
    return {"name": "p", "default": draw(st.sampled_from(["Allow", "Deny", "Hitl"])), "rules": rules}


@st.composite
def requests(draw) -> dict:
    url = draw(
        st.one_of(
            st.builds(
                lambda s, h, p, q: f"{s}://{h}{p}{q}",
                st.sampled_from(["http", "https", "HTTPS"]),
                st.sampled_from([*HOSTS, "user@a.example:8080", "a.example:99999"]),
                st.sampled_from(PATHS),
                st.sampled_from(["", "?a=1", "?a=1&a=admin", "?", "#frag"]),
            ),
            st.text(max_size=20),
        )
    )
    body = draw(
        st.one_of(
            st.none(),
            st.builds(lambda v: json.dumps(v).encode(), json_values),
            st.builds(lambda v: json.dumps({"a": v, "list": [v]}), json_values),
            jsonrpc_bodies,
            st.binary(max_size=20),
            st.text(max_size=20),
        )
    )
    headers = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["X-Tag", "x-tag", "Content-Type"]),
                st.sampled_from(["a", "10", "application/json", "ADMIN", ""]),
            ),
            max_size=3,
        )
    )
    agent = {
        "id": draw(st.sampled_from(["a", "b", "admin"])),
        "roles": draw(st.lists(st.sampled_from(["agent", "admin", "Reviewer"]), max_size=2)),
        "trustScore": draw(st.one_of(st.floats(0, 1), st.just("0.4"))),
        "realm": draw(json_values),
    }
    return {
        "method": draw(st.sampled_from(METHODS)),
        "url": url,
        "headers": headers,
        "body": body,
        "agent": agent,
        "risk": draw(st.floats(0, 1)),
        "time": draw(st.floats(0, 4e9)),
    }


def compile_or_skip(document: dict, implementation: str):
    try:
        return policy_core.compile_policy(document, implementation=implementation)
    except PolicyError:
        assume(False)


@pytest.mark.skipif(not COMPILED_AVAILABLE, reason="extension not built")
@SETTINGS
@given(policies(), st.lists(requests(), min_size=1, max_size=4))
def test_compiled_and_twin_decide_identically(document, reqs):
    compiled = compile_or_skip(document, "cython")
    reference = compile_or_skip(document, "python")
    for request in reqs:
        assert compiled.evaluate(request) == reference.evaluate(request), request


anything = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10), st.binary(max_size=10)
    ),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        | st.tuples(inner, inner)
    ),
    max_leaves=10,
)


@SETTINGS
@given(
    policies(),
    st.dictionaries(
        st.sampled_from(["method", "url", "headers", "body", "agent", "risk", "time"]), anything, max_size=7
    ),
)
def test_evaluate_never_raises_on_arbitrary_requests(document, request):
    implementations = ["python"] + (["cython"] if COMPILED_AVAILABLE else [])
    decisions = set()
    for name in implementations:
        decision = compile_or_skip(document, name).evaluate(request)
        assert decision.effect in ("Allow", "Deny", "Hitl")
        assert decision.reason != "policy evaluation failed"
        decisions.add(decision)
    assert len(decisions) == 1


def _naive_matches(node: tuple, request) -> bool:
    if node[0] == NODE_LEAF:
        return twin.Leaf(*node[1:]).matches(request)
    if node[0] == NODE_ANY:
        return any(_naive_matches(child, request) for child in node[1])
    if node[0] == NODE_ALL:
        return all(_naive_matches(child, request) for child in node[1])
    return not _naive_matches(node[1], request)


def naive_decide(document: dict, request: dict) -> tuple:
    """First match over all rules, sorted by priority (stable), no index."""
    policy = policy_core.parse_policy(document)
    for rule in sorted(policy.rules, key=lambda r: -r.priority):
        prepared = twin.prepare_request(request)
        if all(_naive_matches(lower_condition(c), prepared) for c in rule.conditions):
            return (str(rule.effect), rule.name)
    return (str(policy.default), None)


@SETTINGS
@given(policies(), st.lists(requests(), min_size=1, max_size=3))
def test_indexed_evaluation_equals_naive_first_match(document, reqs):
    implementations = ["python"] + (["cython"] if COMPILED_AVAILABLE else [])
    for name in implementations:
        compiled = compile_or_skip(document, name)
        for request in reqs:
            decision = compiled.evaluate(request)
            assert (decision.effect, decision.rule) == naive_decide(document, request)


@SETTINGS
@given(
    requests(),
    st.builds(
        AgentHistory,
        st.integers(0, 10_000),
        st.one_of(st.none(), st.floats(0, 1000)),
        st.floats(0, 1),
        st.one_of(st.none(), st.floats(-1, 2)),
    ),
    st.one_of(st.none(), st.floats(-1e10, 1e10)),
)
def test_risk_is_in_range_and_shares_sum_to_it(request, history, now):
    assessment = RiskScorer().score(request, history, now=now)
    assert 0.0 <= assessment.score <= 1.0
    assert math.isclose(math.fsum(assessment.factors.values()), assessment.score, abs_tol=1e-9)
    assert all(share >= 0.0 for share in assessment.factors.values())


@SETTINGS
@given(
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.tuples(st.sampled_from(OUTCOMES), st.floats(allow_nan=True)), max_size=20),
)
def test_trust_stays_in_range(trust, steps):
    for outcome, risk in steps:
        trust = update_trust(trust, outcome, risk)
        assert 0.0 <= trust <= 1.0


url_text = st.one_of(
    # é, € and 😀 put the URL in each of CPython's three string widths (the compiled scanner has one per width)
    st.text(alphabet=st.sampled_from("htps:/[]@?#.:1aZ-+%é€😀 \x00"), max_size=30),
    st.builds(
        lambda scheme, auth, rest: f"{scheme}://{auth}{rest}",
        st.sampled_from(["http", "HTTPS", "ws", "a1+.-", "1x", ""]),
        st.text(alphabet=st.sampled_from("abAB.:@[]0123456789é€😀"), max_size=15),
        st.text(alphabet=st.sampled_from("/?#=&aé€😀"), max_size=10),
    ),
)


@pytest.mark.skipif(not COMPILED_AVAILABLE, reason="extension not built")
@settings(max_examples=1500, deadline=None)
@given(url_text)
def test_compiled_url_split_equals_the_reference(url):
    from policy_core import _evaluator_c

    assert _evaluator_c.PolicyRequest("GET", url).url_parts() == twin.PolicyRequest("GET", url).url_parts()


@SETTINGS
@given(policies())
def test_canonical_document_round_trips(document):
    try:
        model = policy_core.parse_policy(document)
    except PolicyError:
        assume(False)
    canonical = policy_core.policy_to_document(model)
    assert policy_core.parse_policy(json.loads(json.dumps(canonical))) == model


@pytest.mark.skipif(not COMPILED_AVAILABLE, reason="extension not built")
@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(["GET", "POST", "DELETE", "PURGE"]), min_size=1, max_size=3),
    st.integers(0, 2**32),
)
def test_many_hosts_decide_alike_through_the_compiled_host_table(methods, seed):
    """More hosts than the compiled evaluator's direct-mapped host table holds (so slots collide and are
    overwritten), hosts differing only by case, and a method outside the table's slots: same as the twin."""
    hosts = [f"h{i}.example" for i in range(5000)]
    rules = [
        {"name": f"r{i}", "effect": ["Allow", "Deny", "Hitl"][i % 3],
         "conditions": [{"field": "input.method", "operator": "eq", "value": methods[i % len(methods)]},
                        {"field": "input.host", "operator": "eq", "value": hosts[i * 97]}]}
        for i in range(50)
    ]
    document = {"name": "p", "default": "Deny", "rules": rules}
    compiled = policy_core.compile_policy(document, implementation="cython")
    reference = policy_core.compile_policy(document, implementation="python")
    rng = random.Random(seed)
    for _ in range(3000):
        host = rng.choice(hosts[:5000:97] if rng.random() < 0.5 else hosts)
        if rng.random() < 0.1:
            host = host.upper()
        request = {"method": rng.choice(methods), "url": f"https://{host}/x"}
        assert compiled.evaluate(request) == reference.evaluate(request), request
