"""The REST contract of governed sessions (docs/sessions.md), on the real daemon with a real upstream: sessions begun,
limited, listed, read with the live counts of their calls, completed and interrupted; calls in a session, and
refused once it has ended, without reaching the upstream; the session's audit trail, its compliance export as JSON
and as a printable page, a replay of it; shadow policies; the agents' governance fields and sub-agents. Bad input is
a 400 (or 404) problem that changes nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.e2e.daemon import Daemon, register_agent, wait_until
from tests.e2e.proxy_agents import Agent, governed, is_problem
from tests.integration.upstream import UpstreamServer

pytestmark = pytest.mark.e2e

DENY_ALL = {"name": "deny-all", "default": "Deny", "rules": []}
NOBODY = "00000000-0000-4000-8000-000000000000"
NO_SESSION = "vs_" + "0" * 32


@pytest.fixture
def agent(daemon: Daemon, admin: httpx.Client) -> Iterator[Agent]:
    """An agent under ``governed`` (GET allowed, DELETE denied, /review parked), with limits of its own."""
    made = Agent(daemon, admin)
    limited = admin.patch(f"/agents/{made.id}", json={"maxConcurrentSessions": 3, "maxDailySessions": 6})
    assert limited.status_code == 200, limited.text
    yield made
    made.client.close()


@pytest.fixture(scope="module")
def reviewer(daemon: Daemon) -> Iterator[httpx.Client]:
    with daemon.admin() as admin:
        record = register_agent(admin, "session-reviewer", roles=["reviewer"])
    with daemon.client(daemon.token_for(record)) as client:
        yield client


@pytest.fixture(scope="module")
def deny_all(daemon: Daemon) -> str:
    with daemon.admin() as admin:
        assert admin.put("/policies/deny-all", json=DENY_ALL).status_code in (200, 201)
    return "deny-all"


def begin(client: httpx.Client, agent: Agent, **metadata: str) -> dict[str, Any]:
    answer = client.post("/sessions", json={"agentId": agent.id, **({"metadata": metadata} if metadata else {})})
    assert answer.status_code == 201, answer.text
    return answer.json()


def in_session(agent: Agent, session_id: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    return agent.call(method, url, headers={"Vectra-Session": session_id}, **kwargs)


def reached(upstream: UpstreamServer, path: str) -> int:
    """How many requests for ``path`` the upstream received."""
    return sum(1 for seen in upstream.requests if seen["raw_path"] == path)


def sessions_table(daemon: Daemon) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(f"file:{daemon.data_dir / 'vectra.db'}?mode=ro", uri=True)) as conn:
        return conn.execute("SELECT * FROM sessions ORDER BY id").fetchall()


# -- beginning a session -----------------------------------------------------------------------------------------

def test_an_agent_begins_its_own_session_and_reads_it_at_its_location(agent: Agent) -> None:
    answer = agent.client.post("/sessions", json={"agentId": agent.id, "metadata": {"ticket": "OPS-1"}})

    assert answer.status_code == 201, answer.text
    session = answer.json()
    assert answer.headers["location"] == f"/sessions/{session['id']}"
    assert session["id"].startswith("vs_") and len(session["id"]) == 35
    assert session | {"createdAt": None, "expiresAt": None, "id": None, "policyName": None, "policyVersion": None} == {
        "id": None, "agentId": agent.id, "status": "active", "metadata": {"ticket": "OPS-1"}, "createdAt": None,
        "expiresAt": None, "endedAt": None, "endReason": None, "endedBy": None, "policyName": None,
        "policyVersion": None, "counts": {"governed": 0, "allowed": 0, "denied": 0, "pending": 0, "approved": 0},
    }
    assert session["policyName"].startswith("p-") and session["policyVersion"] == 1
    assert agent.client.get(answer.headers["location"]).json() == session


def test_an_admin_begins_a_session_for_an_agent_and_another_agent_may_not(
    daemon: Daemon, admin: httpx.Client, agent: Agent
) -> None:
    assert begin(admin, agent)["agentId"] == agent.id
    with Agent(daemon, admin).client as other:
        refused = other.post("/sessions", json={"agentId": agent.id})
    assert is_problem(refused, 403), refused.text


def test_a_session_lasts_the_agents_max_session_hours(admin: httpx.Client, agent: Agent) -> None:
    assert admin.patch(f"/agents/{agent.id}", json={"maxSessionHours": 0.5}).json()["maxSessionHours"] == 0.5
    session = begin(agent.client, agent)

    lasts = datetime.fromisoformat(session["expiresAt"]) - datetime.fromisoformat(session["createdAt"])
    assert lasts.total_seconds() == 1800


def test_past_max_concurrent_sessions_a_429_names_the_limit_until_one_ends(agent: Agent) -> None:
    first, *_ = [begin(agent.client, agent) for _ in range(3)]

    refused = agent.client.post("/sessions", json={"agentId": agent.id})
    assert is_problem(refused, 429), refused.text
    assert refused.json()["detail"].startswith("maxConcurrentSessions (3) reached")

    assert agent.client.post(f"/sessions/{first['id']}/complete").status_code == 200
    begin(agent.client, agent)


def test_past_max_daily_sessions_a_429_names_the_limit(admin: httpx.Client, agent: Agent) -> None:
    assert admin.patch(f"/agents/{agent.id}", json={"maxDailySessions": 2}).status_code == 200
    for _ in range(2):
        assert agent.client.post(f"/sessions/{begin(agent.client, agent)['id']}/complete").status_code == 200

    refused = agent.client.post("/sessions", json={"agentId": agent.id})
    assert is_problem(refused, 429), refused.text
    assert refused.json()["detail"].startswith("maxDailySessions (2) reached")


def test_a_revoked_agent_begins_no_session_and_an_unknown_one_is_404(admin: httpx.Client, agent: Agent) -> None:
    assert is_problem(admin.post("/sessions", json={"agentId": NOBODY}), 404)
    assert admin.post(f"/agents/{agent.id}/revoke").status_code == 200
    assert is_problem(admin.post("/sessions", json={"agentId": agent.id}), 403)


# -- listing and reading -----------------------------------------------------------------------------------------

def test_sessions_are_listed_newest_first_filtered_and_an_agent_sees_only_its_own(
    daemon: Daemon, admin: httpx.Client, reviewer: httpx.Client, agent: Agent
) -> None:
    first, second = begin(agent.client, agent), begin(agent.client, agent)
    assert agent.client.post(f"/sessions/{first['id']}/complete").status_code == 200
    with Agent(daemon, admin).client as other:
        assert other.get("/sessions").json()["totalCount"] == 0
        assert is_problem(other.get(f"/sessions/{first['id']}"), 404)

    mine = agent.client.get("/sessions").json()
    assert [s["id"] for s in mine["items"]] == [second["id"], first["id"]]
    assert mine | {"items": None} == {"items": None, "page": 1, "pageSize": 25, "totalCount": 2, "totalPages": 1}
    for client in (admin, reviewer):
        listed = client.get("/sessions", params={"agentId": agent.id, "status": "completed"}).json()
        assert [s["id"] for s in listed["items"]] == [first["id"]]
    paged = admin.get("/sessions", params={"agentId": agent.id, "pageSize": 1, "page": 2}).json()
    assert [s["id"] for s in paged["items"]] == [first["id"]] and paged["totalPages"] == 2


def test_the_counts_are_those_of_the_sessions_calls_read_live(
    admin: httpx.Client, agent: Agent, upstream: UpstreamServer
) -> None:
    session = begin(agent.client, agent)["id"]
    outside = agent.call("GET", f"{upstream.base}/outside")  # no session: not counted
    assert outside.status_code == 200
    assert in_session(agent, session, "GET", f"{upstream.base}/a").status_code == 200
    assert in_session(agent, session, "PUT", f"{upstream.base}/b", content=b"x").status_code == 200
    assert is_problem(in_session(agent, session, "DELETE", f"{upstream.base}/c"), 403)
    parked = [in_session(agent, session, "POST", f"{upstream.base}/review/{n}", content=b"{}") for n in range(2)]
    assert [p.status_code for p in parked] == [202, 202]
    assert admin.post(f"/hitl/{parked[0].json()['id']}/approve").status_code == 200

    counts = agent.client.get(f"/sessions/{session}").json()["counts"]
    assert counts == {"governed": 5, "allowed": 2, "denied": 1, "pending": 1, "approved": 1}


def test_every_call_in_a_session_is_governed_and_the_policy_the_ssrf_guard_and_the_session_deny(
    daemon: Daemon, admin: httpx.Client, upstream: UpstreamServer
) -> None:
    """``governed`` counts each call whatever became of it; ``denied`` those refused by the policy, the SSRF guard
    (10.0.0.1 is outside the daemon's allowed 127.0.0.0/8) or the session once it ended (docs/sessions.md)."""
    agent = Agent(daemon, admin, governed("limited", rateLimit={"requests": 5, "perSeconds": 60}))
    with agent.client:
        session = begin(agent.client, agent)["id"]
        answers = [in_session(agent, session, method, url) for method, url in (
            ("GET", f"{upstream.base}/g1"),  # Allow
            ("GET", "http://10.0.0.1/inside"),  # NotAllowed
            ("DELETE", f"{upstream.base}/d1"),  # Deny
            ("GET", "http://127.0.0.1:1/closed"),  # UpstreamError: nothing listens there
        )]
        assert [a.status_code for a in answers] == [200, 403, 403, 502]
        assert agent.client.post(f"/sessions/{session}/complete").status_code == 200
        late = in_session(agent, session, "GET", f"{upstream.base}/g2")  # SessionRefused, in the session
        assert is_problem(late, 403) and late.json()["detail"] == f"session {session} is completed"
        limited = in_session(agent, session, "GET", f"{upstream.base}/g3")  # the sixth call within the minute
        assert is_problem(limited, 429)

        counts = agent.client.get(f"/sessions/{session}").json()["counts"]
        trail = admin.get(f"/sessions/{session}/audit").json()["records"]
    assert counts == {"governed": 6, "allowed": 1, "denied": 3, "pending": 0, "approved": 0}
    assert [r["decision"] for r in trail if r["action"] == "proxy.request"] == [
        "Allow", "NotAllowed", "Deny", "UpstreamError", "SessionRefused", "RateLimited"]
    assert reached(upstream, "/g2") == reached(upstream, "/g3") == 0


def test_the_session_header_never_reaches_the_upstream(agent: Agent, upstream: UpstreamServer) -> None:
    session = begin(agent.client, agent)["id"]
    echoed = in_session(agent, session, "GET", f"{upstream.base}/echo-{session}").json()
    assert not [name for name, _ in echoed["headers"] if name.lower().startswith("vectra-")]


# -- ending ------------------------------------------------------------------------------------------------------

def test_a_completed_session_refuses_its_calls_which_never_reach_the_upstream(
    admin: httpx.Client, agent: Agent, upstream: UpstreamServer
) -> None:
    session = begin(agent.client, agent)["id"]
    completed = agent.client.post(f"/sessions/{session}/complete")
    assert completed.status_code == 200
    assert completed.json()["status"] == "completed" and completed.json()["endedBy"] == agent.id
    assert completed.json()["endedAt"] is not None

    refused = in_session(agent, session, "GET", f"{upstream.base}/after-complete")
    assert is_problem(refused, 403) and refused.json()["detail"].startswith(f"session {session} is completed")
    assert reached(upstream, "/after-complete") == 0
    assert is_problem(agent.client.post(f"/sessions/{session}/complete"), 409)
    assert is_problem(admin.post(f"/sessions/{session}/interrupt", json={"reason": "late"}), 409)


def test_an_interrupted_session_says_why_refuses_its_calls_and_cant_end_twice(
    admin: httpx.Client, reviewer: httpx.Client, agent: Agent, upstream: UpstreamServer
) -> None:
    session = begin(agent.client, agent)["id"]
    assert is_problem(agent.client.post(f"/sessions/{session}/interrupt", json={"reason": "mine"}), 403)

    interrupted = reviewer.post(f"/sessions/{session}/interrupt", json={"reason": "unexpected deletes"})
    assert interrupted.status_code == 200, interrupted.text
    assert interrupted.json() | {"endedAt": None} == agent.client.get(f"/sessions/{session}").json() | {"endedAt": None}
    assert interrupted.json()["status"] == "interrupted"
    assert interrupted.json()["endReason"] == "unexpected deletes"

    refused = in_session(agent, session, "POST", f"{upstream.base}/after-interrupt", content=b"x")
    assert is_problem(refused, 403)
    assert refused.json()["detail"] == f"session {session} is interrupted: unexpected deletes"
    assert reached(upstream, "/after-interrupt") == 0
    assert is_problem(admin.post(f"/sessions/{session}/interrupt", json={"reason": "again"}), 409)
    assert is_problem(agent.client.post(f"/sessions/{session}/complete"), 409)


def test_a_session_past_its_duration_reads_expired_and_refuses_its_calls(
    make_daemon: Callable[..., Daemon], upstream: UpstreamServer
) -> None:
    """The daemon's default duration (``VECTRA_MAX_SESSION_HOURS``, any positive number) made a few seconds long."""
    daemon = make_daemon(env={"VECTRA_MAX_SESSION_HOURS": "0.001"})  # 3.6 s
    with daemon.admin() as admin:
        agent = Agent(daemon, admin)
        assert admin.patch(f"/agents/{agent.id}", json={"maxConcurrentSessions": 1}).status_code == 200
        with agent.client:
            session = begin(agent.client, agent)["id"]
            assert in_session(agent, session, "GET", f"{upstream.base}/before-expiry").status_code == 200
            wait_until(lambda: agent.client.get(f"/sessions/{session}").json()["status"] == "expired", timeout=10)

            refused = in_session(agent, session, "GET", f"{upstream.base}/after-expiry")
            assert is_problem(refused, 403)
            assert refused.json()["detail"].startswith(f"session {session} passed its 0.001 h limit")
            assert reached(upstream, "/after-expiry") == 0
            assert is_problem(agent.client.post(f"/sessions/{session}/complete"), 409)
            assert is_problem(admin.post(f"/sessions/{session}/interrupt", json={"reason": "late"}), 409)
            expired = admin.get("/sessions", params={"status": "expired"}).json()["items"]
            assert [s["id"] for s in expired] == [session]
            assert admin.get("/sessions", params={"status": "active"}).json()["totalCount"] == 0
            begin(agent.client, agent)  # an expired session no longer counts against maxConcurrentSessions (1)


def test_another_agents_session_or_an_unknown_one_refuses_the_call(
    daemon: Daemon, admin: httpx.Client, agent: Agent, upstream: UpstreamServer
) -> None:
    other = Agent(daemon, admin)
    with other.client:
        theirs = begin(other.client, other)["id"]
        for session in (theirs, NO_SESSION):
            refused = in_session(agent, session, "GET", f"{upstream.base}/not-mine")
            assert is_problem(refused, 403)
            assert refused.json()["detail"] == f"session {session} is not a session of this agent"
    assert reached(upstream, "/not-mine") == 0
    malformed = in_session(agent, "nope", "GET", f"{upstream.base}/not-mine")
    assert is_problem(malformed, 400) and malformed.json()["pointer"] == "Vectra-Session"
    twice = agent.call("GET", f"{upstream.base}/not-mine",
                       headers=[("Vectra-Session", theirs), ("Vectra-Session", NO_SESSION)])
    assert is_problem(twice, 400) and "given twice" in twice.json()["detail"]
    assert reached(upstream, "/not-mine") == 0


# -- the session's records ---------------------------------------------------------------------------------------

def test_the_session_audit_trail_is_its_records_oldest_first_up_to_the_limit(
    admin: httpx.Client, agent: Agent, upstream: UpstreamServer
) -> None:
    session = begin(agent.client, agent)["id"]
    for path in ("/t1", "/t2", "/t3"):
        assert in_session(agent, session, "GET", f"{upstream.base}{path}").status_code == 200
    assert agent.client.post(f"/sessions/{session}/complete").status_code == 200

    trail = admin.get(f"/sessions/{session}/audit").json()
    assert trail["sessionId"] == session and trail["count"] == len(trail["records"]) == 5
    assert [r["action"] for r in trail["records"]] == ["session.created", *["proxy.request"] * 3, "session.completed"]
    assert [r["url"] for r in trail["records"][1:4]] == [f"{upstream.base}{p}" for p in ("/t1", "/t2", "/t3")]
    assert all(r["details"]["sessionId"] == session for r in trail["records"][1:4])
    assert [r["id"] for r in trail["records"]] == sorted(r["id"] for r in trail["records"])

    first_two = admin.get(f"/sessions/{session}/audit", params={"limit": 2}).json()
    assert first_two["records"] == trail["records"][:2] and first_two["count"] == 2
    listed = admin.get("/audit", params={"sessionId": session, "pageSize": 100}).json()
    assert sorted(r["id"] for r in listed["items"]) == [r["id"] for r in trail["records"]]


TOOL_CALL = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "refund", "arguments": {}}}'
@pytest.mark.parametrize("path, status", [
    ("/review/tool", 202),  # parked: the proxy holds the body whole
    pytest.param("/notes/tool", 200),  # forwarded: the body streams upstream
])
def test_a_governed_calls_record_keeps_what_a_replay_needs_with_its_secrets_redacted(
    admin: httpx.Client, agent: Agent, upstream: UpstreamServer, path: str, status: int
) -> None:
    session = begin(agent.client, agent)["id"]
    answer = agent.call("POST", f"{upstream.base}{path}", content=TOOL_CALL, headers={
        "Vectra-Session": session, "X-Api-Key": "sk-live-1", "Content-Type": "application/json"})
    assert answer.status_code == status, answer.text

    record = admin.get(f"/sessions/{session}/audit").json()["records"][-1]
    shown = admin.get(f"/agents/{agent.id}").json()
    details = record["details"]
    headers = dict((name.lower(), value) for name, value in details["request"]["headers"])
    assert (headers["x-api-key"], headers["content-type"]) == ("[redacted]", "application/json")
    assert not [name for name in headers if name.startswith("vectra-") or name == "authorization"]
    assert {k: v for k, v in details["request"].items() if k != "headers"} == {
        "body": TOOL_CALL.decode(), "bodyEncoding": "utf-8", "bodySize": len(TOOL_CALL), "bodyTruncated": False}
    assert details["agent"] == {"name": shown["name"], "ownerId": shown["ownerId"], "roles": shown["roles"],
                                "capabilities": shown["capabilities"], "realm": None}
    assert (details["sessionId"], details["effect"], details["mcp"]) == (
        session, "Hitl" if status == 202 else "Allow", {"method": "tools/call", "tool": "refund"})
    assert "sk-live-1" not in str(record)


