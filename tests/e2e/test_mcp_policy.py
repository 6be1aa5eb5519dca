"""MCP-aware policies on real calls: JSON-RPC 2.0 bodies POSTed through the real daemon (REST /proxy and gRPC
ProxyService.Forward/Check) to a real upstream, decided by the shipped examples mcp-tool-allowlist and
mcp-approval-required on ``input.mcp.tool``, ``input.mcp.arguments.path`` and ``input.mcp.batch``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from policy_core import load_document
from tests.e2e.daemon import Daemon, bearer
from tests.e2e.proxy_agents import Agent, audit_of, is_problem
from tests.integration.upstream import UpstreamServer
from vectra.grpc.generated.vectra.v1 import proxy_pb2, proxy_pb2_grpc

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
_ids = iter(range(1, 1_000_000))


def example(name: str) -> dict[str, Any]:
    return load_document((EXAMPLES / f"{name}.yaml").read_text())


def tool_call(tool: str, **arguments: Any) -> bytes:
    """A tools/call request as an MCP client POSTs it (a fresh id, so that each body is told apart upstream)."""
    return json.dumps({"jsonrpc": "2.0", "id": next(_ids), "method": "tools/call",
                       "params": {"name": tool, "arguments": arguments}}).encode()


def message(method: str, **params: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": params}).encode()


def batch(*bodies: bytes) -> bytes:
    return json.dumps([json.loads(body) for body in bodies]).encode()


def reached(upstream: UpstreamServer, body: bytes) -> bool:
    """Whether the upstream received exactly this body."""
    digest = hashlib.sha256(body).hexdigest()
    return any(seen["body_sha256"] == digest for seen in upstream.requests)


@pytest.fixture
def allowlisted(daemon: Daemon, admin: httpx.Client) -> Iterator[Agent]:
    """An agent under the mcp-tool-allowlist example."""
    made = Agent(daemon, admin, example("mcp-tool-allowlist"))
    yield made
    made.client.close()


@pytest.fixture
def supervised(daemon: Daemon, admin: httpx.Client) -> Iterator[Agent]:
    """An agent under the mcp-approval-required example."""
    made = Agent(daemon, admin, example("mcp-approval-required"))
    yield made
    made.client.close()


def post(agent: Agent, upstream: UpstreamServer, body: bytes) -> httpx.Response:
    return agent.call("POST", f"{upstream.base}/mcp", content=body, headers=MCP_HEADERS)


# -- REST ------------------------------------------------------------------------------------------------------

def test_a_listed_tool_and_the_protocol_messages_reach_the_mcp_server(allowlisted: Agent,
                                                                        upstream: UpstreamServer) -> None:
    initialize = message("initialize", protocolVersion="2025-06-18", capabilities={})
    listing = message("tools/list")
    search = tool_call("search_docs", query="refund policy")

    answers = [post(allowlisted, upstream, body) for body in (initialize, listing, search)]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert "rule=mcp-listed-tools" in answers[2].headers["Vectra-Decision"]
    assert "rule=mcp-protocol" in answers[0].headers["Vectra-Decision"]
    assert all(reached(upstream, body) for body in (initialize, listing, search))


def test_a_tool_off_the_allowlist_is_refused_naming_the_rule_and_never_reaches_the_server(
    allowlisted: Agent, upstream: UpstreamServer
) -> None:
    body = tool_call("delete_file", path="/tmp/x")

    answer = post(allowlisted, upstream, body)

    assert is_problem(answer, 403)
    assert answer.json()["rule"] == "mcp-unlisted-tool"
    assert "not on the agent's allowlist" in answer.json()["detail"]
    assert not reached(upstream, body)


def test_the_audit_record_names_the_tool_of_each_call(allowlisted: Agent, upstream: UpstreamServer,
                                                       admin: httpx.Client) -> None:
    assert post(allowlisted, upstream, tool_call("search_docs", query="refunds")).status_code == 200
    assert post(allowlisted, upstream, tool_call("shell_exec", command="id")).status_code == 403
    assert post(allowlisted, upstream, message("tools/list")).status_code == 200
    records = audit_of(admin, allowlisted.id, "proxy.request")
    assert [(r["decision"], r["details"]["mcp"]) for r in records] == [
        ("Allow", {"method": "tools/call", "tool": "search_docs"}),
        ("Deny", {"method": "tools/call", "tool": "shell_exec"}),
        ("Allow", {"method": "tools/list", "tool": None}),
    ]


def test_a_batch_is_refused_even_when_it_holds_a_listed_tool(allowlisted: Agent, upstream: UpstreamServer) -> None:
    body = batch(tool_call("search_docs", query="x"), tool_call("delete_file", path="/"))

    answer = post(allowlisted, upstream, body)

    assert is_problem(answer, 403) and answer.json()["rule"] == "mcp-no-batches"
    assert not reached(upstream, body)


def test_a_tool_that_needs_a_human_is_parked_and_waits(supervised: Agent, upstream: UpstreamServer) -> None:
    body = tool_call("send_payment", amount=120, currency="EUR")

    answer = post(supervised, upstream, body)

    assert answer.status_code == 202, answer.text
    assert answer.headers["Location"] == f"/hitl/{answer.json()['id']}"
    assert supervised.client.get(f"/hitl/{answer.json()['id']}").json()["status"] == "Pending"
    assert not reached(upstream, body)


def test_a_file_tool_is_refused_on_a_system_path_and_allowed_elsewhere(supervised: Agent,
                                                                        upstream: UpstreamServer) -> None:
    system, climbing = tool_call("read_file", path="/etc/shadow"), tool_call("read_file", path="notes/../../etc/x")
    notes = tool_call("read_file", path="/home/ann/notes.txt")

    refused = [post(supervised, upstream, body) for body in (system, climbing)]
    allowed = post(supervised, upstream, notes)

    assert [(answer.status_code, answer.json()["rule"]) for answer in refused] == [(403, "mcp-no-system-paths")] * 2
    assert allowed.status_code == 200 and reached(upstream, notes)
    assert not reached(upstream, system) and not reached(upstream, climbing)


# -- gRPC ------------------------------------------------------------------------------------------------------

@pytest.fixture
def proxy_stub(daemon: Daemon) -> Iterator[proxy_pb2_grpc.ProxyServiceStub]:
    with daemon.channel() as channel:
        yield proxy_pb2_grpc.ProxyServiceStub(channel)


def mcp_headers() -> list[proxy_pb2.Header]:
    return [proxy_pb2.Header(name=name, value=value) for name, value in MCP_HEADERS.items()]


def test_grpc_forward_decides_mcp_calls_as_rest_does(allowlisted: Agent, supervised: Agent,
                                                     proxy_stub: proxy_pb2_grpc.ProxyServiceStub,
                                                     upstream: UpstreamServer) -> None:
    def forward(agent: Agent, body: bytes) -> proxy_pb2.ForwardResponse:
        return proxy_stub.Forward(proxy_pb2.ForwardRequest(method="POST", url=f"{upstream.base}/mcp",
                                                           headers=mcp_headers(), body=body),
                                  metadata=bearer(agent.token), timeout=30)

    def refusal(agent: Agent, body: bytes) -> tuple[grpc.StatusCode, str]:
        with pytest.raises(grpc.RpcError) as raised:
            forward(agent, body)
        return raised.value.code(), raised.value.details()

    listed, unlisted = tool_call("read_file", path="/srv/a"), tool_call("run_shell", command="id")
    batched, payment = batch(tool_call("read_file", path="/srv/b")), tool_call("send_payment", amount=5)

    allowed = forward(allowlisted, listed)
    assert (allowed.status, allowed.decision.effect, allowed.decision.rule) == (200, "Allow", "mcp-listed-tools")
    assert reached(upstream, listed)
    code, details = refusal(allowlisted, unlisted)
    assert code == grpc.StatusCode.PERMISSION_DENIED and "rule mcp-unlisted-tool" in details
    code, details = refusal(allowlisted, batched)
    assert code == grpc.StatusCode.PERMISSION_DENIED and "rule mcp-no-batches" in details
    parked = forward(supervised, payment)
    assert (parked.status, parked.decision.effect, parked.decision.rule) == (202, "Hitl", "mcp-needs-a-human")
    assert parked.pending.status == "Pending"
    assert not any(reached(upstream, body) for body in (unlisted, batched, payment))


def test_grpc_check_judges_mcp_bodies_without_forwarding(allowlisted: Agent, supervised: Agent,
                                                         proxy_stub: proxy_pb2_grpc.ProxyServiceStub,
                                                         upstream: UpstreamServer) -> None:
    def check(agent: Agent, body: bytes) -> tuple[str, str]:
        answer = proxy_stub.Check(proxy_pb2.CheckRequest(method="POST", url=f"{upstream.base}/mcp",
                                                         headers=mcp_headers(), body=body),
                                  metadata=bearer(agent.token), timeout=30)
        return answer.decision.effect, answer.decision.rule

    before = len(upstream.requests)

    assert check(allowlisted, tool_call("get_weather", city="Lyon")) == ("Allow", "mcp-listed-tools")
    assert check(allowlisted, message("tools/list")) == ("Allow", "mcp-protocol")
    assert check(allowlisted, tool_call("Get_Weather", city="Lyon")) == ("Deny", "mcp-unlisted-tool")
    assert check(allowlisted, batch(message("tools/list"))) == ("Deny", "mcp-no-batches")
    assert check(allowlisted, b'{"query": "no JSON-RPC"}') == ("Deny", "")
    assert check(supervised, tool_call("delete_file", path="/tmp/old.log")) == ("Hitl", "mcp-needs-a-human")
    assert check(supervised, tool_call("write_file", path="/etc/cron.d/x")) == ("Deny", "mcp-no-system-paths")
    assert len(upstream.requests) == before
