"""Policy documents shared by the Policies, Simulate and registry end-to-end tests."""

from __future__ import annotations

import copy
from typing import Any

from google.protobuf import json_format

from vectra.grpc.generated.vectra.v1 import policies_pb2

#: The reference's billing-policy, exactly as its `GET /policies/{name}` example shows it.
REFERENCE_BILLING_POLICY: dict[str, Any] = {
    "name": "billing-policy",
    "description": "Governs the billing agent",
    "owner": "team-finance",
    "default": "Deny",
    "rules": [
        {
            "name": "block-delete",
            "priority": 100,
            "effect": "Deny",
            "conditions": [{"field": "input.method", "operator": "eq", "value": "DELETE"}],
        }
    ],
}

#: A document whose only fault is an unknown operator in its third rule's first condition.
BAD_OPERATOR_POLICY: dict[str, Any] = {
    "name": "bad-operator",
    "rules": [
        {"name": "a", "effect": "Allow", "conditions": []},
        {"name": "b", "effect": "Deny", "conditions": [{"field": "input.method", "operator": "eq", "value": "PUT"}]},
        {"name": "c", "effect": "Hitl", "conditions": [{"field": "input.host", "operator": "equals", "value": "x"}]},
    ],
}
BAD_OPERATOR_POINTER = "rules[2].conditions[0].operator"

#: A rule that requires a capability for a method: a POST needs ``mail_send``.
WRITES_NEED_MAIL_SEND: dict[str, Any] = {
    "name": "writes-need-mail-send", "priority": 100, "effect": "Deny", "reason": "POST needs mail_send",
    "conditions": [{"field": "input.method", "operator": "eq", "value": "POST"},
                   {"not": {"field": "input.agent.capabilities", "operator": "contains", "value": "mail_send"}}],
}


def policy(name: str, **fields: Any) -> dict[str, Any]:
    """A copy of the reference billing policy under another name, with ``fields`` replaced."""
    document = copy.deepcopy(REFERENCE_BILLING_POLICY)
    document.update(name=name, **fields)
    return document


def message(document: dict) -> policies_pb2.Policy:
    """The typed message for a REST-shaped document (conditions as {field: {...}} / {any: {conditions}})."""
    def condition(c: dict) -> dict:
        if "any" in c or "all" in c:
            kind = "any" if "any" in c else "all"
            return {kind: {"conditions": [condition(x) for x in c[kind]]}}
        if "not" in c:
            return {"not": condition(c["not"])}
        return {"field": {k: v for k, v in c.items()}}

    shaped = {**document, "rules": [
        {**rule, "conditions": [condition(c) for c in rule.get("conditions", [])]} for rule in document["rules"]
    ]}
    return json_format.ParseDict(shaped, policies_pb2.Policy())
