"""Typed gRPC policy messages carry exactly the document REST carries, in both directions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from policy_core import load_document, parse_policy, policy_to_document
from vectra.domain.policies import PolicyRecord
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