def test_the_compliance_export_is_json_or_a_printable_page_naming_the_session(
    admin: httpx.Client, reviewer: httpx.Client, agent: Agent, upstream: UpstreamServer
) -> None:
    session = begin(agent.client, agent)["id"]
    assert in_session(agent, session, "GET", f"{upstream.base}/c1").status_code == 200
    assert is_problem(in_session(agent, session, "DELETE", f"{upstream.base}/c2"), 403)

    exported = reviewer.get(f"/sessions/{session}/compliance")
    assert exported.status_code == 200 and exported.headers["content-type"] == "application/json"
    document = exported.json()
    assert document["kind"] == "vectra.compliance/v1" and document["scope"] == {"sessionId": session}
    assert document["session"]["id"] == session and document["agent"]["id"] == agent.id
    assert document["summary"]["governed"] == 2 and document["summary"]["denied"] == 1
    assert document["summary"]["denialRatePercent"] == "50.00%"
    assert document["chain"]["verified"] is True

    for asked in ({"params": {"format": "html"}}, {"headers": {"Accept": "text/html,application/xhtml+xml;q=0.9"}}):
        page = admin.get(f"/sessions/{session}/compliance", **asked)
        assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.text.lstrip().lower().startswith("<!doctype html") and session in page.text
        assert "@media print" in page.text
    assert admin.get(f"/sessions/{session}/compliance", headers={"Accept": "*/*"}).headers["content-type"] == \
        "application/json"
    assert is_problem(agent.client.get(f"/sessions/{session}/compliance"), 403)


