"""Hostile policies and bodies through the real daemon: documents at the parser's limits are accepted and past
them refused with a 400 naming where, a policy of the most rules the daemon takes (5,000) still decides, a
catastrophic regex meets a 1 MB body, 100,000 levels of JSON nesting reach ``input.json``, and a 50 MB document is
refused before it is parsed. No timing is asserted: the waits are liveness bounds (speed is the matter of
``benchmarks/bench_policy_size.py``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from policy_core.parse import MAX_DEPTH
from tests.e2e.proxy_agents import Agent, audit_of
from tests.integration.upstream import UpstreamServer
from vectra.services.policies import MAX_RULES

pytestmark = pytest.mark.e2e

LIVENESS = 60  # seconds: a bound for "it completes", not a timing


def deny_rule(index: int, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": f"r{index}", "effect": "Deny",
            "conditions": [condition or {"field": "path", "operator": "eq", "value": f"/{index}"}]}


def nested(nots: int) -> dict[str, Any]:
    """A leaf inside ``nots`` levels of ``not``: ``MAX_DEPTH`` levels of conditions in all when ``nots`` is one less."""
    condition: dict[str, Any] = {"field": "input.method", "operator": "eq", "value": "DELETE"}
    for _ in range(nots):
        condition = {"not": condition}
    return condition


def put(admin: httpx.Client, name: str, document: dict[str, Any]) -> httpx.Response:
    return admin.put(f"/policies/{name}", content=json.dumps(document, separators=(",", ":")),
                     headers={"Content-Type": "application/json"}, timeout=LIVENESS)


@pytest.fixture
def allowing_agent(daemon: Any, admin: httpx.Client) -> Iterator[Agent]:
    made = Agent(daemon, admin, {"name": "x", "default": "Allow"})
    yield made
    made.client.close()


def test_a_policy_of_the_most_rules_allowed_is_accepted_and_decides_and_one_more_is_a_400(
    daemon: Any, admin: httpx.Client, allowing_agent: Agent, upstream: UpstreamServer
) -> None:
    rules = [deny_rule(i) for i in range(MAX_RULES)]
    accepted = put(admin, "huge", {"name": "huge", "default": "Allow", "rules": rules})
    assert accepted.status_code == 201, accepted.text[:300]
    too_many = put(admin, "too-many", {"name": "too-many", "rules": [*rules, deny_rule(MAX_RULES)]})

    assert too_many.status_code == 400 and f"more than {MAX_RULES} rules" in too_many.text
    assert admin.get("/policies/too-many").status_code == 404
    assert admin.put(f"/agents/{allowing_agent.id}/policy", json={"policyName": "huge"}).status_code == 200
    last = allowing_agent.call("GET", f"{upstream.base}/{MAX_RULES - 1}", timeout=LIVENESS)
    other = allowing_agent.call("GET", f"{upstream.base}/elsewhere", timeout=LIVENESS)
    assert last.status_code == 403 and last.json()["rule"] == f"r{MAX_RULES - 1}"
    assert other.status_code == 200


def test_conditions_nested_to_the_limit_are_accepted_and_deeper_is_a_400_naming_where(admin: httpx.Client) -> None:
    deep = put(admin, "deep", {"name": "deep", "rules": [deny_rule(0, nested(MAX_DEPTH - 1))]})
    deeper = put(admin, "deeper", {"name": "deeper", "rules": [deny_rule(0, nested(MAX_DEPTH))]})

    assert deep.status_code == 201, deep.text
    assert deeper.status_code == 400 and "nested deeper than 32" in deeper.text
    assert "rules[0].conditions[0].not.not" in deeper.text


def test_a_catastrophic_regex_against_a_megabyte_body_completes(
    daemon: Any, admin: httpx.Client, upstream: UpstreamServer
) -> None:
    agent = Agent(daemon, admin, {"name": "x", "default": "Allow", "rules": [
        deny_rule(0, {"field": "input.body", "operator": "regex", "value": "(a+)+$"}),
        deny_rule(1, {"field": "input.body", "operator": "regex", "value": "^(a|aa)+b$"}),
    ]})
    answer = agent.call("POST", f"{upstream.base}/echo", content=b"a" * 1_000_000 + b"!", timeout=LIVENESS)
    denied = agent.call("POST", f"{upstream.base}/echo", content=b"a" * 1_000_000, timeout=LIVENESS)

    assert answer.status_code == 200 and answer.json()["body_length"] == 1_000_001
    assert denied.status_code == 403 and denied.json()["rule"] == "r0"


def test_a_body_nested_a_hundred_thousand_levels_deep_is_judged_without_a_crash(
    daemon: Any, admin: httpx.Client, upstream: UpstreamServer
) -> None:
    """Too deep for ``json.loads``: to the policy it is no JSON at all, so ``input.json.*`` is missing."""
    agent = Agent(daemon, admin, {"name": "x", "default": "Allow", "rules": [
        deny_rule(0, {"field": "input.json.action", "operator": "eq", "value": "drop"})]})
    depth = 100_000
    body = b'{"action": "drop", "x": ' + b"[" * depth + b"]" * depth + b"}"
    answer = agent.call("POST", f"{upstream.base}/echo", content=body, timeout=LIVENESS)
    shallow = agent.call("POST", f"{upstream.base}/echo", content=b'{"action": "drop"}', timeout=LIVENESS)

    assert answer.status_code == 200 and answer.json()["body_length"] == len(body)
    assert shallow.status_code == 403
    assert [r["decision"] for r in audit_of(admin, agent.id, action="proxy.request")] == ["Allow", "Deny"]


def test_a_policy_document_nested_a_hundred_thousand_levels_deep_is_a_400(admin: httpx.Client) -> None:
    body = b'{"name": "nest", "rules": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for content_type in ("application/json", "application/yaml"):
        answer = admin.put("/policies/nest", content=body, headers={"Content-Type": content_type},
                           timeout=LIVENESS)
        assert answer.status_code == 400, (content_type, answer.status_code, answer.text[:200])
    assert admin.get("/policies/nest").status_code == 404


def test_a_fifty_megabyte_policy_document_is_413_before_it_is_parsed(admin: httpx.Client) -> None:
    huge = b'{"name": "big", "description": "' + b"x" * (50 * 1024 * 1024) + b'"}'

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(huge), 1024 * 1024):
            yield huge[start:start + 1024 * 1024]

    declared = admin.put("/policies/big", content=huge, headers={"Content-Type": "application/json"},
                         timeout=LIVENESS)
    streamed = admin.put("/policies/big", content=chunks(), headers={"Content-Type": "application/json"},
                         timeout=LIVENESS)
    assert declared.status_code == 413 and streamed.status_code == 413
    assert admin.get("/policies/big").status_code == 404
