"""Evaluation semantics, run against the compiled evaluator and the pure-Python twin."""

from __future__ import annotations

from typing import Any

import pytest

import policy_core
from policy_core import Decision
from tests.policy_impl import impl  # noqa: F401

URL = "https://API.Example.com:8443/v1/items/42?limit=10&tag=a&tag=b#frag"
MONDAY_NOON = 1_700_481_600.0  # 2023-11-20 12:00:00 UTC, a Monday


def policy(*conditions: dict, default: str | None = None, **extra: Any) -> dict:
    document: dict[str, Any] = {
        "name": "p",
        "rules": [{"name": "hit", "effect": "Allow", "conditions": list(conditions)}],
    }
    if default:
        document["default"] = default
    document.update(extra)
    return document


def cond(field: str, operator: str, value: Any = None, **extra: Any) -> dict:
    return {"field": field, "operator": operator, "value": value, **extra}


def request(**overrides: Any) -> dict:
    base: dict[str, Any] = {
        "method": "post",
        "url": URL,
        "headers": [("Content-Type", "application/json"), ("X-Tag", "one"), ("x-tag", "two")],
        "body": b'{"amount": 250, "user": {"name": "Ann", "roles": ["admin", "ops"]}, "items": [{"id": 7}], '
        b'"flag": true, "price": "19.5", "none": null}',
        "agent": {
            "id": "agent-1",
            "name": "billing-bot",
            "ownerId": "team-a",
            "trustScore": 0.7,
            "roles": ["agent", "reviewer"],
            "realm": "eu",
            "capabilities": ["read", "write"],
        },
        "risk": 0.42,
        "time": MONDAY_NOON,
    }
    base.update(overrides)
    return base


def matches(impl, condition: dict, req: dict | None = None) -> bool:  # noqa: F811
    decision = impl.decide(policy(condition), req if req is not None else request())
    return decision.rule == "hit"


# -- every field -----------------------------------------------------------------------------------------------

FIELD_VALUES = [
    ("input.method", "POST"),
    ("input.url", URL),
    ("input.scheme", "https"),
    ("input.host", "api.example.com"),
    ("input.port", 8443),
    ("input.path", "/v1/items/42"),
    ("input.query", "limit=10&tag=a&tag=b"),
    ("input.query.limit", "10"),
    ("input.headers.content-type", "application/json"),
    ("input.bodySize", 134),
    ("input.json.amount", 250),
    ("input.json.user.name", "Ann"),
    ("input.json.user.roles.1", "ops"),
    ("input.json.items.0.id", 7),
    ("input.json.flag", True),
    ("input.json.none", None),
    ("input.agent.id", "agent-1"),
    ("input.agent.name", "billing-bot"),
    ("input.agent.ownerId", "team-a"),
    ("input.agent.trustScore", 0.7),
    ("input.agent.realm", "eu"),
    ("input.risk.score", 0.42),
    ("input.time.hour", 12),
    ("input.time.weekday", 0),
    ("method", "POST"),  # the input. prefix is optional
    ("agent.id", "agent-1"),
]


@pytest.mark.parametrize(("field", "value"), FIELD_VALUES, ids=[f for f, _ in FIELD_VALUES])
def test_every_field_is_reachable_with_eq(impl, field, value):  # noqa: F811
    assert matches(impl, cond(field, "eq", value))
    assert not matches(impl, cond(field, "ne", value))


def test_body_field_is_the_decoded_text(impl):  # noqa: F811
    assert matches(impl, cond("input.body", "startsWith", '{"amount": 250'))
    assert matches(impl, cond("input.body", "eq", "héllo"), request(body="héllo".encode()))


def test_body_size_counts_bytes(impl):  # noqa: F811
    assert matches(impl, cond("input.bodySize", "eq", 6), request(body="héllo"))
    assert matches(impl, cond("input.bodySize", "eq", 0), request(body=None))
    assert not matches(impl, cond("input.body", "exists"), request(body=None))


def test_roles_is_a_list(impl):  # noqa: F811
    assert matches(impl, cond("input.agent.roles", "contains", "reviewer"))
    assert not matches(impl, cond("input.agent.roles", "contains", "admin"))
    assert matches(impl, cond("input.agent.roles", "in", ["admin", "reviewer"]))
    assert matches(impl, cond("input.agent.roles", "notIn", ["admin"]))
    assert matches(impl, cond("input.agent.roles", "eq", ["agent", "reviewer"]))
    assert matches(impl, cond("input.agent.roles", "contains", "REVIEWER", ignoreCase=True))