def test_the_compliance_export_of_a_period_holds_the_agents_calls_in_it(
    admin: httpx.Client, agent: Agent, upstream: UpstreamServer
) -> None:
    session = begin(agent.client, agent)["id"]
    assert in_session(agent, session, "GET", f"{upstream.base}/p1").status_code == 200
    assert agent.call("GET", f"{upstream.base}/p2").status_code == 200
    period = {"agentId": agent.id, "from": "2000-01-01T00:00:00Z", "to": "2999-01-01T00:00:00Z"}

    document = admin.get("/compliance", params=period).json()
    scope = document["scope"]
    assert scope["agentId"] == agent.id and document["session"] is None
    assert [datetime.fromisoformat(scope[end]) for end in ("from", "to")] == \
        [datetime.fromisoformat(period[end]) for end in ("from", "to")]
    assert [(e["action"], e["url"]) for e in document["timeline"]] == [
        ("agent.registered", None), ("agent.policy_assigned", None), ("agent.updated", None),
        ("session.created", None), ("proxy.request", f"{upstream.base}/p1"), ("proxy.request", f"{upstream.base}/p2"),
    ]
    page = admin.get("/compliance", params=period | {"format": "html"})
    assert page.headers["content-type"] == "text/html; charset=utf-8" and agent.id in page.text


