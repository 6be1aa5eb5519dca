"""Logs: one JSON object a line, a request id shared with the response, and never a secret."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import grpc
import httpx
import pytest

from tests.e2e.daemon import Daemon, wait_until
from vectra.grpc.generated.vectra.v1 import agents_pb2, agents_pb2_grpc

pytestmark = pytest.mark.e2e


def _entries(daemon: Daemon) -> list[dict[str, Any]]:
    return [json.loads(line) for line in daemon.log().splitlines()]


def _request_line(daemon: Daemon, request_id: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        return next((e for e in _entries(daemon) if e.get("request_id") == request_id), None)

    return wait_until(found)


def test_every_line_the_daemon_writes_is_one_json_object(make_daemon: Callable[..., Daemon]) -> None:
    daemon = make_daemon()
    with daemon.admin() as admin:
        admin.get("/health")
        admin.post("/agents", json={"name": "logged", "ownerId": "team"})
        admin.post("/agents", content=b"[" * 100_000, headers={"content-type": "application/json"})
        admin.post("/agents", content=b'{"name": "\xff"}', headers={"content-type": "application/json"})
        admin.get("/no-such-path")
        admin.post("/agents", content=b"x" * (1024 * 1024 + 10), headers={"content-type": "application/json"})
    with daemon.channel() as channel, pytest.raises(grpc.RpcError):
        channel.unary_unary("/vectra.v1.AgentService/ListAgents")(b"\xff\xff", timeout=10)
    assert daemon.stop() == 0
    lines = daemon.log().splitlines()
    assert len(lines) > 8
    for line in lines:
        entry = json.loads(line)  # fails on any plain-text line (warnings, tracebacks, banners)
        assert isinstance(entry, dict) and {"time", "level", "logger", "message"} <= set(entry), line
    assert not [e for e in map(json.loads, lines) if e["level"] in ("error", "critical")]


def test_each_request_is_logged_with_the_id_of_its_response_header(daemon: Daemon, admin: httpx.Client) -> None:
    answer = admin.get("/agents", params={"pageSize": 7})
    request_id = answer.headers["x-request-id"]
    assert len(request_id) >= 16
    entry = _request_line(daemon, request_id)
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/agents", 200)
    assert entry["duration_ms"] >= 0


def test_the_logged_client_is_the_socket_address_whatever_x_forwarded_for_says(
    daemon: Daemon, admin: httpx.Client
) -> None:
    answer = admin.get("/agents", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    assert _request_line(daemon, answer.headers["x-request-id"])["client"] == "127.0.0.1"


def test_refusals_carry_a_request_id_too(daemon: Daemon) -> None:
    with daemon.client() as client:
        answer = client.get("/agents")
    assert answer.status_code == 401
    assert _request_line(daemon, answer.headers["x-request-id"])["status"] == 401


def test_a_safe_client_request_id_is_kept(daemon: Daemon, admin: httpx.Client) -> None:
    answer = admin.get("/health", headers={"X-Request-Id": "trace-42.abc_DEF"})
    assert answer.headers["x-request-id"] == "trace-42.abc_DEF"
    assert _request_line(daemon, "trace-42.abc_DEF")["path"] == "/health"


@pytest.mark.parametrize("unsafe", [b"with spaces", b"x" * 65, b"back\\slash", b'quote"d', "é".encode()])
def test_an_unsafe_client_request_id_is_replaced(daemon: Daemon, admin: httpx.Client, unsafe: bytes) -> None:
    answer = admin.get("/health", headers={b"X-Request-Id": unsafe})
    replaced = answer.headers["x-request-id"]
    assert replaced.encode() != unsafe
    _request_line(daemon, replaced)


def test_no_secret_a_client_sends_ever_reaches_the_log(make_daemon: Callable[..., Daemon]) -> None:
    daemon = make_daemon()
    secret = "the-real-secret-" + "s" * 20
    sent: list[str] = [secret, daemon.admin_token]
    with daemon.admin() as admin:
        created = admin.post("/agents", json={"name": "secretive", "ownerId": "team", "clientSecret": secret}).json()
        generated = admin.post("/agents", json={"name": "generated", "ownerId": "team"}).json()["clientSecret"]
        sent.append(generated)
        for refused in ("short-sec", "too-long-secret-" + "l" * 80):
            admin.post("/agents", json={"name": "x", "ownerId": "team", "clientSecret": refused})
            sent.append(refused)
    with daemon.client() as client:
        token = client.post("/tokens", json={"agentId": created["id"], "clientSecret": secret}).json()["token"]
        sent.append(token)
        client.get(f"/agents/{created['id']}", headers={"Authorization": f"Bearer {token}"})
        client.get("/agents", headers={"Authorization": f"Bearer {token}"})  # 403: agent role
        for wrong in ("a-wrong-secret-123", "o" * 5000, secret + "-and-more-" + "m" * 70):
            client.post("/tokens", json={"agentId": created["id"], "clientSecret": wrong})
            sent.append(wrong)
        forged = token[:-4] + "AAAA"
        client.get("/agents", headers={"Authorization": f"Bearer {forged}"})
        sent.append(forged)
    with daemon.channel() as channel:
        with pytest.raises(grpc.RpcError):
            agents_pb2_grpc.AgentServiceStub(channel).RegisterAgent(
                agents_pb2.RegisterAgentRequest(name="x", owner_id="team", client_secret="grpc-short"),
                metadata=[("authorization", f"Bearer {daemon.admin_token}")], timeout=10,
            )
        sent.append("grpc-short")
    assert daemon.stop() == 0
    log = daemon.log()
    assert "request" in log
    leaked = [value[:24] for value in sent if value in log]
    assert leaked == []