def test_unknown_agent_keys_are_reachable(impl):  # noqa: F811
    assert matches(impl, cond("input.agent.capabilities", "contains", "write"))
    assert matches(impl, cond("input.agent.realm", "in", ["eu", "us"]))
    assert not matches(impl, cond("input.agent.missing", "exists"))


@pytest.mark.parametrize(
    ("alias", "value"),
    [
        ("input.agentId", "agent-1"),
        ("input.trustScore", 0.7),
        ("input.targetUrl", URL),
        ("input.agent.trust_score", 0.7),
        ("input.agent.owner_id", "team-a"),
    ],
)
def test_aliases(impl, alias, value):  # noqa: F811
    assert matches(impl, cond(alias, "eq", value))


def test_snake_case_agent_keys_are_read_too(impl):  # noqa: F811
    agent = {"id": "a", "trust_score": 0.9, "owner_id": "o"}
    assert matches(impl, cond("input.agent.trustScore", "gt", 0.8), request(agent=agent))
    assert matches(impl, cond("input.agent.ownerId", "eq", "o"), request(agent=agent))


def test_risk_may_be_a_mapping_with_score(impl):  # noqa: F811
    assert matches(impl, cond("input.risk.score", "ge", 0.9), request(risk={"score": 0.95}))
    assert not matches(impl, cond("input.risk.score", "exists"), request(risk=None))


def test_weekday_is_zero_on_monday_and_six_on_sunday(impl):  # noqa: F811
    sunday = MONDAY_NOON - 86_400
    assert matches(impl, cond("input.time.weekday", "eq", 6), request(time=sunday))
    assert matches(impl, cond("input.time.hour", "eq", 23), request(time=MONDAY_NOON + 11 * 3600 + 59))


def test_time_defaults_to_now(impl):  # noqa: F811
    assert matches(impl, cond("input.time.hour", "in", list(range(24))), request(time=None))


# -- every operator ---------------------------------------------------------------------------------------------

OPERATOR_CASES = [
    (cond("input.path", "eq", "/v1/items/42"), True),
    (cond("input.path", "ne", "/v1/items/42"), False),
    (cond("input.path", "neq", "/other"), True),
    (cond("input.json.amount", "gt", 249), True),
    (cond("input.json.amount", "gt", 250), False),
    (cond("input.json.amount", "ge", 250), True),
    (cond("input.json.amount", "gte", 250.0), True),
    (cond("input.json.amount", "lt", 250), False),
    (cond("input.json.amount", "le", 250), True),
    (cond("input.json.amount", "lte", 249.99), False),
    (cond("input.method", "in", ["GET", "POST"]), True),
    (cond("input.method", "notIn", ["GET", "POST"]), False),
    (cond("input.path", "contains", "items"), True),
    (cond("input.path", "notContains", "items"), False),
    (cond("input.path", "startsWith", "/v1/"), True),
    (cond("input.path", "endsWith", "/42"), True),
    (cond("input.path", "regex", r"^/v1/items/\d+$"), True),
    (cond("input.path", "regex", r"items/\d{3}"), False),
    (cond("input.headers.content-type", "exists"), True),
    (cond("input.headers.authorization", "exists"), False),
    (cond("input.headers.authorization", "notExists"), True),
    (cond("input.path", "glob", "/v1/*/4?"), True),
    (cond("input.path", "glob", "/v1/items"), False),
    (cond("input.path", "glob", "/v[0-9]/items/[!a-z]*"), True),
    (cond("input.host", "glob", "*.example.com"), True),
]


@pytest.mark.parametrize(
    ("condition", "expected"), OPERATOR_CASES, ids=lambda v: str(v) if isinstance(v, bool) else None
)
def test_operators(impl, condition, expected):  # noqa: F811
    assert matches(impl, condition) is expected


@pytest.mark.parametrize(
    ("address", "networks", "expected"),
    [
        ("10.1.2.3", "10.0.0.0/8", True),
        ("10.1.2.3", ["192.168.0.0/16", "10.1.0.0/16"], True),
        ("11.0.0.1", "10.0.0.0/8", False),
        ("[2001:db8::1]", "2001:db8::/32", True),
        ("::ffff:10.0.0.1", "10.0.0.0/8", True),
        ("not-an-ip.example", "10.0.0.0/8", False),
    ],
)
def test_cidr(impl, address, networks, expected):  # noqa: F811
    req = request(url=f"http://{address}/x" if not address.startswith("::") else f"http://[{address}]/x")
    assert matches(impl, cond("input.host", "cidr", networks), req) is expected


