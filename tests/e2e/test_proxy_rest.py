"""ANY /proxy/{url} through the real daemon to real upstream servers: every row of the status table, bytes kept
exact both ways, the gateway token kept back, trust and quarantine, and concurrency with its audit."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from policy_core import QUARANTINE_FLOOR, update_trust
from tests.e2e.daemon import Daemon, free_port, wait_until
from tests.e2e.proxy_agents import Agent, audit_of, governed, is_problem, trust_of
from tests.integration.upstream import StallingListener, UpstreamServer, pattern

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """Short upstream timeouts, so that the 504 row takes a second."""
    running = Daemon(tmp_path_factory.mktemp("vectra") / "data", env={
        "VECTRA_UPSTREAM_CONNECT_TIMEOUT": "1", "VECTRA_UPSTREAM_READ_TIMEOUT": "1",
    }).start()
    yield running
    assert running.stop() == 0, running.log()


# -- the status table ----------------------------------------------------------------------------------------

def test_an_allowed_call_returns_the_upstream_status_with_the_decision_and_rate_headers(
    agent: Agent, upstream: UpstreamServer, admin: httpx.Client
) -> None:
    answer = agent.call("GET", f"{upstream.base}/status/418")

    assert answer.status_code == 418 and answer.text == "status"
    assert answer.headers["vectra-decision"].startswith("effect=Allow; rule=reads; risk=0.")
    assert (answer.headers["ratelimit-limit"], answer.headers["ratelimit-remaining"]) == ("1000", "999")
    [record] = audit_of(admin, agent.id, action="proxy.request")
    assert (record["decision"], record["rule"], record["upstreamStatus"], record["source"]) == \
        ("Allow", "reads", 418, "proxy")
    assert record["url"] == f"{upstream.base}/status/418" and record["latencyMs"] > 0


def test_a_policy_denial_is_a_403_naming_the_rule_and_reason_and_nothing_is_sent(
    agent: Agent, upstream: UpstreamServer, admin: httpx.Client
) -> None:
    before = len(upstream.requests)
    answer = agent.call("DELETE", f"{upstream.base}/users/1")

    assert is_problem(answer, 403)
    assert (answer.json()["rule"], answer.json()["reason"]) == ("block-delete", "deletes are not allowed")
    assert len(upstream.requests) == before
    [record] = audit_of(admin, agent.id, action="proxy.request")
    assert (record["decision"], record["rule"]) == ("Deny", "block-delete")


def test_a_parked_call_is_a_202_with_location_and_its_exact_bytes_are_stored(
    daemon: Daemon, agent: Agent, upstream: UpstreamServer, admin: httpx.Client
) -> None:
    before = len(upstream.requests)
    body = pattern(300_000)
    answer = agent.call("POST", f"{upstream.base}/review/a%2Fb?x=1", content=body,
                        headers=[("X-Kept", "1"), ("X-Kept", "2"), ("Content-Type", "application/octet-stream")])

    assert answer.status_code == 202, answer.text
    parked = answer.json()
    assert answer.headers["location"] == f"/hitl/{parked['id']}"
    assert (parked["status"], parked["reason"]) == ("Pending", "a human reviews this")
    assert parked["expiresAt"].endswith("Z")
    assert len(upstream.requests) == before
    with closing(sqlite3.connect(daemon.data_dir / "vectra.db")) as conn:
        row = conn.execute("SELECT agent_id, method, url, headers, body, rule, status FROM pending_requests "
                           "WHERE id = ?", [parked["id"]]).fetchone()
    agent_id, method, url, headers, stored, rule, status = row
    assert (agent_id, method, url, rule, status) == (agent.id, "POST", f"{upstream.base}/review/a%2Fb?x=1",
                                                     "review-writes", "Pending")
    assert stored == body
    pairs = [tuple(pair) for pair in json.loads(headers)]
    assert [v for n, v in pairs if n.lower() == "x-kept"] == ["1", "2"]
    assert not any(agent.token in value for _, value in pairs)
    [record] = audit_of(admin, agent.id, action="proxy.request")
    assert (record["decision"], record["details"]["pendingId"]) == ("Hitl", parked["id"])


def test_missing_or_bad_tokens_are_401(daemon: Daemon, upstream: UpstreamServer) -> None:
    with daemon.client() as anonymous:
        assert is_problem(anonymous.get(f"/proxy/{upstream.base}/echo"), 401)
        assert is_problem(anonymous.get(f"/proxy/{upstream.base}/echo", headers={"Authorization": "Bearer nope"}),
                          401)


def test_a_revoked_agent_is_403(agent: Agent, upstream: UpstreamServer, admin: httpx.Client) -> None:
    assert agent.call("GET", f"{upstream.base}/echo").status_code == 200
    assert admin.post(f"/agents/{agent.id}/revoke").status_code == 200

    answer = agent.call("GET", f"{upstream.base}/echo")

    assert is_problem(answer, 403) and answer.json()["reason"] == "revoked"


def test_the_rate_limit_is_exact_and_answers_429_with_its_headers(
    daemon: Daemon, admin: httpx.Client, upstream: UpstreamServer
) -> None:
    limited = Agent(daemon, admin, governed("x") | {"rateLimit": {"requests": 3, "perSeconds": 60}})
    answers = [limited.call("GET", f"{upstream.base}/echo") for _ in range(5)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    refused = answers[3]
    assert is_problem(refused, 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert (refused.headers["ratelimit-limit"], refused.headers["ratelimit-remaining"]) == ("3", "0")
    assert int(refused.headers["ratelimit-reset"]) >= 1
    assert [r["decision"] for r in audit_of(admin, limited.id, action="proxy.request")].count("RateLimited") == 2


def test_an_upstream_failing_five_times_opens_its_breaker_503_with_retry_after(agent: Agent) -> None:
    failing = UpstreamServer().start()  # its own origin: the breaker is per upstream
    try:
        statuses = [agent.call("GET", f"{failing.base}/status/500").status_code for _ in range(5)]
        seen = len(failing.requests)
        refused = agent.call("GET", f"{failing.base}/echo")
    finally:
        failing.stop()

    assert statuses == [500] * 5
    assert is_problem(refused, 503) and int(refused.headers["retry-after"]) >= 1
    assert seen == 5


@pytest.mark.parametrize("url", ["not-a-url", "ftp://example.com/x", "http://user@127.0.0.1/x", "http://"])
def test_a_bad_upstream_url_is_400(agent: Agent, url: str) -> None:
    assert is_problem(agent.call("GET", url), 400)


def test_a_body_over_the_proxy_limit_is_413_whether_declared_or_streamed(
    agent: Agent, upstream: UpstreamServer
) -> None:
    too_big = 10 * 1024 * 1024 + 1

    def chunks() -> Iterator[bytes]:
        for _ in range(11):
            yield b"x" * (1024 * 1024)

    assert is_problem(agent.call("POST", f"{upstream.base}/echo", content=b"x" * too_big), 413)
    assert is_problem(agent.call("POST", f"{upstream.base}/echo", content=chunks()), 413)


def test_an_unreachable_upstream_is_502_and_a_stalled_one_504(agent: Agent) -> None:
    closed_port = free_port()
    stalled = StallingListener()
    try:
        unreachable = agent.call("GET", f"http://127.0.0.1:{closed_port}/x")
        timed_out = agent.call("GET", f"http://127.0.0.1:{stalled.port}/x")
    finally:
        stalled.close()

    assert is_problem(unreachable, 502)
    assert is_problem(timed_out, 504)


def test_an_upstream_that_does_not_answer_in_time_is_504(agent: Agent, upstream: UpstreamServer) -> None:
    assert is_problem(agent.call("GET", f"{upstream.base}/slow-headers"), 504)


def test_a_metadata_address_is_refused_403_without_connecting(agent: Agent) -> None:
    answer = agent.call("GET", "http://169.254.169.254/latest/meta-data/")

    assert is_problem(answer, 403) and "not allowed" in answer.json()["title"].lower()


# -- bytes, headers, tokens -------------------------------------------------------------------------------------

def test_several_megabytes_of_binary_go_both_ways_byte_exact(agent: Agent, upstream: UpstreamServer) -> None:
    body = pattern(6_000_000)
    back = agent.call("POST", f"{upstream.base}/stream-back", content=body)
    down = agent.call("GET", f"{upstream.base}/bytes/7000000")

    assert back.status_code == 200 and hashlib.sha256(back.content).digest() == hashlib.sha256(body).digest()
    assert down.status_code == 200 and down.content == pattern(7_000_000)


def test_a_policy_that_reads_the_body_judges_it_and_the_upstream_still_gets_it_exact(
    daemon: Daemon, admin: httpx.Client, upstream: UpstreamServer
) -> None:
    reader = Agent(daemon, admin, governed("x") | {"rules": [
        {"name": "no-drop", "effect": "Deny", "reason": "drops are refused",
         "conditions": [{"field": "input.json.action", "operator": "eq", "value": "drop"}]},
    ]})
    kept = json.dumps({"action": "keep", "pad": "y" * 200_000}).encode()

    refused = reader.call("POST", f"{upstream.base}/echo", content=b'{"action": "drop"}')
    allowed = reader.call("POST", f"{upstream.base}/echo", content=kept)

    assert is_problem(refused, 403)
    assert refused.json()["detail"] == "denied by rule no-drop: drops are refused"
    assert allowed.status_code == 200 and allowed.json()["body_sha256"] == hashlib.sha256(kept).hexdigest()


def test_head_answers_the_upstreams_headers_without_a_body(agent: Agent, upstream: UpstreamServer) -> None:
    answer = agent.call("HEAD", f"{upstream.base}/bytes/1000")

    assert answer.status_code == 200 and answer.headers["content-length"] == "1000" and answer.content == b""


def test_repeated_headers_keep_their_order_both_ways(agent: Agent, upstream: UpstreamServer) -> None:
    sent = agent.call("GET", f"{upstream.base}/echo", headers=[("X-Multi", "one"), ("X-Multi", "two")])
    received = agent.call("GET", f"{upstream.base}/hop")

    assert [v for n, v in sent.json()["headers"] if n == "x-multi"] == ["one", "two"]
    assert received.headers.get_list("x-kept") == ["a", "b"]
    assert received.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert "x-hop-custom" not in received.headers


def test_encoded_path_and_query_reach_the_upstream_as_sent(agent: Agent, upstream: UpstreamServer) -> None:
    base = upstream.base.replace("http://", "http:/")  # as clients that collapse '//' send it
    answer = agent.client.get(f"/proxy/{base}/files/a%2Fb%20c/%E2%82%AC?q=%2F%26x&empty=&plus=a+b")

    assert answer.status_code == 200, answer.text
    seen = answer.json()
    assert seen["raw_path"] == "/files/a%2Fb%20c/%E2%82%AC"
    assert seen["query_string"] == "q=%2F%26x&empty=&plus=a+b"


def test_the_upstream_never_sees_the_gateway_token_but_sees_the_agents_own_authorization(
    agent: Agent, upstream: UpstreamServer
) -> None:
    plain = agent.call("GET", f"{upstream.base}/echo").json()
    with httpx.Client(base_url=str(agent.client.base_url), timeout=30) as client:
        own = client.get(f"/proxy/{upstream.base}/echo", headers={
            "Vectra-Authorization": f"Bearer {agent.token}", "Authorization": "Basic dXNlcjpwYXNz",
        }).json()

    assert not any(agent.token in value for _, value in plain["headers"])
    assert "authorization" not in dict(plain["headers"])
    assert dict(own["headers"])["authorization"] == "Basic dXNlcjpwYXNz"
    assert not any(name.startswith("vectra-") or agent.token in value for name, value in own["headers"])


# -- trust and quarantine ------------------------------------------------------------------------------------------

def test_trust_moves_and_a_run_of_denials_quarantines_until_lifted(
    agent: Agent, upstream: UpstreamServer, admin: httpx.Client
) -> None:
    assert agent.call("GET", f"{upstream.base}/echo").status_code == 200
    after_allowed = trust_of(admin, agent.id)
    assert 0.5 < after_allowed <= 0.51

    expected, denials = after_allowed, 0
    while expected >= QUARANTINE_FLOOR:
        assert agent.call("DELETE", f"{upstream.base}/x").status_code == 403
        expected, denials = update_trust(expected, "denied"), denials + 1
    refused = agent.call("GET", f"{upstream.base}/echo")

    assert denials == 5
    assert trust_of(admin, agent.id) == pytest.approx(expected)
    assert admin.get(f"/agents/{agent.id}").json()["status"] == "Quarantined"
    assert is_problem(refused, 403) and refused.json()["reason"] == "quarantined"
    [quarantine] = audit_of(admin, agent.id, action="agent.quarantined")
    assert quarantine["actor"] == "vectra"

    assert admin.post(f"/agents/{agent.id}/lift-quarantine").status_code == 200
    assert agent.call("GET", f"{upstream.base}/echo").status_code == 200


# -- concurrency -------------------------------------------------------------------------------------------------

def test_ten_agents_calling_in_parallel_lose_no_trust_update_and_leave_one_valid_record_per_call(
    daemon: Daemon, admin: httpx.Client, upstream: UpstreamServer
) -> None:
    # 25 an hour: no refill during the test, so exactly 25 of each agent's 30 calls go through
    agents = [Agent(daemon, admin, governed("x") | {"rateLimit": {"requests": 25, "perSeconds": 3600}})
              for _ in range(10)]

    async def run() -> list[list[int]]:
        async with httpx.AsyncClient(base_url=daemon.url, timeout=60,
                                     limits=httpx.Limits(max_connections=64)) as client:
            async def one(a: Agent, i: int) -> int:
                answer = await client.get(f"/proxy/{upstream.base}/echo?i={i}",
                                          headers={"Authorization": f"Bearer {a.token}"})
                return answer.status_code
            return await asyncio.gather(*(asyncio.gather(*(one(a, i) for i in range(30))) for a in agents))

    statuses = asyncio.run(run())

    for a, codes in zip(agents, statuses, strict=True):
        assert sorted(codes) == [200] * 25 + [429] * 5
        records = audit_of(admin, a.id, action="proxy.request")
        assert len(records) == 30
        expected = 0.5
        for record in records:
            expected = update_trust(expected, "allowed" if record["decision"] == "Allow" else "rate_limited",
                                    record["risk"] or 0.0)
        assert trust_of(admin, a.id) == pytest.approx(expected, abs=1e-9)
    verified = admin.get("/audit/verify").json()
    assert verified["valid"] is True and verified["firstBrokenId"] is None


def test_a_failing_audit_log_refuses_calls_with_503_before_forwarding_and_moves_no_trust(
    agent: Agent, daemon: Daemon, upstream: UpstreamServer, admin: httpx.Client
) -> None:
    database = Path(daemon.data_dir) / "vectra.db"
    before = len(upstream.requests)
    trust_before = trust_of(admin, agent.id)
    with closing(sqlite3.connect(database)) as conn, conn:
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'full'); END")
    try:
        first = agent.call("GET", f"{upstream.base}/echo")   # forwarded; its record fails: 503, answer withheld
        second = agent.call("GET", f"{upstream.base}/echo")  # the log is known to be failing: not forwarded
    finally:
        trust_during = trust_of(admin, agent.id)
        with closing(sqlite3.connect(database)) as conn, conn:
            conn.execute("DROP TRIGGER refuse")
    third = agent.call("GET", f"{upstream.base}/echo")  # its refusal record probes: the log works again
    fourth = agent.call("GET", f"{upstream.base}/echo")

    assert is_problem(first, 503) and is_problem(second, 503)
    assert trust_during == trust_before  # the trust move rides in the record's transaction: neither stands
    assert trust_of(admin, agent.id) > trust_before  # the fourth call's
    assert len(upstream.requests) == before + 1 + 1  # the first and the fourth; not the second, nor the third
    assert is_problem(third, 503) and fourth.status_code == 200


def test_the_answer_streams_back_as_it_arrives_and_stops_short_when_the_upstream_stalls(
    agent: Agent, upstream: UpstreamServer
) -> None:
    """The upstream sends 5 of its 10 bytes, then nothing past the read timeout: the agent has those 5 bytes
    (nothing is held back waiting for more), then a body that ends short of its Content-Length."""
    received = b""
    with agent.client.stream("GET", f"/proxy/{upstream.base}/slow-body") as answer:
        status = answer.status_code
        with pytest.raises(httpx.HTTPError):
            for chunk in answer.iter_raw():
                received += chunk

    assert (status, received) == (200, b"12345")


def test_an_agent_gone_mid_answer_stops_the_upstream_being_read(agent: Agent, upstream: UpstreamServer) -> None:
    """An endless answer (a line every 50 ms for up to 20 s) is cut off upstream once the agent hangs up."""
    before = len(upstream.endless)
    with agent.client.stream("GET", f"/proxy/{upstream.base}/endless") as answer:
        lines = answer.iter_lines()
        assert [next(lines), next(lines)] == ["tick", "tick"]
    wait_until(lambda: len(upstream.endless) > before, timeout=10)
    assert upstream.endless[-1] < 100  # stopped within seconds of the agent leaving, not at the upstream's 400