def test_a_replay_of_the_session_names_what_the_candidate_decides_otherwise(
    admin: httpx.Client, agent: Agent, upstream: UpstreamServer, deny_all: str
) -> None:
    session = begin(agent.client, agent)["id"]
    assert in_session(agent, session, "GET", f"{upstream.base}/r1").status_code == 200
    assert is_problem(in_session(agent, session, "DELETE", f"{upstream.base}/r2"), 403)

    report = admin.post("/replay", json={"sessionId": session, "policy": {"name": deny_all}})
    assert report.status_code == 200, report.text
    assert report.json() | {"changes": None} == {"totalReplayed": 2, "consistent": 1, "changed": 1, "incomplete": 0,
                                                 "policy": {"name": deny_all, "version": 1}, "changes": None}
    change, = report.json()["changes"]
    assert change | {"auditId": None, "time": None} == {
        "auditId": None, "time": None, "method": "GET", "url": f"{upstream.base}/r1", "tool": None,
        "originalDecision": "Allow", "replayedDecision": "Deny", "originalRule": "reads", "rule": None,
        "reason": change["reason"], "bodyTruncated": False}

    draft = {"name": "draft", "default": "Allow", "rules": []}
    drafted = admin.post("/replay", json={"agentId": agent.id, "from": "2000-01-01T00:00:00Z",
                                          "to": "2999-01-01T00:00:00Z", "policy": {"document": draft}})
    assert drafted.status_code == 200, drafted.text
    assert drafted.json() | {"changes": None} == {"totalReplayed": 2, "consistent": 1, "changed": 1, "incomplete": 0,
                                                  "policy": {"name": "draft", "version": None}, "changes": None}
    assert [(c["url"], c["originalDecision"], c["replayedDecision"]) for c in drafted.json()["changes"]] == [
        (f"{upstream.base}/r2", "Deny", "Allow")]


