"""gRPC ProxyService through the real daemon: Forward to a real upstream, Check and CheckStream decisions, with the
status codes of the one table."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest

from tests.e2e.daemon import Daemon, bearer, register_agent
from tests.integration.upstream import UpstreamServer, pattern
from vectra.grpc.generated.vectra.v1 import proxy_pb2, proxy_pb2_grpc

pytestmark = pytest.mark.e2e

POLICY: dict[str, Any] = {
    "default": "Allow",
    "rules": [
        {"name": "block-delete", "priority": 100, "effect": "Deny", "reason": "deletes are not allowed",
         "conditions": [{"field": "input.method", "operator": "eq", "value": "DELETE"}]},
        {"name": "review", "priority": 50, "effect": "Hitl", "reason": "a human reviews this",
         "conditions": [{"field": "input.path", "operator": "startsWith", "value": "/review"}]},
    ],
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamServer]:
    server = UpstreamServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy_stub(daemon: Daemon) -> Iterator[proxy_pb2_grpc.ProxyServiceStub]:
    with daemon.channel() as channel:
        yield proxy_pb2_grpc.ProxyServiceStub(channel)


def new_agent(daemon: Daemon, admin: httpx.Client, requests: int = 1000) -> tuple[str, str]:
    """An agent under POLICY with a rate limit of ``requests`` an hour: its id and token."""
    name = f"g-{uuid.uuid4().hex[:12]}"
    document = POLICY | {"name": name, "rateLimit": {"requests": requests, "perSeconds": 3600}}
    assert admin.put(f"/policies/{name}", json=document).status_code == 201
    agent = register_agent(admin, f"agent-{name}")
    assert admin.put(f"/agents/{agent['id']}/policy", json={"policyName": name}).status_code == 200
    return agent["id"], daemon.token_for(agent)


def headers(*pairs: tuple[str, str]) -> list[proxy_pb2.Header]:
    return [proxy_pb2.Header(name=name, value=value) for name, value in pairs]


def code_of(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value.code()


def test_forward_returns_the_upstream_answer_byte_exact_with_the_decision(
    daemon: Daemon, admin: httpx.Client, proxy_stub: proxy_pb2_grpc.ProxyServiceStub, upstream: UpstreamServer
) -> None:
    _, token = new_agent(daemon, admin)
    body = pattern(1_500_000)
    answer = proxy_stub.Forward(proxy_pb2.ForwardRequest(
        method="POST", url=f"{upstream.base}/stream-back", body=body,
        headers=headers(("Content-Type", "application/octet-stream")),
    ), metadata=bearer(token), timeout=30)

    assert (answer.status, answer.decision.effect) == (200, "Allow")
    assert answer.body == body
    gateway = {h.name: h.value for h in answer.gateway_headers}
    assert gateway["Vectra-Decision"].startswith("effect=Allow") and gateway["RateLimit-Limit"] == "1000"


def test_forward_sends_the_envelopes_authorization_upstream_and_never_the_gateway_token(
    daemon: Daemon, admin: httpx.Client, proxy_stub: proxy_pb2_grpc.ProxyServiceStub, upstream: UpstreamServer
) -> None:
    _, token = new_agent(daemon, admin)
    answer = proxy_stub.Forward(proxy_pb2.ForwardRequest(
        method="GET", url=f"{upstream.base}/echo?a=%2F", headers=headers(("Authorization", "Basic b3du")),
    ), metadata=bearer(token), timeout=30)

    seen = httpx.Response(200, content=answer.body).json()
    assert dict(seen["headers"])["authorization"] == "Basic b3du"
    assert not any(token in value for _, value in seen["headers"])
    assert seen["query_string"] == "a=%2F"


def test_forward_maps_refusals_to_their_status_codes(
    daemon: Daemon, admin: httpx.Client, proxy_stub: proxy_pb2_grpc.ProxyServiceStub, upstream: UpstreamServer
) -> None:
    _, token = new_agent(daemon, admin, requests=4)

    def forward(method: str, url: str, metadata: Any = None) -> Any:
        metadata = bearer(token) if metadata is None else metadata
        return lambda: proxy_stub.Forward(proxy_pb2.ForwardRequest(method=method, url=url), metadata=metadata,
                                          timeout=30)

    assert code_of(forward("GET", f"{upstream.base}/echo", metadata=())) == grpc.StatusCode.UNAUTHENTICATED
    assert code_of(forward("GET", "ftp://example.com/")) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(forward("DELETE", f"{upstream.base}/x")) == grpc.StatusCode.PERMISSION_DENIED
    assert code_of(forward("GET", "http://127.0.0.1:1/x")) == grpc.StatusCode.UNAVAILABLE
    assert code_of(forward("GET", "http://169.254.169.254/")) == grpc.StatusCode.PERMISSION_DENIED
    parked = forward("PUT", f"{upstream.base}/review/1")()
    assert (parked.status, parked.decision.effect, parked.pending.status) == (202, "Hitl", "Pending")
    assert parked.pending.location == f"/hitl/{parked.pending.id}"
    assert code_of(forward("GET", f"{upstream.base}/echo")) == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_check_decides_without_forwarding_or_moving_trust_and_is_audited(
    daemon: Daemon, admin: httpx.Client, proxy_stub: proxy_pb2_grpc.ProxyServiceStub, upstream: UpstreamServer
) -> None:
    agent_id, token = new_agent(daemon, admin)
    before = len(upstream.requests)

    def check(method: str, path: str) -> proxy_pb2.CheckResponse:
        return proxy_stub.Check(proxy_pb2.CheckRequest(method=method, url=f"{upstream.base}{path}"),
                                metadata=bearer(token), timeout=30)

    allowed, denied, parked = check("GET", "/a"), check("DELETE", "/a"), check("POST", "/review/a")

    assert (allowed.decision.effect, denied.decision.effect, parked.decision.effect) == ("Allow", "Deny", "Hitl")
    assert (denied.decision.rule, denied.decision.reason) == ("block-delete", "deletes are not allowed")
    assert allowed.decision.policy_name.startswith("g-") and 0 <= allowed.decision.risk < 1
    assert len(upstream.requests) == before
    assert admin.get(f"/agents/{agent_id}").json()["trustScore"] == 0.5
    records = admin.get("/audit", params={"agentId": agent_id}).json()["items"]
    checks = [(r["action"], r["source"], r["decision"]) for r in records if r["action"] == "proxy.check"]
    assert checks == [("proxy.check", "grpc", "Hitl"), ("proxy.check", "grpc", "Deny"),
                      ("proxy.check", "grpc", "Allow")]


def test_check_stream_answers_every_check_in_order_including_invalid_and_rate_limited_ones(
    daemon: Daemon, admin: httpx.Client, proxy_stub: proxy_pb2_grpc.ProxyServiceStub, upstream: UpstreamServer
) -> None:
    _, token = new_agent(daemon, admin, requests=40)
    requests = [proxy_pb2.CheckRequest(method="DELETE" if i % 2 else "GET", url=f"{upstream.base}/item/{i}")
                for i in range(45)]
    requests.insert(10, proxy_pb2.CheckRequest(method="GET", url="not a url"))

    answers = list(proxy_stub.CheckStream(iter(requests), metadata=bearer(token), timeout=30))

    effects = [a.decision.effect for a in answers]
    assert len(answers) == 46
    assert effects[10] == "Invalid"
    valid = effects[:10] + effects[11:]
    assert valid[:40] == ["Allow", "Deny"] * 20
    assert valid[40:] == ["RateLimited"] * 5
    assert all(a.retry_after_seconds >= 1 for a in answers[41:])


def test_check_stream_without_a_token_ends_unauthenticated(
    proxy_stub: proxy_pb2_grpc.ProxyServiceStub, upstream: UpstreamServer
) -> None:
    stream = proxy_stub.CheckStream(iter([proxy_pb2.CheckRequest(method="GET", url=f"{upstream.base}/")]),
                                    timeout=30)
    assert code_of(lambda: list(stream)) == grpc.StatusCode.UNAUTHENTICATED
