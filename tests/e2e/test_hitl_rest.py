"""The HITL queue through the real daemon: parked calls listed and read, approved (replayed byte for byte, once) or
denied by a reviewer, expired, capped per agent, waited for, announced to a webhook, and all of it in the audit."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from typing import Any

import httpx
import pytest

from tests.e2e.daemon import Daemon, register_agent, wait_until
from tests.e2e.proxy_agents import Agent, audit_of, governed, is_problem, trust_of
from tests.integration.upstream import UpstreamServer, pattern

pytestmark = pytest.mark.e2e

WEBHOOK_SECRET = "webhook-secret-0123456789"
MAX_PENDING = 3


class WebhookReceiver:
    """A real HTTP endpoint that keeps every delivery (headers and body) and answers 204."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_port}/hooks"

    def events(self, pending_id: str) -> list[str]:
        return [json.loads(body)["type"] for _, body in self.deliveries if json.loads(body)["data"]["id"] == pending_id]

    def close(self) -> None:
        self._server.shutdown()


@pytest.fixture(scope="module")
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, webhook: WebhookReceiver) -> Iterator[Daemon]:
    running = Daemon(tmp_path_factory.mktemp("vectra") / "data", env={
        "VECTRA_HITL_MAX_PENDING_PER_AGENT": str(MAX_PENDING), "VECTRA_HITL_SWEEP_SECONDS": "0.2",
        "VECTRA_WEBHOOK_URL": webhook.url, "VECTRA_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "VECTRA_WEBHOOK_BACKOFF_SECONDS": "0.05",
    }).start()
    yield running
    assert running.stop() == 0, running.log()


@pytest.fixture(scope="module")
def reviewer(daemon: Daemon) -> Iterator[httpx.Client]:
    """A person's client: an agent registered with the reviewer role only."""
    with daemon.admin() as admin:
        record = register_agent(admin, "reviewer-ann", roles=["reviewer"])
    with daemon.client(daemon.token_for(record)) as client:
        client.subject = record["id"]  # type: ignore[attr-defined]
        yield client


def park(agent: Agent, upstream: UpstreamServer, **kwargs: Any) -> str:
    """A call the agent's policy parks; its pending id."""
    answer = agent.call("POST", f"{upstream.base}/review/item?x=%2F1", **kwargs)
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def sent_to(upstream: UpstreamServer, path: str) -> list[dict[str, Any]]:
    return [r for r in upstream.requests if r["raw_path"] == path]


# -- reading the queue -----------------------------------------------------------------------------------------

def test_a_parked_call_is_listed_newest_first_and_read_with_its_secrets_redacted(
    agent: Agent, upstream: UpstreamServer, reviewer: httpx.Client
) -> None:
    first = park(agent, upstream, content=b"{}")
    second = park(agent, upstream, content=b'{"amount": 12}',
                  headers={"Vectra-Authorization": f"Bearer {agent.token}", "Authorization": "Bearer upstream-key",
                           "X-Api-Key": "key-123", "Content-Type": "application/json"})

    listed = reviewer.get("/hitl", params={"agentId": agent.id})
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert (page["totalCount"], [item["id"] for item in page["items"]]) == (2, [second, first])
    item = page["items"][0]
    assert (item["method"], item["url"], item["reason"], item["rule"], item["status"]) == \
        ("POST", f"{upstream.base}/review/item?x=%2F1", "a human reviews this", "review-writes", "Pending")
    assert item["agentId"] == agent.id and item["digest"].startswith("hmac-sha256:") and item["bodySize"] == 14
    assert item["timestamp"] < item["expiresAt"]

    detail = reviewer.get(f"/hitl/{second}").json()
    assert (detail["id"], detail["status"]) == (second, "Pending")
    headers = {h["name"].lower(): h["value"] for h in detail["pending"]["headers"]}
    assert headers["authorization"] == "[redacted]" and headers["x-api-key"] == "[redacted]"
    assert headers["content-type"] == "application/json"
    assert (detail["pending"]["body"], detail["pending"]["bodyEncoding"]) == ('{"amount": 12}', "utf-8")
    assert "decision" not in detail and "response" not in detail