# -- shadow policies ---------------------------------------------------------------------------------------------

def test_a_shadow_policy_judges_every_call_and_counts_its_disagreements(
    admin: httpx.Client, reviewer: httpx.Client, agent: Agent, upstream: UpstreamServer, deny_all: str
) -> None:
    attached = admin.put(f"/agents/{agent.id}/shadow", json={"policyName": deny_all})
    assert attached.status_code == 200, attached.text
    status = attached.json()
    assert status | {"since": None} == {"agentId": agent.id, "policyName": deny_all, "policyVersion": 1,
                                        "since": None, "judged": 0, "agreed": 0, "disagreed": 0}
    assert admin.get(f"/agents/{agent.id}").json()["shadowPolicy"] == {
        "policyName": deny_all, "policyVersion": 1, "since": status["since"]}

    assert agent.call("GET", f"{upstream.base}/s1").status_code == 200  # Allow, the shadow says Deny
    assert is_problem(agent.call("DELETE", f"{upstream.base}/s2"), 403)  # Deny, and Deny

    counted = reviewer.get(f"/agents/{agent.id}/shadow").json()
    assert counted == status | {"judged": 2, "agreed": 1, "disagreed": 1}
    disagreed = admin.get("/audit", params={"agentId": agent.id, "shadow": "disagreed"}).json()["items"]
    assert [r["url"] for r in disagreed] == [f"{upstream.base}/s1"]
    assert disagreed[0]["details"]["shadow"]["agrees"] is False

    assert is_problem(reviewer.delete(f"/agents/{agent.id}/shadow"), 403)
    assert admin.delete(f"/agents/{agent.id}/shadow").status_code == 204
    assert is_problem(admin.get(f"/agents/{agent.id}/shadow"), 404)
    assert admin.get(f"/agents/{agent.id}").json()["shadowPolicy"] is None
    assert is_problem(admin.delete(f"/agents/{agent.id}/shadow"), 404)


