"""Capabilities and realms reach the policy: ``input.agent.capabilities`` and ``input.agent.realm`` decide real
proxied calls (REST) and checks (gRPC), and a change of an agent's capabilities decides its next call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest

from tests.e2e.daemon import Daemon, bearer
from tests.e2e.policy_documents import WRITES_NEED_MAIL_SEND
from tests.integration.upstream import UpstreamServer
from vectra.grpc.generated.vectra.v1 import proxy_pb2, proxy_pb2_grpc

POLICY = {
    "name": "capability-gated",
    "default": "Deny",
    "rules": [
        {"name": "ops-reads-only", "priority": 200, "effect": "Deny", "reason": "the ops realm only reads",
         "conditions": [{"field": "input.agent.realm", "operator": "eq", "value": "ops"},
                        {"field": "input.method", "operator": "ne", "value": "GET"}]},
        WRITES_NEED_MAIL_SEND,
        {"name": "api-calls", "priority": 10, "effect": "Allow",
         "conditions": [{"field": "input.agent.capabilities", "operator": "contains", "value": "api_call"}]},
    ],
}


class Caller:
    def __init__(self, daemon: Daemon, admin: httpx.Client, capabilities: list[str], realm: str | None) -> None:
        body: dict[str, Any] = {"name": "caller", "ownerId": "team", "capabilities": capabilities}
        if realm:
            body["realm"] = realm
        self.record = admin.post("/agents", json=body).json()
        assert admin.put(f"/agents/{self.record['id']}/policy", json={"policyName": "capability-gated"}).status_code \
            == 200
        self.token = daemon.token_for(self.record)
        self.client = daemon.client(self.token)


@pytest.fixture(scope="module")
def setup(daemon: Daemon) -> None:
    with daemon.admin() as admin:
        assert admin.put("/policies/capability-gated", json=POLICY).status_code == 201
        assert admin.post("/realms", json={"name": "Operations", "slug": "ops"}).status_code == 201


@pytest.fixture
def caller(daemon: Daemon, admin: httpx.Client, setup: None) -> Iterator[Any]:
    made: list[Caller] = []

    def make(capabilities: list[str], realm: str | None = None) -> Caller:
        made.append(Caller(daemon, admin, capabilities, realm))
        return made[-1]

    yield make
    for one in made:
        one.client.close()


def test_a_call_is_allowed_only_with_the_capability_the_rule_tests(caller: Any, upstream: UpstreamServer) -> None:
    with_api = caller(["api_call"])
    without = caller(["file_access"])

    allowed = with_api.client.get(f"/proxy/{upstream.base}/items")
    refused = without.client.get(f"/proxy/{upstream.base}/items")

    assert allowed.status_code == 200
    assert refused.status_code == 403 and refused.json().get("rule") is None  # the default: no rule allowed it


def test_a_write_needs_its_capability_for_that_method(caller: Any, upstream: UpstreamServer) -> None:
    reader = caller(["api_call"])
    mailer = caller(["api_call", "mail_send"])

    refused = reader.client.post(f"/proxy/{upstream.base}/send", content=b"hi")
    sent = mailer.client.post(f"/proxy/{upstream.base}/send", content=b"hi")

    assert refused.status_code == 403 and refused.json()["rule"] == "writes-need-mail-send"
    assert sent.status_code == 200
    assert sum(1 for r in upstream.requests if r["raw_path"] == "/send") == 1  # only the mailer's reached it


def test_the_realm_is_a_field_too(caller: Any, upstream: UpstreamServer) -> None:
    in_ops = caller(["api_call", "mail_send"], realm="ops")

    assert in_ops.client.get(f"/proxy/{upstream.base}/items").status_code == 200
    answer = in_ops.client.post(f"/proxy/{upstream.base}/send", content=b"hi")
    assert answer.status_code == 403 and answer.json()["rule"] == "ops-reads-only"


def test_granting_a_capability_decides_the_next_call(caller: Any, admin: httpx.Client,
                                                     upstream: UpstreamServer) -> None:
    agent = caller(["file_access"])
    assert agent.client.get(f"/proxy/{upstream.base}/items").status_code == 403

    granted = admin.patch(f"/agents/{agent.record['id']}", json={"capabilities": ["file_access", "api_call"]})

    assert granted.status_code == 200
    assert agent.client.get(f"/proxy/{upstream.base}/items").status_code == 200


def test_grpc_checks_judge_capabilities_alike(caller: Any, daemon: Daemon, upstream: UpstreamServer) -> None:
    reader, mailer = caller(["api_call"]), caller(["api_call", "mail_send"])
    with daemon.channel() as channel:
        stub = proxy_pb2_grpc.ProxyServiceStub(channel)

        def effect(agent: Caller) -> tuple[str, str]:
            checked = stub.Check(proxy_pb2.CheckRequest(method="POST", url=f"{upstream.base}/send"),
                                 metadata=bearer(agent.token))
            return checked.decision.effect, checked.decision.rule

        assert effect(reader) == ("Deny", "writes-need-mail-send")
        assert effect(mailer) == ("Allow", "api-calls")
        with pytest.raises(grpc.RpcError):
            stub.Check(proxy_pb2.CheckRequest(method="POST", url=f"{upstream.base}/send"))  # no token