def test_secret_headers_are_encrypted_at_rest(daemon: Daemon, agent: Agent, upstream: UpstreamServer) -> None:
    pending_id = park(agent, upstream, headers={"Vectra-Authorization": f"Bearer {agent.token}",
                                                "Authorization": "Bearer s3cr3t-upstream-credential",
                                                "Cookie": "session=c00kie-value"})
    with closing(sqlite3.connect(daemon.data_dir / "vectra.db")) as conn:
        row = conn.execute("SELECT * FROM pending_requests WHERE id = ?", [pending_id]).fetchone()
    stored = b"".join(value if isinstance(value, bytes) else str(value).encode() for value in row)
    assert b"s3cr3t-upstream-credential" not in stored and b"c00kie-value" not in stored
    assert agent.token.encode() not in stored


def test_only_reviewers_list_and_an_agent_reads_only_its_own(
    daemon: Daemon, admin: httpx.Client, agent: Agent, upstream: UpstreamServer
) -> None:
    pending_id = park(agent, upstream)
    other = Agent(daemon, admin)

    assert is_problem(agent.client.get("/hitl"), 403)
    assert agent.client.get(f"/hitl/{pending_id}").json()["status"] == "Pending"
    assert is_problem(other.client.get(f"/hitl/{pending_id}"), 403)
    assert is_problem(admin.get(f"/hitl/{uuid.uuid4()}"), 404)
    assert is_problem(admin.get("/hitl/not-a-uuid"), 400)
    assert is_problem(admin.get("/hitl", params={"status": "Maybe"}), 400)
    with daemon.client() as anonymous:
        assert is_problem(anonymous.get("/hitl"), 401)


# -- approving -------------------------------------------------------------------------------------------------

def test_approval_replays_the_exact_bytes_with_the_real_credentials_once_and_both_sides_get_the_answer(
    agent: Agent, upstream: UpstreamServer, reviewer: httpx.Client, admin: httpx.Client, webhook: WebhookReceiver
) -> None:
    body = pattern(3_000_000)
    pending_id = park(agent, upstream, content=body, headers=[
        ("Vectra-Authorization", f"Bearer {agent.token}"), ("Authorization", "Bearer upstream-own-key"),
        ("X-Kept", "1"), ("X-Kept", "2"), ("Content-Type", "application/octet-stream")])
    digest = reviewer.get(f"/hitl/{pending_id}").json()["pending"]["digest"]
    path = "/review/item?x=%2F1"
    before = len(sent_to(upstream, "/review/item"))

    approved = reviewer.post(f"/hitl/{pending_id}/approve", json={"comment": "ok by ann", "digest": digest})

    assert approved.status_code == 200, approved.text
    assert approved.headers["vectra-hitl-id"] == pending_id
    seen = approved.json()  # the upstream echoes what it received
    assert seen == sent_to(upstream, "/review/item")[-1] and len(sent_to(upstream, "/review/item")) == before + 1
    assert (seen["method"], seen["raw_path"] + "?" + seen["query_string"]) == ("POST", path)
    assert (seen["body_length"], seen["body_sha256"]) == (len(body), hashlib.sha256(body).hexdigest())
    headers = seen["headers"]
    assert ["authorization", "Bearer upstream-own-key"] in headers
    assert [v for n, v in headers if n == "x-kept"] == ["1", "2"]
    assert not any(agent.token in v for _, v in headers)

    status = agent.client.get(f"/hitl/{pending_id}").json()
    assert status["status"] == "Approved"
    assert (status["decision"]["by"], status["decision"]["comment"]) == (reviewer.subject, "ok by ann")
    response = status["response"]
    assert (response["status"], json.loads(response["body"]), response["bodyTruncated"]) == (200, seen, False)
    [parked] = [r for r in audit_of(admin, agent.id, "proxy.request") if r["details"].get("pendingId") == pending_id]
    [approval] = audit_of(admin, agent.id, "hitl.approved")
    assert parked["details"]["trustAfter"] < parked["trust"]  # being parked costs a little
    assert approval["details"]["trustAfter"] > parked["details"]["trustAfter"]  # being approved gives it back
    assert trust_of(admin, agent.id) == approval["details"]["trustAfter"]

    records = {r["action"]: r for r in admin.get("/audit", params={"agentId": agent.id, "source": "hitl"})
               .json()["items"]}
    assert set(records) == {"hitl.approved", "hitl.replayed"}
    assert (records["hitl.approved"]["actor"], records["hitl.approved"]["details"]["digest"]) == \
        (reviewer.subject, digest)
    assert (records["hitl.replayed"]["upstreamStatus"], records["hitl.replayed"]["decision"]) == (200, "Replayed")
    wait_until(lambda: webhook.events(pending_id) == ["hitl.pending", "hitl.approved", "hitl.replayed"])

    again = reviewer.post(f"/hitl/{pending_id}/approve", json={})
    assert is_problem(again, 409) and len(sent_to(upstream, "/review/item")) == before + 1