def test_a_shadow_policy_that_does_not_exist_is_404_naming_the_field(admin: httpx.Client, agent: Agent) -> None:
    missing = admin.put(f"/agents/{agent.id}/shadow", json={"policyName": "no-such-policy"})
    assert is_problem(missing, 404) and missing.json()["pointer"] == "policyName"
    policy = admin.get(f"/agents/{agent.id}").json()["policyName"]
    unknown_version = admin.put(f"/agents/{agent.id}/shadow", json={"policyName": policy, "version": 99})
    assert is_problem(unknown_version, 404) and unknown_version.json()["pointer"] == "version"
    assert admin.get(f"/agents/{agent.id}").json()["shadowPolicy"] is None


# -- governance fields and sub-agents ----------------------------------------------------------------------------

def test_an_agent_shows_its_limits_in_effect_and_a_patch_of_null_restores_the_default(admin: httpx.Client) -> None:
    made = register_agent(admin, "limited", maxSessionHours=2, maxDailySessions=5, maxConcurrentSessions=1)
    shown = admin.get(f"/agents/{made['id']}").json()
    assert {k: shown[k] for k in ("maxSessionHours", "maxDailySessions", "maxConcurrentSessions",
                                  "maxDelegationDepth", "parentAgentId", "shadowPolicy")} == {
        "maxSessionHours": 2, "maxDailySessions": 5, "maxConcurrentSessions": 1, "maxDelegationDepth": 0,
        "parentAgentId": None, "shadowPolicy": None}

    restored = admin.patch(f"/agents/{made['id']}", json={"maxSessionHours": None, "maxDailySessions": 7})
    assert restored.status_code == 200, restored.text
    assert restored.json()["maxSessionHours"] == 8 and restored.json()["maxDailySessions"] == 7