def test_operator_names_are_case_insensitive(impl):  # noqa: F811
    assert matches(impl, cond("input.path", "STARTSWITH", "/v1"))
    assert matches(impl, cond("input.method", "NotIn", ["GET"]))
    assert matches(impl, cond("input.method", "not_in", ["GET"]))


# -- normalisation and types ------------------------------------------------------------------------------------


def test_methods_compare_upper_cased_on_both_sides(impl):  # noqa: F811
    assert matches(impl, cond("input.method", "eq", "post"), request(method="Post"))
    assert matches(impl, cond("input.method", "in", ["get", "post"]), request(method="POST"))


def test_hosts_compare_lower_cased_on_both_sides(impl):  # noqa: F811
    assert matches(impl, cond("input.host", "eq", "API.EXAMPLE.COM"))
    assert matches(impl, cond("input.host", "endsWith", ".Example.COM"))


def test_ignore_case(impl):  # noqa: F811
    assert not matches(impl, cond("input.agent.name", "eq", "BILLING-BOT"))
    assert matches(impl, cond("input.agent.name", "eq", "BILLING-BOT", ignoreCase=True))
    assert matches(impl, cond("input.agent.name", "startsWith", "Billing", ignoreCase=True))
    assert matches(impl, cond("input.agent.name", "contains", "BOT", ignoreCase=True))
    assert matches(impl, cond("input.agent.name", "in", ["BILLING-BOT"], ignoreCase=True))
    assert matches(impl, cond("input.agent.name", "regex", "^BILLING", ignoreCase=True))
    assert matches(impl, cond("input.agent.name", "glob", "BILL*", ignoreCase=True))
    assert not matches(impl, cond("input.agent.name", "glob", "BILL*"))


def test_integers_and_decimals_compare_as_numbers(impl):  # noqa: F811
    assert matches(impl, cond("input.json.amount", "eq", 250.0))
    assert matches(impl, cond("input.json.amount", "in", [1, 250.0]))
    assert matches(impl, cond("input.port", "eq", 8443.0))
    assert matches(impl, cond("input.agent.trustScore", "gt", 0))


def test_numeric_strings_compare_numerically_against_number_literals(impl):  # noqa: F811
    assert matches(impl, cond("input.json.price", "gt", 19))
    assert matches(impl, cond("input.query.limit", "eq", 10))
    assert matches(impl, cond("input.query.limit", "le", 10.5))
    assert matches(impl, cond("input.port", "eq", "8443"))  # a numeric field takes a numeric string literal
    assert matches(impl, cond("input.agent.trustScore", "ge", 0.5), request(agent={"trustScore": "0.7"}))


def test_a_string_literal_does_not_equal_a_number(impl):  # noqa: F811
    assert not matches(impl, cond("input.json.amount", "eq", "250"))
    assert not matches(impl, cond("input.json.amount", "ne", "250"))  # a type mismatch is false both ways


def test_booleans_are_not_numbers(impl):  # noqa: F811
    assert matches(impl, cond("input.json.flag", "eq", True))
    assert not matches(impl, cond("input.json.flag", "eq", 1))
    assert not matches(impl, cond("input.json.flag", "gt", 0))


def test_type_mismatch_is_false_and_never_raises(impl):  # noqa: F811
    for condition in (
        cond("input.json.user", "startsWith", "A"),
        cond("input.json.user", "gt", 1),
        cond("input.json.user", "eq", "Ann"),
        cond("input.json.user", "ne", "Ann"),
        cond("input.json.items", "regex", "x"),
        cond("input.json.amount", "contains", "5"),
        cond("input.path", "gt", 3),
        cond("input.json.user.name", "cidr", "10.0.0.0/8"),
    ):
        assert not matches(impl, condition), condition


def test_missing_field_is_false_except_not_exists(impl):  # noqa: F811
    for operator, value in (("eq", "x"), ("ne", "x"), ("notIn", ["x"]), ("notContains", "x"), ("gt", 1)):
        assert not matches(impl, cond("input.json.nope", operator, value)), operator
    assert matches(impl, cond("input.json.nope", "notExists"))
    assert matches(impl, cond("input.json.none", "exists"))  # null is present


def test_not_over_a_missing_field_is_true(impl):  # noqa: F811
    assert matches(impl, {"not": cond("input.headers.x-missing", "eq", "a")})
    assert matches(impl, {"not": cond("input.headers.x-missing", "ne", "a")}) is not False


