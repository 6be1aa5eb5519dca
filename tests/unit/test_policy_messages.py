"""Typed gRPC policy messages carry exactly the document REST carries, in both directions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf import struct_pb2

from policy_core import load_document, parse_policy, policy_to_document
from vectra.domain.errors import InvalidInput
from vectra.domain.policies import PolicyRecord
from vectra.grpc.generated.vectra.v1 import policies_pb2
from vectra.grpc.policy_messages import document_from_message, policy_message

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "policies").glob("*.yaml"))

EVERY_SHAPE = {
    "name": "every-shape",
    "description": "each kind of condition and value",
    "owner": "team-test",
    "default": "Hitl",
    "hitlThreshold": 0.65,
    "rateLimit": {"requests": 10, "perSeconds": 60},
    "hitlExpirySeconds": 600,
    "rules": [
        {"name": "nested", "priority": -3, "effect": "Deny", "reason": "nested groups", "description": "d",
         "conditions": [
             {"any": [{"field": "input.host", "operator": "endsWith", "value": ".internal", "ignoreCase": True},
                      {"all": [{"field": "input.port", "operator": "in", "value": [22, 3389]},
                               {"not": {"field": "input.headers.x-trace", "operator": "exists"}}]}]},
         ]},
        {"name": "values", "priority": 7, "effect": "Allow", "conditions": [
            {"field": "input.json.amount", "operator": "le", "value": 99.5},
            {"field": "input.json.flag", "operator": "eq", "value": None},
            {"field": "input.json.tags", "operator": "contains", "value": True},
            {"field": "input.agent.trustScore", "operator": "gt", "value": 0},
        ]},
        {"name": "always", "priority": 0, "effect": "Allow", "conditions": []},
    ],
}


def record(document: dict) -> PolicyRecord:
    now = datetime.now(UTC)
    return PolicyRecord(document["name"], 1, document, now, now, "test")


@pytest.mark.parametrize("document", [EVERY_SHAPE, *(load_document(p.read_text()) for p in EXAMPLES)],
                         ids=["every-shape", *(p.stem for p in EXAMPLES)])
def test_a_canonical_document_survives_the_round_trip_through_messages(document: dict) -> None:
    canonical = policy_to_document(parse_policy(document))
    assert document_from_message(policy_message(record(canonical))) == canonical


@pytest.mark.parametrize("number", [float("inf"), float("-inf"), float("nan")])
def test_a_condition_value_json_cant_hold_is_invalid_input_pointing_at_it(number: float) -> None:
    nested = struct_pb2.Value(list_value=struct_pb2.ListValue(values=[struct_pb2.Value(number_value=number)]))
    leaf = policies_pb2.FieldCondition(field="input.port", operator="in", value=nested)
    inner = policies_pb2.Condition(field=leaf)
    message = policies_pb2.Policy(rules=[policies_pb2.Rule(name="r", conditions=[
        policies_pb2.Condition(any=policies_pb2.ConditionList(conditions=[inner]))])])

    with pytest.raises(InvalidInput) as refused:
        document_from_message(message)

    assert refused.value.extra["pointer"] == "rules[0].conditions[0].any[0].value"