@pytest.mark.parametrize("field, value, detail", [
    ("maxSessionHours", 0.05, "maxSessionHours must be a number of hours from 0.1 to 24"),
    ("maxSessionHours", 24.5, "maxSessionHours must be a number of hours from 0.1 to 24"),
    ("maxDailySessions", 0, "maxDailySessions must be a whole number from 1 to 1000"),
    ("maxConcurrentSessions", 1001, "maxConcurrentSessions must be a whole number from 1 to 1000"),
    ("maxConcurrentSessions", 2.5, "maxConcurrentSessions must be a whole number from 1 to 1000"),
    ("maxDelegationDepth", 6, "maxDelegationDepth must be a whole number from 0 to 5"),
    ("maxDelegationDepth", "1", "maxDelegationDepth must be a whole number from 0 to 5"),
])
def test_limits_out_of_bounds_are_refused_on_create_and_patch(
    admin: httpx.Client, agent: Agent, field: str, value: object, detail: str
) -> None:
    before = admin.get(f"/agents/{agent.id}").json()
    for answer in (admin.post("/agents", json={"name": "x", "ownerId": "o", field: value}),
                   admin.patch(f"/agents/{agent.id}", json={field: value})):
        assert is_problem(answer, 400) and answer.json()["detail"] == detail and answer.json()["pointer"] == field
    assert admin.get(f"/agents/{agent.id}").json() == before


def test_an_agent_with_delegation_depth_registers_sub_agents_of_its_own_only(
    daemon: Daemon, admin: httpx.Client
) -> None:
    parent = register_agent(admin, "parent", capabilities=["api_call", "file_access"], maxDelegationDepth=2)
    with daemon.client(daemon.token_for(parent)) as client:
        child = client.post("/agents", json={"name": "child", "parentAgentId": parent["id"],
                                             "capabilities": ["api_call"]})
        assert child.status_code == 201, child.text
        shown = admin.get(f"/agents/{child.json()['id']}").json()
        assert shown["parentAgentId"] == parent["id"] and shown["maxDelegationDepth"] == 1
        assert (shown["roles"], shown["ownerId"]) == (["agent"], admin.get(f"/agents/{parent['id']}").json()["ownerId"])
        other_owner = client.post("/agents", json={"name": "c1", "parentAgentId": parent["id"], "ownerId": "o"})
        assert is_problem(other_owner, 400) and other_owner.json()["pointer"] == "ownerId"

        lacking = client.post("/agents", json={"name": "c2", "parentAgentId": parent["id"],
                                               "capabilities": ["mail_send"]})
        assert is_problem(lacking, 400) and "mail_send" in lacking.json()["detail"]
        not_own = client.post("/agents", json={"name": "c3", "ownerId": "o"})
        assert is_problem(not_own, 403)
    leaf = child.json()
    with daemon.client(daemon.token_for(leaf)) as client:
        grandchild = client.post("/agents", json={"name": "gc", "parentAgentId": leaf["id"]})
        assert grandchild.status_code == 201, grandchild.text
        shown = admin.get(f"/agents/{grandchild.json()['id']}").json()
        assert shown["maxDelegationDepth"] == 0
    with daemon.client(daemon.token_for(grandchild.json())) as client:
        refused = client.post("/agents", json={"name": "ggc", "parentAgentId": grandchild.json()["id"]})
        assert is_problem(refused, 403) and "may not register sub-agents" in refused.json()["detail"]


# -- bad input ---------------------------------------------------------------------------------------------------