def test_a_binary_answer_is_kept_for_the_agent_as_base64_and_bounded(
    daemon: Daemon, upstream: UpstreamServer, reviewer: httpx.Client, admin: httpx.Client
) -> None:
    name = f"p-{uuid.uuid4().hex[:8]}"
    policy = governed(name, rules=[{"name": "review-all", "effect": "Hitl", "reason": "all reviewed"}])
    bytes_agent = Agent(daemon, admin, policy)
    answer = bytes_agent.call("GET", f"{upstream.base}/bytes/200000")
    pending_id = answer.json()["id"]

    approved = reviewer.post(f"/hitl/{pending_id}/approve")
    assert approved.status_code == 200 and approved.content == pattern(200_000)

    response = bytes_agent.client.get(f"/hitl/{pending_id}").json()["response"]
    assert (response["status"], response["bodyEncoding"], response["bodySize"], response["bodyTruncated"]) == \
        (200, "base64", 200_000, True)


def test_an_agent_may_not_decide_its_own_request_even_as_a_reviewer(
    daemon: Daemon, admin: httpx.Client, upstream: UpstreamServer
) -> None:
    both = Agent(daemon, admin, roles=["agent", "reviewer"])
    pending_id = park(both, upstream)
    assert is_problem(both.client.post(f"/hitl/{pending_id}/approve", json={}), 403)
    assert is_problem(both.client.post(f"/hitl/{pending_id}/deny", json={}), 403)
    assert both.client.get(f"/hitl/{pending_id}").json()["status"] == "Pending"


def test_a_plain_agent_may_not_decide_anything(agent: Agent, upstream: UpstreamServer, daemon: Daemon,
                                               admin: httpx.Client) -> None:
    pending_id = park(agent, upstream)
    other = Agent(daemon, admin)
    assert is_problem(other.client.post(f"/hitl/{pending_id}/approve", json={}), 403)


def test_an_approval_bound_to_another_digest_replays_nothing(
    agent: Agent, upstream: UpstreamServer, reviewer: httpx.Client
) -> None:
    pending_id = park(agent, upstream)
    before = len(upstream.requests)
    refused = reviewer.post(f"/hitl/{pending_id}/approve", json={"digest": "hmac-sha256:" + "0" * 64})
    assert is_problem(refused, 409) and len(upstream.requests) == before
    assert reviewer.get(f"/hitl/{pending_id}").json()["status"] == "Pending"


def test_a_request_altered_in_the_database_is_never_replayed_and_the_refusal_is_audited(
    daemon: Daemon, agent: Agent, upstream: UpstreamServer, reviewer: httpx.Client, admin: httpx.Client
) -> None:
    pending_id = park(agent, upstream, content=b"transfer 10")
    with closing(sqlite3.connect(daemon.data_dir / "vectra.db")) as conn:
        conn.execute("UPDATE pending_requests SET body = ? WHERE id = ?", [b"transfer 10000", pending_id])
        conn.commit()
    before = len(upstream.requests)

    refused = reviewer.post(f"/hitl/{pending_id}/approve", json={})

    assert is_problem(refused, 409) and "digest" in refused.json()["detail"]
    assert len(upstream.requests) == before
    [record] = audit_of(admin, agent.id, "hitl.replay_refused")
    assert record["details"]["pendingId"] == pending_id


