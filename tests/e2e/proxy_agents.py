"""What the end-to-end tests of the governed proxy and its HITL queue share: an agent with a policy of its own,
and reading the audit log and trust."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.e2e.daemon import Daemon, register_agent


def governed(name: str, **fields: Any) -> dict[str, Any]:
    """Allow by default; DELETE denied, anything under /review parked for a human."""
    return {
        "name": name,
        "default": "Allow",
        "rateLimit": {"requests": 1000, "perSeconds": 60},
        "rules": [
            {"name": "block-delete", "priority": 100, "effect": "Deny", "reason": "deletes are not allowed",
             "conditions": [{"field": "input.method", "operator": "eq", "value": "DELETE"}]},
            {"name": "review-writes", "priority": 50, "effect": "Hitl", "reason": "a human reviews this",
             "conditions": [{"field": "input.path", "operator": "startsWith", "value": "/review"}]},
            {"name": "reads", "priority": 10, "effect": "Allow",
             "conditions": [{"field": "input.method", "operator": "in", "value": ["GET", "POST", "PUT", "HEAD"]}]},
        ],
        **fields,
    }


class Agent:
    def __init__(self, daemon: Daemon, admin: httpx.Client, policy: dict[str, Any] | None = None,
                 roles: list[str] | None = None) -> None:
        name = f"p-{uuid.uuid4().hex[:12]}"
        assert admin.put(f"/policies/{name}", json=(policy or governed(name)) | {"name": name}).status_code == 201
        self.record = register_agent(admin, f"agent-{name}", **({"roles": roles} if roles else {}))
        self.id = self.record["id"]
        assert admin.put(f"/agents/{self.id}/policy", json={"policyName": name}).status_code == 200
        self.token = daemon.token_for(self.record)
        self.client = httpx.Client(base_url=daemon.url, headers={"Authorization": f"Bearer {self.token}"},
                                   timeout=30)

    def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, f"/proxy/{url}", **kwargs)


def is_problem(answer: httpx.Response, status: int) -> bool:
    return answer.status_code == status and answer.headers["content-type"] == "application/problem+json"


def audit_of(admin: httpx.Client, agent_id: str, action: str) -> list[dict[str, Any]]:
    """The agent's records of ``action``, oldest first."""
    answer = admin.get("/audit", params={"agentId": agent_id, "pageSize": 100})
    assert answer.status_code == 200, answer.text
    return [record for record in reversed(answer.json()["items"]) if record["action"] == action]


def trust_of(admin: httpx.Client, agent_id: str) -> float:
    return admin.get(f"/agents/{agent_id}").json()["trustScore"]
