"""Policy documents and callers shared by the Policies and Simulate end-to-end tests."""

from __future__ import annotations

import copy
from typing import Any

import httpx

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


def policy(name: str, **fields: Any) -> dict[str, Any]:
    """A copy of the reference billing policy under another name, with ``fields`` replaced."""
    document = copy.deepcopy(REFERENCE_BILLING_POLICY)
    document.update(name=name, **fields)
    return document


def register_agent(admin: httpx.Client, name: str, roles: list[str] | None = None) -> tuple[str, str]:
    """A new agent's id and client secret."""
    secret = f"{name}-secret-0123456789"[:72]
    body: dict[str, Any] = {"name": name, "ownerId": "team-test", "clientSecret": secret}
    if roles:
        body["roles"] = roles
    answer = admin.post("/agents", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"], secret


def token_for(client: httpx.Client, agent_id: str, secret: str) -> str:
    answer = client.post("/tokens", json={"agentId": agent_id, "clientSecret": secret})
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


def bearer(token: str) -> list[tuple[str, str]]:
    """gRPC call metadata for a token."""
    return [("authorization", f"Bearer {token}")]