def test_two_reviewers_approving_at_once_make_exactly_one_replay(
    daemon: Daemon, admin: httpx.Client, upstream: UpstreamServer, reviewer: httpx.Client
) -> None:
    """Four reviewers at once, all approving, then approving and denying: one wins, three get 409."""
    for verbs in (["approve"] * 4, ["approve", "deny"] * 2, ["deny", "approve"] * 2):
        agent = Agent(daemon, admin)  # its own, so that denials can't push one agent into quarantine
        pending_id = park(agent, upstream)
        before = len(upstream.requests)
        barrier = threading.Barrier(len(verbs))

        def decide(verb: str, pending_id: str = pending_id, barrier: threading.Barrier = barrier) -> int:
            with daemon.admin() as client:
                barrier.wait()
                return client.post(f"/hitl/{pending_id}/{verb}", json={"comment": verb}).status_code

        with ThreadPoolExecutor(len(verbs)) as pool:
            codes = sorted(pool.map(decide, verbs))
        assert codes == [200, 409, 409, 409], (verbs, codes)
        status = reviewer.get(f"/hitl/{pending_id}").json()["status"]
        assert len(upstream.requests) - before == (1 if status == "Approved" else 0)
        decisions = audit_of(admin, agent.id, "hitl.approved") + audit_of(admin, agent.id, "hitl.denied")
        assert len(decisions) == 1


def test_a_revoked_agents_request_can_be_denied_but_not_replayed(
    daemon: Daemon, admin: httpx.Client, upstream: UpstreamServer, reviewer: httpx.Client
) -> None:
    revoked = Agent(daemon, admin)
    first, second = park(revoked, upstream), park(revoked, upstream)
    assert admin.post(f"/agents/{revoked.id}/revoke").status_code == 200
    before = len(upstream.requests)

    refused = reviewer.post(f"/hitl/{first}/approve", json={})

    assert is_problem(refused, 409) and "revoked" in refused.json()["detail"]
    assert len(upstream.requests) == before
    assert reviewer.get(f"/hitl/{first}").json()["status"] == "Pending"
    assert reviewer.post(f"/hitl/{second}/deny", json={"comment": "agent revoked"}).status_code == 200


def test_the_answers_secret_headers_reach_the_agent_only(
    daemon: Daemon, admin: httpx.Client, upstream: UpstreamServer, reviewer: httpx.Client
) -> None:
    name = f"p-{uuid.uuid4().hex[:8]}"
    review_all = Agent(daemon, admin, governed(name, rules=[{"name": "review-all", "effect": "Hitl"}]))
    pending_id = review_all.call("GET", f"{upstream.base}/hop").json()["id"]  # answers Set-Cookie a=1, b=2

    approved = reviewer.post(f"/hitl/{pending_id}/approve", json={})

    assert approved.status_code == 200 and approved.text == "hop"
    assert "set-cookie" not in approved.headers and approved.headers.get_list("x-kept") == ["a", "b"]
    as_reviewer = reviewer.get(f"/hitl/{pending_id}").json()["response"]["headers"]
    assert [h["value"] for h in as_reviewer if h["name"].lower() == "set-cookie"] == ["[redacted]"] * 2
    as_agent = review_all.client.get(f"/hitl/{pending_id}").json()["response"]["headers"]
    assert [h["value"] for h in as_agent if h["name"].lower() == "set-cookie"] == ["a=1", "b=2"]
    with closing(sqlite3.connect(daemon.data_dir / "vectra.db")) as conn:
        [stored] = conn.execute("SELECT outcome FROM pending_requests WHERE id = ?", [pending_id]).fetchone()
    assert [v for n, v in json.loads(stored)["headers"] if n.lower() == "set-cookie"] == ["", ""]


def test_a_damaged_row_is_a_503_and_does_not_stop_other_requests_expiring(
    daemon: Daemon, admin: httpx.Client, upstream: UpstreamServer, reviewer: httpx.Client
) -> None:
    name = f"p-{uuid.uuid4().hex[:8]}"
    short = Agent(daemon, admin, governed(name, hitlExpirySeconds=1))
    damaged, healthy = park(short, upstream), park(short, upstream)
    with closing(sqlite3.connect(daemon.data_dir / "vectra.db")) as conn:
        conn.execute("UPDATE pending_requests SET risk_factors = 'not json' WHERE id = ?", [damaged])
        conn.commit()

    assert is_problem(reviewer.get(f"/hitl/{damaged}"), 503)
    wait_until(lambda: reviewer.get(f"/hitl/{healthy}").json()["status"] == "Expired", timeout=10)
    with closing(sqlite3.connect(daemon.data_dir / "vectra.db")) as conn:
        conn.execute("UPDATE pending_requests SET risk_factors = '{}' WHERE id = ?", [damaged])
        conn.commit()
    wait_until(lambda: reviewer.get(f"/hitl/{damaged}").json()["status"] == "Expired", timeout=10)


