"""One governed run end to end on the real daemon, as its operators and auditors meet it: a session counts its
calls live from the audit log, is stopped by an interrupt (its next call is refused and never reaches the
upstream), ends at its duration; its compliance export is checked by an independent script; a stricter candidate
policy replayed over it changes exactly the expected decisions; a shadow policy counts its disagreements on real
traffic while deciding nothing. (The REST contract of each operation, limits included: test_sessions_rest.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.daemon import Daemon, wait_until
from tests.e2e.proxy_agents import Agent, governed, is_problem
from tests.integration.upstream import UpstreamServer

pytestmark = pytest.mark.e2e

VERIFIER = Path(__file__).parents[1] / "tools" / "verify_export.py"


def stricter(name: str) -> dict[str, Any]:
    """The agent's policy with two rules more: POSTs are denied, and reads of /reports go to a human."""
    policy = governed(name)
    policy["rules"] = [
        {"name": "no-posts", "priority": 90, "effect": "Deny", "reason": "posts are frozen",
         "conditions": [{"field": "input.method", "operator": "eq", "value": "POST"}]},
        {"name": "reports-reviewed", "priority": 80, "effect": "Hitl", "reason": "reports need a look",
         "conditions": [{"field": "input.path", "operator": "startsWith", "value": "/reports"}]},
        *policy["rules"],
    ]
    return policy


def session_of(agent: Agent, **body: Any) -> dict[str, Any]:
    answer = agent.client.post("/sessions", json={"agentId": agent.id, **body})
    assert answer.status_code == 201, answer.text
    assert answer.headers["location"] == f"/sessions/{answer.json()['id']}"
    return answer.json()


def in_session(agent: Agent, session: dict[str, Any], method: str, url: str, **kwargs: Any) -> httpx.Response:
    return agent.call(method, url, headers={"Vectra-Session": session["id"]}, **kwargs)


@pytest.fixture
def run(daemon: Daemon, admin: httpx.Client, upstream: UpstreamServer) -> Iterator[tuple[Agent, dict[str, Any]]]:
    """An agent and a session of its own with four calls made in it: a read and a post allowed, a delete denied,
    one parked for review."""
    agent = Agent(daemon, admin)
    session = session_of(agent, metadata={"task": "quarterly report"})
    assert in_session(agent, session, "GET", f"{upstream.base}/reports/q3").status_code == 200
    assert in_session(agent, session, "POST", f"{upstream.base}/notes", json={"text": "draft"}).status_code == 200
    assert in_session(agent, session, "DELETE", f"{upstream.base}/notes/1").status_code == 403
    parked = in_session(agent, session, "PUT", f"{upstream.base}/review/1", content=b"v2")
    assert parked.status_code == 202
    session["parked"] = parked.headers["location"]
    yield agent, session
    agent.client.close()


def test_a_session_counts_its_calls_live_and_the_header_never_reaches_the_upstream(
        run: tuple[Agent, dict[str, Any]], admin: httpx.Client, upstream: UpstreamServer) -> None:
    agent, session = run
    read = admin.get(f"/sessions/{session['id']}").json()
    assert (read["status"], read["agentId"], read["metadata"]) == ("active", agent.id, {"task": "quarterly report"})
    assert read["counts"] == {"governed": 4, "allowed": 2, "denied": 1, "pending": 1, "approved": 0}
    assert all("vectra-session" not in {k.lower() for k, _ in seen["headers"]} for seen in upstream.requests)
    mine = agent.client.get("/sessions", params={"status": "active"}).json()
    assert [s["id"] for s in mine["items"]] == [session["id"]]


def test_an_interrupted_session_refuses_its_next_call_which_never_reaches_the_upstream(
        run: tuple[Agent, dict[str, Any]], admin: httpx.Client, upstream: UpstreamServer) -> None:
    agent, session = run
    stopped = admin.post(f"/sessions/{session['id']}/interrupt", json={"reason": "reached for production keys"})
    assert stopped.status_code == 200 and stopped.json()["status"] == "interrupted"
    assert stopped.json()["endReason"] == "reached for production keys"
    again = admin.post(f"/sessions/{session['id']}/interrupt", json={"reason": "twice"})
    assert is_problem(again, 409)
    before = len(upstream.requests)
    refused = in_session(agent, session, "GET", f"{upstream.base}/reports/q4")
    assert is_problem(refused, 403) and "interrupted: reached for production keys" in refused.json()["detail"]
    assert len(upstream.requests) == before
    trail = admin.get(f"/sessions/{session['id']}/audit", params={"limit": 50}).json()
    decisions = [r["decision"] for r in trail["records"] if r["action"] == "proxy.request"]
    assert decisions == ["Allow", "Allow", "Deny", "Hitl", "SessionRefused"]
    assert trail["count"] == len(trail["records"]) and trail["sessionId"] == session["id"]
    assert is_problem(admin.post(f"/sessions/{session['id']}/complete"), 409)


def test_nothing_parked_in_an_interrupted_session_goes_out_even_approved(
        run: tuple[Agent, dict[str, Any]], admin: httpx.Client, upstream: UpstreamServer) -> None:
    _, session = run
    assert admin.post(f"/sessions/{session['id']}/interrupt", json={"reason": "stop"}).status_code == 200
    approved = admin.post(f"{session['parked']}/approve", json={})
    assert is_problem(approved, 409) and "was interrupted" in approved.json()["detail"]
    assert not any(seen["raw_path"] == "/review/1" for seen in upstream.requests)
    assert admin.post(f"{session['parked']}/deny", json={"comment": "session stopped"}).status_code == 200


