"""Loading, validation (with exact pointers), bounds and the canonical form of policies."""

from __future__ import annotations

import json
from typing import Any

import pytest

import policy_core
from policy_core import Effect, PolicyError, load_document, parse_policy, policy_to_document
from policy_core.parse import MAX_DEPTH, MAX_REGEX_LENGTH, MAX_RULES


def rule(*conditions: Any, **extra: Any) -> dict:
    return {
        "name": extra.pop("name", "r"),
        "effect": extra.pop("effect", "Deny"),
        "conditions": list(conditions),
        **extra,
    }


def error_of(document: Any) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        policy_core.compile_policy(document)
    return caught.value


def test_policy_error_is_a_value_error_with_pointer_and_message():
    error = PolicyError("rules[2].conditions[0].operator", "unknown operator 'equals'")
    assert isinstance(error, ValueError)
    assert str(error) == "rules[2].conditions[0].operator: unknown operator 'equals'"
    assert str(PolicyError("", "bad")) == "bad"


@pytest.mark.parametrize(
    ("document", "pointer", "fragment"),
    [
        (
            {
                "name": "p",
                "rules": [
                    rule(),
                    rule(name="b"),
                    rule({"field": "input.method", "operator": "equals", "value": "x"}, name="c"),
                ],
            },
            "rules[2].conditions[0].operator",
            "unknown operator 'equals'",
        ),
        (
            {"name": "p", "rules": [rule({"field": "input.nope", "operator": "eq", "value": 1})]},
            "rules[0].conditions[0].field",
            "unknown field",
        ),
        (
            {"name": "p", "rules": [rule({"field": "input.path", "operator": "regex", "value": "(a"})]},
            "rules[0].conditions[0].value",
            "invalid regex",
        ),
        (
            {
                "name": "p",
                "rules": [rule({"field": "input.host", "operator": "cidr", "value": "10.0.0.0/33"})],
            },
            "rules[0].conditions[0].value",
            "invalid CIDR",
        ),
        (
            {
                "name": "p",
                "rules": [rule({"field": "input.host", "operator": "cidr", "value": ["10.0.0.0/8", "x"]})],
            },
            "rules[0].conditions[0].value[1]",
            "invalid CIDR",
        ),
        (
            {"name": "p", "rules": [rule({"field": "input.method", "operator": "in", "value": "GET"})]},
            "rules[0].conditions[0].value",
            "needs a list",
        ),
        (
            {"name": "p", "rules": [rule({"field": "input.port", "operator": "gt", "value": "big"})]},
            "rules[0].conditions[0].value",
            "needs a number",
        ),
        (
            {"name": "p", "rules": [rule({"field": "input.port", "operator": "eq", "value": "https"})]},
            "rules[0].conditions[0].value",
            "needs a number",
        ),
        (
            {"name": "p", "rules": [rule({"field": "input.port", "operator": "in", "value": [1, "x"]})]},
            "rules[0].conditions[0].value[1]",
            "needs numbers",
        ),
        (
            {"name": "p", "rules": [rule({"field": "input.port", "operator": "startsWith", "value": "4"})]},
            "rules[0].conditions[0].operator",
            "does not apply",
        ),
        (
            {"name": "p", "rules": [rule({"field": "input.path", "operator": "startsWith", "value": 4})]},
            "rules[0].conditions[0].value",
            "needs a string",
        ),
        (
            {"name": "p", "rules": [rule({"field": "input.path", "operator": "eq", "value": [1]})]},
            "rules[0].conditions[0].value",
            "needs a string",
        ),
        (
            {"name": "p", "rules": [rule({"field": "input.path", "operator": "exists", "value": False})]},
            "rules[0].conditions[0].value",
            "takes no value",
        ),
        (
            {
                "name": "p",
                "rules": [rule({"field": "input.path", "operator": "eq", "value": "x", "ignoreCase": "yes"})],
            },
            "rules[0].conditions[0].ignoreCase",
            "true or false",
        ),
        (
            {
                "name": "p",
                "rules": [rule({"field": "input.path", "operator": "eq", "value": "x", "opertor": "eq"})],
            },
            "rules[0].conditions[0].opertor",
            "unknown key",
        ),
        (
            {"name": "p", "rules": [rule({"field": "input.path", "value": "x"})]},
            "rules[0].conditions[0].operator",
            "is required",
        ),
        (
            {
                "name": "p",
                "rules": [rule({"any": [{"not": {"field": "x.y", "operator": "eq", "value": 1}}]})],
            },
            "rules[0].conditions[0].any[0].not.field",
            "unknown field",
        ),
        ({"name": "p", "rules": [rule({"any": [], "all": []})]}, "rules[0].conditions[0].all", "either"),
        ({"name": "p", "rules": [rule({"any": {}})]}, "rules[0].conditions[0].any", "must be a list"),
        ({"name": "p", "rules": [rule("eq")]}, "rules[0].conditions[0]", "must be a mapping"),
        ({"name": "p", "rules": [{"name": "r", "effect": "Maybe"}]}, "rules[0].effect", "unknown effect"),
        ({"name": "p", "rules": [{"name": "r"}]}, "rules[0].effect", "is required"),
        ({"name": "p", "rules": [{"effect": "Allow"}]}, "rules[0].name", "is required"),
        (
            {"name": "p", "rules": [{"name": "r", "effect": "Allow", "priority": 1.5}]},
            "rules[0].priority",
            "integer",
        ),
        (
            {"name": "p", "rules": [{"name": "r", "effect": "Allow", "conditons": []}]},
            "rules[0].conditons",
            "unknown key",
        ),
        ({"name": "p", "rules": [rule(), rule()]}, "rules[1].name", "duplicate rule name"),
        ({"name": "p", "rules": {}}, "rules", "must be a list"),
        ({"rules": []}, "name", "is required"),
        ({"name": "p", "default": "Block"}, "default", "unknown effect"),
        ({"name": "p", "hitlThreshold": 1.5}, "hitlThreshold", "between 0 and 1"),
        (
            {"name": "p", "rateLimit": {"requests": 0, "perSeconds": 60}},
            "rateLimit.requests",
            "positive integer",
        ),
        ({"name": "p", "rateLimit": {"requests": 5}}, "rateLimit.perSeconds", "is required"),
        ({"name": "p", "hitlExpirySeconds": -1}, "hitlExpirySeconds", "positive integer"),
        ([], "", "must be a mapping"),
    ],
)
def test_validation_errors_point_at_the_problem(document, pointer, fragment):
    error = error_of(document)
    assert error.pointer == pointer, str(error)
    assert fragment in error.message, str(error)