def test_headers_are_case_insensitive(impl):  # noqa: F811
    assert matches(impl, cond("input.headers.CONTENT-TYPE", "eq", "application/json"))
    mapping = request(headers={"AUTHORIZATION": "Bearer x"})
    assert matches(impl, cond("input.headers.authorization", "startsWith", "Bearer"), mapping)
    raw = request(headers=[(b"X-Raw", b"bytes")])
    assert matches(impl, cond("input.headers.x-raw", "eq", "bytes"), raw)


def test_repeated_headers_match_if_any_value_matches(impl):  # noqa: F811
    assert matches(impl, cond("input.headers.x-tag", "eq", "two"))
    assert not matches(impl, cond("input.headers.x-tag", "ne", "two"))  # negation: no value is "two"
    assert matches(impl, cond("input.headers.x-tag", "ne", "three"))
    assert matches(impl, cond("input.query.tag", "eq", "b"))
    assert matches(impl, cond("input.query.tag", "notIn", ["c"]))


def test_json_paths_index_lists_with_numbers(impl):  # noqa: F811
    assert matches(impl, cond("input.json.items.0.id", "eq", 7))
    assert not matches(impl, cond("input.json.items.1.id", "exists"))
    assert not matches(impl, cond("input.json.amount.0", "exists"))
    assert matches(impl, cond("input.json", "exists"))


def test_invalid_json_body_makes_json_fields_missing(impl):  # noqa: F811
    assert not matches(impl, cond("input.json", "exists"), request(body=b"{not json"))
    assert matches(impl, cond("input.body", "eq", "{not json"), request(body=b"{not json"))


def test_default_port_comes_from_the_scheme(impl):  # noqa: F811
    assert matches(impl, cond("input.port", "eq", 443), request(url="https://a.example/x"))
    assert matches(impl, cond("input.port", "eq", 80), request(url="http://a.example"))
    assert matches(impl, cond("input.path", "eq", "/"), request(url="http://a.example"))


def test_regex_with_hostile_input_returns(impl):  # noqa: F811
    hostile = "a" * 100_000 + "!"
    assert not matches(impl, cond("input.body", "regex", "(a+)+$"), request(body=hostile))
    assert matches(impl, cond("input.body", "regex", "(a+)+!$"), request(body=hostile))


# -- rule order -------------------------------------------------------------------------------------------------


def test_first_matching_rule_decides_in_priority_order(impl):  # noqa: F811
    document = {
        "name": "p",
        "default": "Allow",
        "rules": [
            {"name": "low", "priority": 1, "effect": "Allow", "conditions": []},
            {"name": "high", "priority": 10, "effect": "Deny", "reason": "no", "conditions": []},
        ],
    }
    assert impl.decide(document, request()) == Decision("Deny", "high", "no")


def test_priority_ties_keep_document_order(impl):  # noqa: F811
    rules = [{"name": f"r{i}", "priority": 5, "effect": "Hitl", "conditions": []} for i in range(5)]
    assert impl.decide({"name": "p", "rules": rules}, request()).rule == "r0"


def test_no_match_gives_the_default_and_deny_when_omitted(impl):  # noqa: F811
    never = [cond("input.method", "eq", "TRACE")]
    assert impl.decide(
        {"name": "p", "rules": [{"name": "r", "effect": "allow", "conditions": never}]}, request()
    ) == (Decision("Deny", None, None))
    assert impl.decide({"name": "p", "default": "hitl"}, request()).effect == "Hitl"


def test_effects_are_case_insensitive_and_canonical(impl):  # noqa: F811
    decision = impl.decide({"name": "p", "rules": [{"name": "r", "effect": "HITL"}]}, request())
    assert decision == Decision("Hitl", "r", None)


def test_groups_any_all_not(impl):  # noqa: F811
    yes, no = cond("input.method", "eq", "POST"), cond("input.method", "eq", "GET")
    assert matches(impl, {"any": [no, yes]})
    assert not matches(impl, {"any": []})
    assert matches(impl, {"all": []})
    assert not matches(impl, {"all": [yes, no]})
    assert matches(impl, {"not": {"all": [yes, no]}})
    assert matches(impl, {"all": [yes, {"not": no}, {"any": [{"not": {"not": yes}}]}]})