def test_a_session_past_its_duration_refuses_calls(make_daemon: Any, upstream: UpstreamServer) -> None:
    daemon = make_daemon(env={"VECTRA_MAX_SESSION_HOURS": "0.0003", "VECTRA_UPSTREAM_ALLOW_CIDRS": "127.0.0.0/8"})
    with daemon.admin() as admin:
        agent = Agent(daemon, admin)
        session = session_of(agent)
        assert in_session(agent, session, "GET", f"{upstream.base}/reports").status_code == 200
        wait_until(lambda: admin.get(f"/sessions/{session['id']}").json()["status"] == "expired", timeout=10)
        refused = in_session(agent, session, "GET", f"{upstream.base}/reports")
        assert is_problem(refused, 403) and "passed its 0.0003 h limit" in refused.json()["detail"]
        agent.client.close()


def test_the_compliance_export_is_verified_by_an_independent_script(
        run: tuple[Agent, dict[str, Any]], daemon: Daemon, admin: httpx.Client, upstream: UpstreamServer,
        tmp_path: Path) -> None:
    agent, session = run
    other = Agent(daemon, admin)  # its records interleave with the session's in the chain
    assert other.call("GET", f"{upstream.base}/elsewhere").status_code == 200
    assert in_session(agent, session, "GET", f"{upstream.base}/reports/q4").status_code == 200
    assert agent.client.post(f"/sessions/{session['id']}/complete").status_code == 200

    export = admin.get(f"/sessions/{session['id']}/compliance")
    assert export.status_code == 200 and export.headers["content-type"].startswith("application/json")
    document = export.json()
    assert document["session"]["id"] == session["id"] and document["summary"]["denied"] == 1
    saved = tmp_path / "export.json"
    saved.write_bytes(export.content)
    checked = subprocess.run([sys.executable, str(VERIFIER), str(saved)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    included = [step for step in document["chain"]["steps"] if "record" in step]
    assert {json.loads(step["record"])["agentId"] for step in included} == {agent.id}
    assert any("contentDigest" in step for step in document["chain"]["steps"])  # the other agent's, as digests
    tampered = json.loads(export.content)
    first = json.loads(included[0]["record"])
    first["decision"] = "Allow" if first["decision"] != "Allow" else "Deny"
    steps = tampered["chain"]["steps"]
    assert steps[0]["id"] == first["id"]  # the proof starts at the first included record
    steps[0]["record"] = json.dumps(first)
    saved.write_text(json.dumps(tampered))
    failed = subprocess.run([sys.executable, str(VERIFIER), str(saved)], capture_output=True, text=True)
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.startswith(f"FAILED: step 0 (record {first['id']}): the record hashes to "), failed.stderr

    page = admin.get(f"/sessions/{session['id']}/compliance", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert session["id"] in page.text and "@media print" in page.text and "<script" not in page.text


def test_a_stricter_candidate_changes_exactly_the_expected_decisions(
        run: tuple[Agent, dict[str, Any]], admin: httpx.Client) -> None:
    agent, session = run
    candidate = stricter("candidate")
    answer = admin.post("/replay", json={"sessionId": session["id"], "policy": {"document": candidate}})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["totalReplayed"], report["consistent"], report["changed"]) == (4, 2, 2)
    changes = {(c["method"], c["originalDecision"], c["replayedDecision"], c["rule"]) for c in report["changes"]}
    assert changes == {("GET", "Allow", "Hitl", "reports-reviewed"), ("POST", "Allow", "Deny", "no-posts")}

    assert admin.put("/policies/candidate-stored", json=stricter("candidate-stored")).status_code == 201
    stored = admin.post("/replay", json={"sessionId": session["id"], "policy": {"name": "candidate-stored"}}).json()
    assert (stored["changed"], stored["policy"]) == (2, {"name": "candidate-stored", "version": 1})
    live = admin.get(f"/agents/{agent.id}").json()["policyName"]
    same = admin.post("/replay", json={"agentId": agent.id, "from": session["createdAt"],
                                       "to": "2999-01-01T00:00:00Z", "policy": {"name": live}})
    assert same.status_code == 200 and same.json()["changed"] == 0 and same.json()["totalReplayed"] == 4


def test_a_shadow_policy_counts_its_disagreements_and_decides_nothing(
        daemon: Daemon, admin: httpx.Client, upstream: UpstreamServer) -> None:
    agent = Agent(daemon, admin)
    assert admin.put("/policies/shadowed", json=stricter("shadowed")).status_code == 201
    attached = admin.put(f"/agents/{agent.id}/shadow", json={"policyName": "shadowed"})
    assert attached.status_code == 200 and attached.json()["policyVersion"] == 1
    assert agent.call("POST", f"{upstream.base}/notes", json={}).status_code == 200  # shadow: Deny
    assert agent.call("GET", f"{upstream.base}/items").status_code == 200  # both Allow
    assert agent.call("GET", f"{upstream.base}/reports/1").status_code == 200  # shadow: Hitl
    status = admin.get(f"/agents/{agent.id}/shadow").json()
    assert (status["judged"], status["agreed"], status["disagreed"]) == (3, 1, 2)
    disagreed = admin.get("/audit", params={"agentId": agent.id, "shadow": "disagreed"}).json()["items"]
    assert sorted(r["details"]["shadow"]["effect"] for r in disagreed) == ["Deny", "Hitl"]
    assert admin.delete(f"/agents/{agent.id}/shadow").status_code == 204
    assert is_problem(admin.get(f"/agents/{agent.id}/shadow"), 404)
    agent.client.close()