def test_a_replay_whose_record_fails_at_first_is_recorded_once_the_audit_log_works_again(
    daemon: Daemon, agent: Agent, upstream: UpstreamServer, reviewer: httpx.Client, admin: httpx.Client
) -> None:
    pending_id = park(agent, upstream)
    database = daemon.data_dir / "vectra.db"
    with closing(sqlite3.connect(database)) as conn:
        conn.execute("CREATE TRIGGER refuse_replays BEFORE INSERT ON audit_log WHEN NEW.action = 'hitl.replayed' "
                     "BEGIN SELECT RAISE(ABORT, 'the disk says no'); END")
        conn.commit()
    try:
        with ThreadPoolExecutor(1) as pool:
            approving = pool.submit(reviewer.post, f"/hitl/{pending_id}/approve", json={})
            wait_until(lambda: len(sent_to(upstream, "/review/item")) and
                       reviewer.get(f"/hitl/{pending_id}").json()["status"] == "Approved")
            time.sleep(0.5)
            assert not approving.done()
            with closing(sqlite3.connect(database)) as conn:
                conn.execute("DROP TRIGGER refuse_replays")
                conn.commit()
            answer = approving.result(timeout=30)
    finally:
        with closing(sqlite3.connect(database)) as conn:
            conn.execute("DROP TRIGGER IF EXISTS refuse_replays")
            conn.commit()
    assert answer.status_code == 200, answer.text
    assert agent.client.get(f"/hitl/{pending_id}").json()["response"]["status"] == 200
    [record] = audit_of(admin, agent.id, "hitl.replayed")
    assert record["upstreamStatus"] == 200
    assert admin.get("/audit/verify").json()["valid"] is True


# -- denying, expiring, capping --------------------------------------------------------------------------------

def test_a_denial_is_recorded_with_its_reviewer_costs_trust_and_sends_nothing(
    agent: Agent, upstream: UpstreamServer, reviewer: httpx.Client, admin: httpx.Client, webhook: WebhookReceiver
) -> None:
    pending_id = park(agent, upstream)
    trust = trust_of(admin, agent.id)
    before = len(upstream.requests)

    denied = reviewer.post(f"/hitl/{pending_id}/deny", json={"comment": "not today"})

    assert denied.status_code == 200, denied.text
    assert (denied.json()["status"], denied.json()["decision"]["comment"]) == ("Denied", "not today")
    assert len(upstream.requests) == before
    assert trust_of(admin, agent.id) < trust
    [record] = audit_of(admin, agent.id, "hitl.denied")
    assert (record["actor"], record["decision"], record["reason"]) == (reviewer.subject, "Denied", "not today")
    assert is_problem(reviewer.post(f"/hitl/{pending_id}/approve", json={}), 409)
    assert is_problem(reviewer.post(f"/hitl/{pending_id}/deny", json={}), 409)
    wait_until(lambda: webhook.events(pending_id) == ["hitl.pending", "hitl.denied"])


def test_an_expired_request_is_marked_audited_costs_trust_and_can_no_longer_be_approved(
    daemon: Daemon, admin: httpx.Client, upstream: UpstreamServer, reviewer: httpx.Client
) -> None:
    name = f"p-{uuid.uuid4().hex[:8]}"
    short = Agent(daemon, admin, governed(name, hitlExpirySeconds=1))
    pending_id = park(short, upstream)
    trust = trust_of(admin, short.id)

    wait_until(lambda: reviewer.get(f"/hitl/{pending_id}").json()["status"] == "Expired", timeout=10)

    assert is_problem(reviewer.post(f"/hitl/{pending_id}/approve", json={}), 404)
    assert is_problem(reviewer.post(f"/hitl/{pending_id}/deny", json={}), 404)
    [record] = audit_of(admin, short.id, "hitl.expired")
    assert (record["actor"], record["decision"]) == ("vectra", "Expired")
    assert trust_of(admin, short.id) < trust
    listed = reviewer.get("/hitl", params={"agentId": short.id, "status": "Expired"}).json()
    assert [item["id"] for item in listed["items"]] == [pending_id]