def test_indexed_rules_keep_global_order(impl):  # noqa: F811
    rules = [
        {
            "name": "any-host",
            "priority": 5,
            "effect": "Deny",
            "conditions": [cond("input.method", "eq", "GET")],
        },
        {
            "name": "exact",
            "priority": 9,
            "effect": "Allow",
            "conditions": [cond("input.method", "eq", "GET"), cond("input.host", "eq", "a.example")],
        },
        {
            "name": "host-only",
            "priority": 7,
            "effect": "Hitl",
            "conditions": [cond("input.host", "in", ["a.example"])],
        },
        {"name": "catch-all", "priority": 0, "effect": "Allow"},
    ]
    compiled = impl.compile({"name": "p", "rules": rules})
    assert compiled.evaluate({"method": "GET", "url": "https://a.example/"}).rule == "exact"
    assert compiled.evaluate({"method": "POST", "url": "https://a.example/"}).rule == "host-only"
    assert compiled.evaluate({"method": "GET", "url": "https://b.example/"}).rule == "any-host"
    assert compiled.evaluate({"method": "PUT", "url": "https://b.example/"}).rule == "catch-all"
    assert compiled.evaluate({"url": "https://b.example/"}).rule == "catch-all"
    assert compiled.evaluate({"method": "GET"}).rule == "any-host"


def test_prepared_requests_give_the_same_decisions(impl):  # noqa: F811
    compiled = impl.compile(
        policy(cond("input.headers.x-tag", "eq", "two"), cond("input.json.amount", "gt", 1))
    )
    raw = request()
    prepared = impl.module.prepare_request(raw)
    assert compiled.evaluate(prepared) == compiled.evaluate(raw) == Decision("Allow", "hit", None)
    assert compiled.evaluate(prepared) == compiled.evaluate(prepared)
    parts = impl.request(method="post", url=URL, headers=raw["headers"], body=raw["body"])
    assert compiled.evaluate(parts).rule == "hit"


@pytest.mark.parametrize(
    "bad",
    [
        None,
        42,
        "GET /",
        {"method": 5, "url": None, "headers": 3, "body": 4.5, "agent": "x", "risk": "high", "time": "noon"},
        {"method": b"GET", "url": b"https://x", "headers": [("a",), (1, 2), "zz"], "body": {"a": 1}},
        {
            "url": "https://[::1/" + "x" * 10,
            "headers": {"X": object()},
            "agent": {"roles": 5, "trustScore": True},
        },
        {"time": float("nan"), "risk": float("inf"), "body": "\ud800"},
    ],
)
def test_evaluate_never_raises(impl, bad):  # noqa: F811
    document = {
        "name": "p",
        "default": "Allow",
        "rules": [
            {
                "name": "r",
                "effect": "Deny",
                "conditions": [
                    {
                        "any": [
                            cond(f, "exists")
                            for f in (
                                "input.method",
                                "input.url",
                                "input.scheme",
                                "input.host",
                                "input.port",
                                "input.path",
                                "input.query",
                                "input.query.a",
                                "input.headers.x",
                                "input.body",
                                "input.json.a.0",
                                "input.bodySize",
                                "input.agent.id",
                                "input.agent.trustScore",
                                "input.agent.roles",
                                "input.agent.other",
                                "input.risk.score",
                                "input.time.hour",
                                "input.time.weekday",
                            )
                        ]
                    },
                    cond("input.agent.roles", "contains", "x"),
                ],
            },
        ],
    }
    decision = impl.decide(document, bad)
    assert decision.effect in ("Allow", "Deny", "Hitl")


def test_a_request_prepared_by_the_other_implementation_is_accepted(impl):  # noqa: F811
    from policy_core import _evaluator_py

    compiled = impl.compile(
        policy(cond("input.agent.realm", "eq", "eu"), cond("input.path", "startsWith", "/v1"))
    )
    assert compiled.evaluate(_evaluator_py.prepare_request(request())).rule == "hit"
    assert compiled.evaluate(policy_core.prepare_request(request())).rule == "hit"


def test_compiled_policy_attributes(impl):  # noqa: F811
    compiled = impl.compile(
        policy(
            cond("input.method", "eq", "GET"),
            description="d",
            owner="o",
            default="hitl",
            hitlThreshold=0.7,
            rateLimit={"requests": 10, "perSeconds": 60},
            hitlExpirySeconds=600,
        )
    )
    assert (compiled.name, compiled.description, compiled.owner, compiled.default) == ("p", "d", "o", "Hitl")
    assert compiled.rule_count == 1
    assert compiled.hitl_threshold == 0.7
    assert compiled.rate_limit == {"requests": 10, "perSeconds": 60}
    assert compiled.hitl_expiry_seconds == 600
    assert compiled.policy.rules[0].name == "hit"
    assert compiled.implementation == impl.name
