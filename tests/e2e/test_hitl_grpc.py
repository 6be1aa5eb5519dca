"""vectra.v1.HitlService through the real daemon, with the generated stubs: the queue, the decisions, the replay's
answer, the status codes of refusals, and Watch streaming a request's changes until it is settled."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator

import grpc
import httpx
import pytest

from tests.e2e.daemon import Daemon, bearer, register_agent
from tests.e2e.proxy_agents import Agent, governed
from tests.integration.upstream import UpstreamServer
from vectra.grpc.generated.vectra.v1 import hitl_pb2, hitl_pb2_grpc

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hitl(daemon: Daemon) -> Iterator[hitl_pb2_grpc.HitlServiceStub]:
    with daemon.channel() as channel:
        yield hitl_pb2_grpc.HitlServiceStub(channel)


@pytest.fixture(scope="module")
def reviewer(daemon: Daemon) -> tuple[tuple[str, str]]:
    with daemon.admin() as admin:
        return bearer(daemon.token_for(register_agent(admin, "reviewer-bob", roles=["reviewer"])))


def park(agent: Agent, upstream: UpstreamServer) -> str:
    answer = agent.call("POST", f"{upstream.base}/review/grpc", content=b"payload",
                        headers={"Vectra-Authorization": f"Bearer {agent.token}", "Authorization": "Bearer own"})
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def code_of(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as failure:
        call()  # type: ignore[operator]
    return failure.value.code()


def test_list_get_and_approve_give_the_queue_the_request_and_the_upstreams_answer(
    hitl: hitl_pb2_grpc.HitlServiceStub, agent: Agent, upstream: UpstreamServer, reviewer: tuple[tuple[str, str]]
) -> None:
    pending_id = park(agent, upstream)

    listed = hitl.ListHitlRequests(hitl_pb2.ListHitlRequestsRequest(agent_id=agent.id), metadata=reviewer)
    assert ([item.id for item in listed.items], listed.total_count) == ([pending_id], 1)
    summary = listed.items[0]
    assert (summary.method, summary.reason, summary.rule, summary.status) == \
        ("POST", "a human reviews this", "review-writes", "Pending")
    assert summary.url == f"{upstream.base}/review/grpc" and summary.digest.startswith("hmac-sha256:")

    got = hitl.GetHitlRequest(hitl_pb2.GetHitlRequestRequest(id=pending_id), metadata=bearer(agent.token))
    assert (got.status, got.pending.body) == ("Pending", b"payload")
    assert {(h.name.lower(), h.value) for h in got.pending.headers} >= {("authorization", "[redacted]")}

    approved = hitl.ApproveHitlRequest(
        hitl_pb2.ApproveHitlRequestRequest(id=pending_id, comment="fine", digest=summary.digest), metadata=reviewer)
    seen = json.loads(approved.answer.body)
    assert (approved.answer.status, seen["method"], seen["body_length"]) == (200, "POST", len(b"payload"))
    assert ["authorization", "Bearer own"] in seen["headers"]
    assert (approved.request.status, approved.request.decision.comment, approved.request.response.status) == \
        ("Approved", "fine", 200)


def test_refusals_have_their_status_codes(
    hitl: hitl_pb2_grpc.HitlServiceStub, daemon: Daemon, admin: httpx.Client, agent: Agent,
    upstream: UpstreamServer, reviewer: tuple[tuple[str, str]]
) -> None:
    pending_id = park(agent, upstream)
    own = bearer(agent.token)

    assert code_of(lambda: hitl.ListHitlRequests(hitl_pb2.ListHitlRequestsRequest(), metadata=own)) == \
        grpc.StatusCode.PERMISSION_DENIED
    assert code_of(lambda: hitl.ApproveHitlRequest(hitl_pb2.ApproveHitlRequestRequest(id=pending_id),
                                                   metadata=own)) == grpc.StatusCode.PERMISSION_DENIED
    assert code_of(lambda: hitl.GetHitlRequest(hitl_pb2.GetHitlRequestRequest(id=str(uuid.uuid4())),
                                               metadata=reviewer)) == grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: hitl.GetHitlRequest(hitl_pb2.GetHitlRequestRequest(id="nope"),
                                               metadata=reviewer)) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: hitl.ListHitlRequests(hitl_pb2.ListHitlRequestsRequest(status=["Later"]),
                                                 metadata=reviewer)) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: hitl.GetHitlRequest(hitl_pb2.GetHitlRequestRequest(id=pending_id))) == \
        grpc.StatusCode.UNAUTHENTICATED

    denied = hitl.DenyHitlRequest(hitl_pb2.DenyHitlRequestRequest(id=pending_id, comment="no"), metadata=reviewer)
    assert (denied.status, denied.decision.comment) == ("Denied", "no")
    assert code_of(lambda: hitl.DenyHitlRequest(hitl_pb2.DenyHitlRequestRequest(id=pending_id),
                                                metadata=reviewer)) == grpc.StatusCode.FAILED_PRECONDITION
    assert code_of(lambda: hitl.ApproveHitlRequest(
        hitl_pb2.ApproveHitlRequestRequest(id=pending_id, comment="x" * 1001), metadata=reviewer)) == \
        grpc.StatusCode.INVALID_ARGUMENT


def test_watch_streams_the_request_until_its_replay_is_recorded(
    hitl: hitl_pb2_grpc.HitlServiceStub, agent: Agent, upstream: UpstreamServer, reviewer: tuple[tuple[str, str]]
) -> None:
    pending_id = park(agent, upstream)
    stream = hitl.Watch(hitl_pb2.WatchHitlRequestRequest(id=pending_id), metadata=bearer(agent.token), timeout=30)
    first = next(stream)
    assert first.status == "Pending"

    approving = threading.Thread(target=lambda: hitl.ApproveHitlRequest(
        hitl_pb2.ApproveHitlRequestRequest(id=pending_id), metadata=reviewer))
    approving.start()
    rest = list(stream)  # ends once settled
    approving.join()

    assert rest, "the stream ended without the decision"
    assert all(update.status == "Approved" for update in rest)
    assert (rest[-1].response.status, rest[-1].decision.by != "") == (200, True)


def test_watch_of_someone_elses_request_is_refused(
    hitl: hitl_pb2_grpc.HitlServiceStub, daemon: Daemon, admin: httpx.Client, agent: Agent, upstream: UpstreamServer
) -> None:
    pending_id = park(agent, upstream)
    other = Agent(daemon, admin)
    stream = hitl.Watch(hitl_pb2.WatchHitlRequestRequest(id=pending_id), metadata=bearer(other.token), timeout=10)
    assert code_of(lambda: next(stream)) == grpc.StatusCode.PERMISSION_DENIED


def test_a_reviewer_giving_up_on_approve_does_not_stop_the_replay_or_its_record(
    hitl: hitl_pb2_grpc.HitlServiceStub, daemon: Daemon, admin: httpx.Client, upstream: UpstreamServer,
    reviewer: tuple[tuple[str, str]]
) -> None:
    name = f"p-{uuid.uuid4().hex[:8]}"
    slow = Agent(daemon, admin, governed(name, rules=[{"name": "review-all", "effect": "Hitl"}]))
    pending_id = slow.call("GET", f"{upstream.base}/slow-headers").json()["id"]  # answers after 5 s

    assert code_of(lambda: hitl.ApproveHitlRequest(hitl_pb2.ApproveHitlRequestRequest(id=pending_id),
                                                   metadata=reviewer, timeout=0.5)) == \
        grpc.StatusCode.DEADLINE_EXCEEDED

    settled = slow.client.get(f"/hitl/{pending_id}", params={"wait": 20}).json()
    assert (settled["status"], settled["response"]["status"], settled["response"]["body"]) == \
        ("Approved", 200, "late")