def test_past_the_per_agent_cap_the_proxy_answers_429_and_records_it(
    daemon: Daemon, admin: httpx.Client, upstream: UpstreamServer, reviewer: httpx.Client
) -> None:
    capped = Agent(daemon, admin)
    parked = [park(capped, upstream) for _ in range(MAX_PENDING)]

    refused = capped.call("POST", f"{upstream.base}/review/one-more")

    assert is_problem(refused, 429), refused.text
    assert "waiting for review" in refused.json()["detail"]
    # at the latest, a place frees when the first waiting request expires (VECTRA_HITL_EXPIRY_SECONDS, 3600)
    assert 3500 < int(refused.headers["retry-after"]) <= 3600
    assert refused.json()["retryAfterSeconds"] == int(refused.headers["retry-after"])
    assert [r["decision"] for r in audit_of(admin, capped.id, "proxy.request")][-1] == "HitlQueueFull"
    assert reviewer.post(f"/hitl/{parked[0]}/deny", json={}).status_code == 200
    assert capped.call("POST", f"{upstream.base}/review/one-more").status_code == 202


# -- waiting -----------------------------------------------------------------------------------------------------

def test_an_agents_long_poll_returns_the_upstream_answer_once_approved(
    agent: Agent, upstream: UpstreamServer, reviewer: httpx.Client
) -> None:
    pending_id = park(agent, upstream)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(agent.client.get, f"/hitl/{pending_id}", params={"wait": 20})
        time.sleep(0.3)
        assert not waiting.done()
        assert reviewer.post(f"/hitl/{pending_id}/approve", json={}).status_code == 200
        answer = waiting.result(timeout=20)
    assert answer.status_code == 200
    assert (answer.json()["status"], answer.json()["response"]["status"]) == ("Approved", 200)


def test_a_long_poll_gives_up_at_its_wait_and_says_pending(agent: Agent, upstream: UpstreamServer) -> None:
    pending_id = park(agent, upstream)
    answer = agent.client.get(f"/hitl/{pending_id}", params={"wait": 0.5})
    assert (answer.status_code, answer.json()["status"]) == (200, "Pending")
    assert is_problem(agent.client.get(f"/hitl/{pending_id}", params={"wait": -1}), 400)


# -- webhook and restarts ----------------------------------------------------------------------------------------

def test_webhook_deliveries_carry_a_signature_the_receiver_can_verify(
    agent: Agent, upstream: UpstreamServer, webhook: WebhookReceiver
) -> None:
    pending_id = park(agent, upstream)
    wait_until(lambda: webhook.events(pending_id))
    headers, body = next((h, b) for h, b in webhook.deliveries if json.loads(b)["data"]["id"] == pending_id)
    fields = dict(part.split("=", 1) for part in headers["vectra-signature"].split(","))
    expected = hmac.new(WEBHOOK_SECRET.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    assert abs(int(fields["t"]) - time.time()) < 60
    event = json.loads(body)
    assert (headers["vectra-event"], event["type"], event["data"]["agentId"]) == \
        ("hitl.pending", "hitl.pending", agent.id)
    assert "Authorization" not in body.decode()


def test_pending_requests_survive_a_restart_and_are_replayed_with_their_real_credentials(
    make_daemon: Any, upstream: UpstreamServer, tmp_path: Any
) -> None:
    first = make_daemon(tmp_path / "data")
    with first.admin() as admin:
        agent = Agent(first, admin)
        pending_id = park(agent, upstream, content=b"kept", headers={
            "Vectra-Authorization": f"Bearer {agent.token}", "Authorization": "Bearer survives-restart"})
    assert first.stop() == 0

    second = make_daemon(tmp_path / "data")
    with second.admin() as admin:
        assert admin.get(f"/hitl/{pending_id}").json()["status"] == "Pending"
        approved = admin.post(f"/hitl/{pending_id}/approve", json={"comment": "after restart"})
        assert approved.status_code == 200, approved.text
        assert ["authorization", "Bearer survives-restart"] in approved.json()["headers"]
        assert admin.get("/audit/verify").json()["valid"] is True
