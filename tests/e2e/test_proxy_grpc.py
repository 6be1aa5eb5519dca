"""gRPC ProxyService through the real daemon: Forward to a real upstream, Check and CheckStream (batches of checks)
decisions, with the status codes of the one table."""

from __future__ import annotations

import itertools
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest

from tests.e2e.daemon import ADMIN_TOKEN, Daemon, bearer, register_agent
from tests.integration.upstream import UpstreamServer, pattern
from vectra.grpc.generated.vectra.v1 import proxy_pb2, proxy_pb2_grpc
from vectra.services.proxy import MAX_CHECKS_PER_BATCH

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


def check_batch(*requests: tuple[str, str]) -> proxy_pb2.CheckBatch:
    return proxy_pb2.CheckBatch(checks=[proxy_pb2.CheckRequest(method=method, url=url) for method, url in requests])


def stream_results(proxy_stub: proxy_pb2_grpc.ProxyServiceStub, token: str,
                   batches: list[proxy_pb2.CheckBatch]) -> list[list[proxy_pb2.CheckResponse]]:
    """Every batch sent on one stream, pipelined; the results of each, in order."""
    answers = proxy_stub.CheckStream(iter(batches), metadata=bearer(token), timeout=30)
    return [list(answer.results) for answer in answers]


def effects(results: list[proxy_pb2.CheckResponse]) -> list[str]:
    return [result.decision.effect for result in results]


def check_records(admin: httpx.Client, agent_id: str) -> list[tuple[str, str]]:
    """``(url, decision)`` of every ``proxy.check`` audit record about the agent, oldest first."""
    records: list[dict] = []
    for page in itertools.count(1):
        answer = admin.get("/audit", params={"agentId": agent_id, "action": "proxy.check", "pageSize": 100,
                                             "page": page}).json()
        records += answer["items"]
        if len(records) >= answer["totalCount"]:
            break
    return [(r["url"], r["decision"]) for r in reversed(records)]


def test_check_stream_answers_each_batch_with_one_result_per_check_in_order(
    daemon: Daemon, admin: httpx.Client, proxy_stub: proxy_pb2_grpc.ProxyServiceStub, upstream: UpstreamServer
) -> None:
    agent_id, token = new_agent(daemon, admin)
    kinds = {"Allow": "GET", "Deny": "DELETE", "Hitl": "POST"}
    chosen = random.Random(4).choices([*kinds, "Invalid"], k=75)
    requests = [("GET", "not a url") if effect == "Invalid" else
                (kinds[effect], f"{upstream.base}/{'review' if effect == 'Hitl' else 'item'}/{i}")
                for i, effect in enumerate(chosen)]
    sizes = [1, 20, 3, 50, 1]
    bounds = list(itertools.accumulate([0, *sizes]))
    batches = [check_batch(*requests[a:b]) for a, b in itertools.pairwise(bounds)]
    forwarded = len(upstream.requests)

    results = stream_results(proxy_stub, token, batches)

    assert [len(batch) for batch in results] == sizes
    assert [effects(batch) for batch in results] == [chosen[a:b] for a, b in itertools.pairwise(bounds)]
    flat = [result for batch in results for result in batch]
    invalid = [result for result in flat if result.decision.effect == "Invalid"]
    assert invalid and all(result.decision.reason.startswith("the upstream URL") for result in invalid), invalid[0]
    denied = next(result for result in flat if result.decision.effect == "Deny")
    assert (denied.decision.rule, denied.decision.reason) == ("block-delete", "deletes are not allowed")
    assert len(upstream.requests) == forwarded
    assert admin.get(f"/agents/{agent_id}").json()["trustScore"] == 0.5
    # One record per judged check, in order; a check whose URL doesn't parse is answered but has no record.
    judged = [(url, effect) for (_, url), effect in zip(requests, chosen, strict=True) if effect != "Invalid"]
    assert check_records(admin, agent_id) == judged


def test_check_stream_answers_rate_limited_when_the_limit_runs_out_inside_a_batch(
    daemon: Daemon, admin: httpx.Client, proxy_stub: proxy_pb2_grpc.ProxyServiceStub, upstream: UpstreamServer
) -> None:
    agent_id, token = new_agent(daemon, admin, requests=40)
    first = check_batch(*[("DELETE" if i % 2 else "GET", f"{upstream.base}/item/{i}") for i in range(25)])
    second = check_batch(*[("GET", f"{upstream.base}/item/{i}") for i in range(25, 50)], ("GET", "not a url"))
    after = check_batch(("GET", f"{upstream.base}/item/50"), ("GET", f"{upstream.base}/item/51"))

    results = stream_results(proxy_stub, token, [first, second, after])

    assert effects(results[0]) == ["Allow", "Deny"] * 12 + ["Allow"]
    assert Counter(effects(results[1])) == {"Allow": 15, "RateLimited": 10, "Invalid": 1}
    assert effects(results[1])[-1] == "Invalid"
    assert effects(results[2]) == ["RateLimited"] * 2
    limited = [result for batch in results for result in batch if result.decision.effect == "RateLimited"]
    assert all(result.retry_after_seconds >= 1 for result in limited)
    assert all(result.decision.reason == "rate limit exceeded" for result in limited)
    assert Counter(decision for _, decision in check_records(admin, agent_id)) == {
        "Allow": 28, "Deny": 12, "RateLimited": 12}