def test_regex_longer_than_the_bound_is_refused():
    error = error_of(
        {
            "name": "p",
            "rules": [rule({"field": "path", "operator": "regex", "value": "a" * (MAX_REGEX_LENGTH + 1)})],
        }
    )
    assert error.pointer == "rules[0].conditions[0].value"


def test_nesting_deeper_than_the_bound_is_refused():
    condition: dict = {"field": "input.method", "operator": "eq", "value": "GET"}
    for _ in range(MAX_DEPTH + 1):
        condition = {"not": condition}
    error = error_of({"name": "p", "rules": [rule(condition)]})
    assert "nested deeper" in error.message
    assert error.pointer.startswith("rules[0].conditions[0].not.not")


def test_too_many_rules_are_refused():
    rules = [{"name": f"r{i}", "effect": "Allow"} for i in range(MAX_RULES + 1)]
    assert error_of({"name": "p", "rules": rules}).pointer == "rules"


def test_parse_gives_the_typed_model_with_canonical_names():
    policy = parse_policy(
        {
            "name": "p",
            "rules": [
                rule(
                    {"field": "input.agentId", "operator": "NEQ", "value": "x"},
                    {"any": [{"field": "headers.X-Api-Key", "operator": "exists"}]},
                    effect="hitl",
                    priority=3,
                    reason="why",
                )
            ],
        }
    )
    assert policy.default is Effect.DENY
    (only,) = policy.rules
    assert (only.effect, only.priority, only.reason) == (Effect.HITL, 3, "why")
    first, group = only.conditions
    assert (first.field, first.operator, first.value) == ("input.agent.id", "ne", "x")
    assert isinstance(group, policy_core.AnyOf)
    assert group.conditions[0].field == "input.headers.x-api-key"


def test_canonical_document_round_trips():
    document = {
        "name": "billing-policy",
        "description": "Governs the billing agent",
        "owner": "team-finance",
        "default": "deny",
        "hitlThreshold": 0.7,
        "rateLimit": {"requests": 60, "perSeconds": 60},
        "hitlExpirySeconds": 3600,
        "rules": [
            {
                "name": "block-delete",
                "priority": 100,
                "effect": "Deny",
                "reason": "no deletes",
                "conditions": [{"field": "input.method", "operator": "eq", "value": "DELETE"}],
            },
            {
                "name": "review",
                "effect": "HITL",
                "conditions": [
                    {"not": {"field": "input.trustScore", "operator": "gte", "value": 0.5}},
                    {
                        "all": [
                            {
                                "field": "input.path",
                                "operator": "glob",
                                "value": "/admin/*",
                                "ignoreCase": True,
                            }
                        ]
                    },
                    {"field": "input.headers.x-a", "operator": "notExists"},
                ],
            },
        ],
    }
    canonical = policy_to_document(parse_policy(document))
    assert canonical["default"] == "Deny"
    assert canonical["rules"][1] == {
        "name": "review",
        "priority": 0,
        "effect": "Hitl",
        "conditions": [
            {"not": {"field": "input.agent.trustScore", "operator": "ge", "value": 0.5}},
            {"all": [{"field": "input.path", "operator": "glob", "value": "/admin/*", "ignoreCase": True}]},
            {"field": "input.headers.x-a", "operator": "notExists"},
        ],
    }
    assert canonical["rateLimit"] == {"requests": 60, "perSeconds": 60}
    assert parse_policy(json.loads(json.dumps(canonical))) == parse_policy(document)


def test_load_document_reads_json_and_yaml():
    yaml_text = """
name: yaml-policy
default: Allow
rules:
  - name: block-delete
    priority: 100
    effect: deny
    conditions:
      - field: input.method
        operator: eq
        value: DELETE
"""
    from_yaml = load_document(yaml_text)
    from_json = load_document(json.dumps(from_yaml).encode())
    assert from_yaml == from_json
    compiled = policy_core.compile_policy(from_yaml)
    assert compiled.evaluate({"method": "DELETE", "url": "https://x/"}).rule == "block-delete"
    assert load_document("{name: flow}") == {"name": "flow"}  # YAML flow style that is not JSON


@pytest.mark.parametrize(
    "text",
    ["{", "name: [", "- a\n- b", "42", "", b"\xff\xfe\x00", "a: &x [1]\nb: *x"],
)
def test_load_document_rejects_bad_text_with_an_empty_pointer(text):
    with pytest.raises(PolicyError) as caught:
        load_document(text)
    assert caught.value.pointer == ""


def test_compile_accepts_a_model():
    model = parse_policy({"name": "p", "rules": [{"name": "r", "effect": "Allow"}]})
    assert policy_core.compile_policy(model).evaluate({}).rule == "r"