SESSION_ID = "sessionId must be a session id (vs_ and 32 hexadecimal digits)"
EITHER_SCOPE = "give either sessionId or agentId"
#: the scope of a replay over a period
PERIOD = {"agentId": "{agent}", "from": "2000-01-01T00:00:00Z", "to": "2999-01-01T00:00:00Z"}
@pytest.mark.parametrize("method, path, body, pointer, detail", [
    ("GET", "/sessions/nope", None, "sessionId", SESSION_ID),
    ("GET", "/sessions/vs_ABC", None, "sessionId", SESSION_ID),
    ("POST", "/sessions/vs_" + "g" * 32 + "/complete", None, "sessionId", SESSION_ID),
    ("GET", "/sessions?status=open", None, "status", "status must be one of active, completed, interrupted, expired"),
    ("GET", "/sessions?agentId=x", None, "agentId", "agentId must be a UUID"),
    ("GET", "/sessions?pageSize=101", None, "pageSize", "pageSize must be a whole number from 1 to 100"),
    ("POST", "/sessions", {}, "agentId", "agentId is required"),
    ("POST", "/sessions", {"agentId": "x"}, "agentId", "agentId must be a UUID"),
    ("POST", "/sessions", {"agentId": NOBODY, "extra": 1}, "extra", "extra is not a known field"),
    ("POST", "/sessions", {"agentId": NOBODY, "metadata": {"k": 1}}, "metadata.k", "metadata.k must be a string"),
    ("POST", "/sessions", {"agentId": "{agent}", "metadata": {"1bad": "v"}}, "metadata keys",
     "metadata keys must be 1 to 64 letters, digits, '_', '.' or '-', from a letter"),
    ("POST", "/sessions/{session}/interrupt", {}, "reason", "reason is required"),
    ("POST", "/sessions/{session}/interrupt", {"reason": ""}, "reason", "reason is required"),
    ("POST", "/sessions/{session}/interrupt", {"reason": "   "}, "reason", "reason must not be blank"),
    ("POST", "/sessions/{session}/interrupt", {"reason": "x" * 1001}, "reason",
     "reason must be at most 1000 characters"),
    ("GET", "/sessions/{session}/audit?limit=0", None, "limit", "limit must be a whole number from 1 to 1000"),
    ("GET", "/sessions/{session}/audit?limit=1001", None, "limit", "limit must be a whole number from 1 to 1000"),
    ("GET", "/sessions/{session}/compliance?format=pdf", None, "format", "format must be one of json, html"),
    ("GET", "/compliance?agentId={agent}&to=2999-01-01T00:00:00Z", None, "from", "from is required"),
    ("GET", "/compliance?agentId={agent}&from=yesterday&to=2999-01-01T00:00:00Z", None, "from",
     "from must be a valid date-time"),
    ("POST", "/replay", {"policy": {"name": "deny-all"}}, "sessionId", EITHER_SCOPE),
    ("POST", "/replay", {"sessionId": "{session}"}, "policy", "policy is required"),
    ("POST", "/replay", {"sessionId": "{session}", **PERIOD, "policy": {"name": "deny-all"}}, "sessionId",
     EITHER_SCOPE),
    ("POST", "/replay", {"agentId": "{agent}", "from": "2000-01-01T00:00:00Z", "policy": {"name": "deny-all"}},
     "to", "to is required"),
    ("POST", "/replay", {"sessionId": "{session}", "policy": {"name": "deny-all", "document": {}}}, "policy.name",
     "give either policy.name or policy.document"),
    ("POST", "/replay", {"sessionId": "{session}", "policy": {"document": {"name": "d", "rules": "x"}}},
     "policy.document.rules", "policy.document.rules: must be a list"),
    ("PUT", "/agents/{agent}/shadow", {}, "policyName", "policyName is required"),
    ("PUT", "/agents/{agent}/shadow", {"policyName": "deny-all", "version": 0}, "version",
     "version must be a whole number from 1 to 1000000000"),
    ("PUT", "/agents/nope/shadow", {"policyName": "deny-all"}, "agentId", "agentId must be a UUID"),
    ("GET", "/audit?sessionId=vs_1", None, "sessionId", SESSION_ID),
    ("GET", "/audit?shadow=maybe", None, "shadow", "shadow must be one of agreed, disagreed"),
])
def test_bad_input_is_a_400_problem_naming_what_is_wrong_and_changes_nothing(
    daemon: Daemon, admin: httpx.Client, agent: Agent, deny_all: str, method: str, path: str, body: Any,
    pointer: str, detail: str,
) -> None:
    session = begin(agent.client, agent)["id"]
    before = (sessions_table(daemon), admin.get(f"/agents/{agent.id}").json())
    fill = {"session": session, "agent": agent.id}
    filled = _filled(body, fill)

    answer = admin.request(method, path.format(**fill), json=filled) if body is not None \
        else admin.request(method, path.format(**fill))

    assert is_problem(answer, 400), answer.text
    assert (answer.json().get("pointer"), answer.json()["detail"]) == (pointer, detail)
    assert (sessions_table(daemon), admin.get(f"/agents/{agent.id}").json()) == before


def _filled(value: Any, fill: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**fill)
    if isinstance(value, dict):
        return {k: _filled(v, fill) for k, v in value.items()}
    return value


@pytest.mark.parametrize("method, path", [
    ("GET", f"/sessions/{NO_SESSION}"),
    ("POST", f"/sessions/{NO_SESSION}/complete"),
    ("GET", f"/sessions/{NO_SESSION}/audit"),
    ("GET", f"/sessions/{NO_SESSION}/compliance"),
    ("GET", f"/agents/{NOBODY}/shadow"),
    ("DELETE", f"/agents/{NOBODY}/shadow"),
])
def test_unknown_ids_are_404_problems(admin: httpx.Client, method: str, path: str) -> None:
    assert is_problem(admin.request(method, path), 404)