def test_check_stream_answers_an_empty_batch_with_an_empty_result(
    daemon: Daemon, admin: httpx.Client, proxy_stub: proxy_pb2_grpc.ProxyServiceStub, upstream: UpstreamServer
) -> None:
    _, token = new_agent(daemon, admin)
    batches = [proxy_pb2.CheckBatch(), check_batch(("GET", f"{upstream.base}/a")), proxy_pb2.CheckBatch()]

    assert [effects(batch) for batch in stream_results(proxy_stub, token, batches)] == [[], ["Allow"], []]


def test_check_stream_takes_a_batch_of_the_largest_size(
    daemon: Daemon, admin: httpx.Client, proxy_stub: proxy_pb2_grpc.ProxyServiceStub, upstream: UpstreamServer
) -> None:
    agent_id, token = new_agent(daemon, admin, requests=2 * MAX_CHECKS_PER_BATCH)
    batch = check_batch(*[("GET", f"{upstream.base}/item/{i}") for i in range(MAX_CHECKS_PER_BATCH)])

    [results] = stream_results(proxy_stub, token, [batch])

    assert effects(results) == ["Allow"] * MAX_CHECKS_PER_BATCH
    audited = admin.get("/audit", params={"agentId": agent_id, "action": "proxy.check", "pageSize": 1}).json()
    assert audited["totalCount"] == MAX_CHECKS_PER_BATCH


def test_check_stream_ends_invalid_argument_at_a_batch_over_the_limit_and_judges_none_of_it(
    daemon: Daemon, admin: httpx.Client, proxy_stub: proxy_pb2_grpc.ProxyServiceStub, upstream: UpstreamServer
) -> None:
    agent_id, token = new_agent(daemon, admin, requests=5000)
    batches = [check_batch(("GET", f"{upstream.base}/before")),
               check_batch(*[("GET", f"{upstream.base}/over/{i}") for i in range(MAX_CHECKS_PER_BATCH + 1)]),
               check_batch(("GET", f"{upstream.base}/after"))]
    answers = proxy_stub.CheckStream(iter(batches), metadata=bearer(token), timeout=30)

    assert effects(next(answers).results) == ["Allow"]
    with pytest.raises(grpc.RpcError) as raised:
        next(answers)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"at most {MAX_CHECKS_PER_BATCH} checks" in raised.value.details()
    assert check_records(admin, agent_id) == [(f"{upstream.base}/before", "Allow")]


@pytest.mark.parametrize(("credential", "code"), [
    (None, grpc.StatusCode.UNAUTHENTICATED),
    ("not-a-token", grpc.StatusCode.UNAUTHENTICATED),
    (ADMIN_TOKEN, grpc.StatusCode.PERMISSION_DENIED),  # the operator token is not an agent's
])
def test_check_stream_without_an_agents_token_ends_with_the_status_of_the_refusal(
    proxy_stub: proxy_pb2_grpc.ProxyServiceStub, upstream: UpstreamServer, credential: str | None,
    code: grpc.StatusCode,
) -> None:
    metadata = bearer(credential) if credential else ()
    stream = proxy_stub.CheckStream(iter([check_batch(("GET", f"{upstream.base}/"))]), metadata=metadata,
                                    timeout=30)
    assert code_of(lambda: list(stream)) == code


def test_a_check_with_a_bad_header_is_invalid_and_recorded_as_such(
    daemon: Daemon, admin: httpx.Client, proxy_stub: proxy_pb2_grpc.ProxyServiceStub, upstream: UpstreamServer
) -> None:
    agent_id, token = new_agent(daemon, admin)
    bad = proxy_pb2.CheckRequest(method="GET", url=f"{upstream.base}/bad",
                                 headers=[proxy_pb2.Header(name="bad name", value="x")])

    with pytest.raises(grpc.RpcError) as unary:
        proxy_stub.Check(bad, metadata=bearer(token), timeout=10)
    [[streamed]] = stream_results(proxy_stub, token, [proxy_pb2.CheckBatch(checks=[bad])])

    assert unary.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert streamed.decision.effect == "Invalid"
    assert check_records(admin, agent_id) == [(f"{upstream.base}/bad", "Invalid")] * 2
