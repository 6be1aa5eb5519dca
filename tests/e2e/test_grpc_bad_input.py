"""Bad input over gRPC: INVALID_ARGUMENT for undecodable bytes, and the same refusals, word for word, as REST."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2

from tests.e2e.contract import rpc_methods
from tests.e2e.daemon import Daemon
from vectra.grpc.generated.vectra.v1 import (
    agents_pb2,
    audit_pb2,
    audit_pb2_grpc,
    compliance_pb2,
    policies_pb2,
    policies_pb2_grpc,
    replay_pb2,
    sessions_pb2,
    tokens_pb2,
    tokens_pb2_grpc,
)

pytestmark = pytest.mark.e2e

_SOME_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
_SOME_SESSION = "vs_" + "0" * 32


@pytest.fixture(scope="module")
def channel(daemon: Daemon) -> Iterator[grpc.Channel]:
    with daemon.channel() as opened:
        yield opened


@pytest.fixture
def unchanged(admin: httpx.Client) -> Iterator[None]:
    before = admin.get("/agents", params={"pageSize": 100}).json()
    yield
    assert admin.get("/agents", params={"pageSize": 100}).json() == before


def _metadata(daemon: Daemon) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {daemon.admin_token}")]


_NAME_NOT_UTF8 = b"\x0a\x02\xff\xfe\x12\x04team"  # RegisterAgentRequest{name: <bytes ff fe>, owner_id: "team"}


@pytest.mark.parametrize(
    ("method", "payload"),
    [
        ("/vectra.v1.AgentService/ListAgents", b"\xff\xff\xff\xff"),
        ("/vectra.v1.AgentService/RegisterAgent", _NAME_NOT_UTF8),
        ("/vectra.v1.AgentService/GetAgent", b"\x0a\x10" + b"\xc3" * 16),
        ("/vectra.v1.AgentService/DeleteAgent", b"\x0a\xff"),  # truncated length
        ("/vectra.v1.TokenService/IssueToken", b"\x0a\x05\x80\x80\x80\x80\x80"),
        ("/vectra.v1.SessionService/CreateSession", b"\x0a\x02\xff\xfe"),
        ("/vectra.v1.SessionService/InterruptSession", b"\x12\xff"),
        ("/vectra.v1.ReplayService/Replay", b"\x12\x01\xc3"),  # agent_id not UTF-8
        ("/vectra.v1.ComplianceService/GetCompliance", b"\x12\x02\x08"),  # from_time cut short
        ("/vectra.v1.AgentService/PutShadowPolicy", b"\x12\x01\x80"),
        ("/grpc.health.v1.Health/Check", b"\xff"),
    ],
)
def test_undecodable_request_bytes_are_invalid_argument(
    daemon: Daemon, channel: grpc.Channel, unchanged: None, method: str, payload: bytes
) -> None:
    raw = channel.unary_unary(method)  # no serializer: the bytes go as they are
    with pytest.raises(grpc.RpcError) as refused:
        raw(payload, metadata=_metadata(daemon), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == "the request message could not be decoded"


def test_undecodable_bytes_on_a_streaming_method_are_invalid_argument(channel: grpc.Channel) -> None:
    raw = channel.unary_stream("/grpc.health.v1.Health/Watch")
    with pytest.raises(grpc.RpcError) as refused:
        list(raw(b"\xff", timeout=10))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_well_formed_raw_request_still_works(channel: grpc.Channel) -> None:
    raw = channel.unary_unary("/grpc.health.v1.Health/Check")
    reply = health_pb2.HealthCheckResponse.FromString(raw(health_pb2.HealthCheckRequest().SerializeToString()))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


# The same mistake through both surfaces: (REST method, path, body), (RPC, request), the shared message.
_SAME_REFUSALS: list[tuple[tuple[str, str, Any], tuple[str, Any], str]] = [
    (("POST", "/agents", {"name": "n" * 201, "ownerId": "team"}),
     ("RegisterAgent", agents_pb2.RegisterAgentRequest(name="n" * 201, owner_id="team")),
     "name must be at most 200 characters"),
    (("POST", "/agents", {"name": "x", "ownerId": "o" * 201}),
     ("RegisterAgent", agents_pb2.RegisterAgentRequest(name="x", owner_id="o" * 201)),
     "ownerId must be at most 200 characters"),
    (("POST", "/agents", {"name": "x"}),
     ("RegisterAgent", agents_pb2.RegisterAgentRequest(name="x")),
     "ownerId is required"),
    (("POST", "/agents", {"name": "", "ownerId": "team"}),
     ("RegisterAgent", agents_pb2.RegisterAgentRequest(owner_id="team")),
     "name is required"),
    (("POST", "/agents", {"name": "x", "ownerId": "team", "roles": ["agent"] * 4}),
     ("RegisterAgent", agents_pb2.RegisterAgentRequest(name="x", owner_id="team", roles=["agent"] * 4)),
     "roles must hold at most 3 items"),
    (("POST", "/agents", {"name": "x", "ownerId": "team", "roles": ["admin", "admin"]}),
     ("RegisterAgent", agents_pb2.RegisterAgentRequest(name="x", owner_id="team", roles=["admin", "admin"])),
     "roles must not repeat an item"),
    (("POST", "/agents", {"name": "x", "ownerId": "team", "roles": ["agent", "root"]}),
     ("RegisterAgent", agents_pb2.RegisterAgentRequest(name="x", owner_id="team", roles=["agent", "root"])),
     "roles[1] must be one of agent, reviewer, admin"),
    (("POST", "/agents", {"name": "x", "ownerId": "team", "clientSecret": "short"}),
     ("RegisterAgent", agents_pb2.RegisterAgentRequest(name="x", owner_id="team", client_secret="short")),
     "clientSecret must be 12 to 72 printable ASCII characters"),
    (("GET", "/agents?pageSize=101", None),
     ("ListAgents", agents_pb2.ListAgentsRequest(page_size=101)),
     "pageSize must be a whole number from 1 to 100"),
    (("GET", "/agents?page=1000001", None),
     ("ListAgents", agents_pb2.ListAgentsRequest(page=1000001)),
     "page must be a whole number from 1 to 1000000"),
    (("GET", "/agents?page=-1", None),
     ("ListAgents", agents_pb2.ListAgentsRequest(page=-1)),
     "page must be a whole number from 1 to 1000000"),
    (("GET", "/agents/not-a-uuid", None),
     ("GetAgent", agents_pb2.GetAgentRequest(agent_id="not-a-uuid")),
     "agentId must be a UUID"),
    (("PUT", f"/agents/{_SOME_ID}/policy", {"policyName": "p" * 129}),
     ("AssignPolicy", agents_pb2.AssignPolicyRequest(agent_id=_SOME_ID, policy_name="p" * 129)),
     "policyName must be at most 128 characters"),
    (("PUT", f"/agents/{_SOME_ID}/policy", {"policyName": "-p"}),
     ("AssignPolicy", agents_pb2.AssignPolicyRequest(agent_id=_SOME_ID, policy_name="-p")),
     "policyName must be letters, digits, '.', '_' or '-', starting with a letter or digit"),
    (("PUT", f"/agents/{_SOME_ID}/policy", {"policyName": "p\n"}),  # Python's $ matches before a last newline
     ("AssignPolicy", agents_pb2.AssignPolicyRequest(agent_id=_SOME_ID, policy_name="p\n")),
     "policyName must be letters, digits, '.', '_' or '-', starting with a letter or digit"),
    (("PUT", f"/agents/{_SOME_ID}/policy", {"policyName": "validate"}),
     ("AssignPolicy", agents_pb2.AssignPolicyRequest(agent_id=_SOME_ID, policy_name="validate")),
     "policyName must not be 'validate', a reserved word"),
    (("POST", "/agents", {"name": "x", "ownerId": "team", "clientSecret": "é" * 12}),
     ("RegisterAgent", agents_pb2.RegisterAgentRequest(name="x", owner_id="team", client_secret="é" * 12)),
     "clientSecret must be 12 to 72 printable ASCII characters"),
    (("POST", "/agents", {"name": "x", "ownerId": "team", "maxDelegationDepth": 6}),
     ("RegisterAgent", agents_pb2.RegisterAgentRequest(name="x", owner_id="team", max_delegation_depth=6)),
     "maxDelegationDepth must be a whole number from 0 to 5"),
    (("POST", "/agents", {"name": "x", "ownerId": "team", "maxSessionHours": 25}),
     ("RegisterAgent", agents_pb2.RegisterAgentRequest(name="x", owner_id="team", max_session_hours=25)),
     "maxSessionHours must be a number of hours from 0.1 to 24"),
    (("POST", "/agents", {"name": "x", "ownerId": "team", "parentAgentId": "not-a-uuid"}),
     ("RegisterAgent", agents_pb2.RegisterAgentRequest(name="x", owner_id="team", parent_agent_id="not-a-uuid")),
     "parentAgentId must be a UUID"),
    (("POST", "/sessions", {"agentId": "not-a-uuid"}),
     ("CreateSession", sessions_pb2.CreateSessionRequest(agent_id="not-a-uuid")),
     "agentId must be a UUID"),
    (("GET", "/sessions/vs_not-a-session", None),
     ("GetSession", sessions_pb2.GetSessionRequest(session_id="vs_not-a-session")),
     "sessionId must be a session id (vs_ and 32 hexadecimal digits)"),
    (("GET", "/sessions?pageSize=101", None),
     ("ListSessions", sessions_pb2.ListSessionsRequest(page_size=101)),
     "pageSize must be a whole number from 1 to 100"),
    (("GET", f"/sessions/{_SOME_SESSION}/audit?limit=1001", None),
     ("ListSessionAudit", sessions_pb2.ListSessionAuditRequest(session_id=_SOME_SESSION, limit=1001)),
     "limit must be a whole number from 1 to 1000"),
    (("GET", "/audit?sessionId=vs_1", None),
     ("ListAudit", audit_pb2.ListAuditRequest(session_id="vs_1")),
     "sessionId must be a session id (vs_ and 32 hexadecimal digits)"),
    (("GET", "/audit?shadow=maybe", None),
     ("ListAudit", audit_pb2.ListAuditRequest(shadow="maybe")),
     "shadow must be one of agreed, disagreed"),
    (("GET", f"/sessions/{_SOME_SESSION}/compliance?format=pdf", None),
     ("GetSessionCompliance", compliance_pb2.GetSessionComplianceRequest(session_id=_SOME_SESSION, format="pdf")),
     "format must be one of json, html"),
    (("POST", "/replay", {"sessionId": "vs_1", "policy": {"name": "p"}}),
     ("Replay", replay_pb2.ReplayRequest(session_id="vs_1", policy=replay_pb2.ReplayPolicy(name="p"))),
     "sessionId must be a session id (vs_ and 32 hexadecimal digits)"),
    (("POST", "/replay", {"policy": {"name": "p"}}),
     ("Replay", replay_pb2.ReplayRequest(policy=replay_pb2.ReplayPolicy(name="p"))),
     "give either sessionId or agentId"),
    (("POST", "/replay", {"agentId": _SOME_ID, "from": "2026-02-01T00:00:00Z", "to": "2026-01-31T23:59:59+00:00",
                          "policy": {"name": "p"}}),
     ("Replay", replay_pb2.ReplayRequest(agent_id=_SOME_ID, from_time="2026-02-01T00:00:00Z",
                                         to_time="2026-01-31T23:59:59+00:00",
                                         policy=replay_pb2.ReplayPolicy(name="p"))),
     "from must not be after to"),
]


def _rpc_path(name: str, request: Message) -> str:
    """The path of the RPC ``name`` that takes ``request``'s type (``/vectra.v1.AgentService/RegisterAgent``)."""
    method = next(m for m in rpc_methods() if m.name == name and m.input_type is request.DESCRIPTOR)
    return f"/{method.containing_service.full_name}/{method.name}"


@pytest.mark.parametrize(("rest", "rpc", "message"), _SAME_REFUSALS, ids=[m for _, _, m in _SAME_REFUSALS])
def test_grpc_refuses_what_rest_refuses_with_the_same_message(
    daemon: Daemon, admin: httpx.Client, channel: grpc.Channel, unchanged: None,
    rest: tuple[str, str, Any], rpc: tuple[str, Any], message: str,
) -> None:
    method, path, body = rest
    answer = admin.request(method, path, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"] == message

    name, request = rpc
    call = channel.unary_unary(_rpc_path(name, request), request_serializer=type(request).SerializeToString)
    with pytest.raises(grpc.RpcError) as refused:
        call(request, metadata=_metadata(daemon), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == message


def test_an_oversized_secret_over_grpc_is_unauthenticated(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        tokens_pb2_grpc.TokenServiceStub(channel).IssueToken(
            tokens_pb2.IssueTokenRequest(agent_id=_SOME_ID, client_secret="s" * 5000), timeout=10
        )
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_policy_version_or_an_audit_time_out_of_range_is_invalid_argument(daemon: Daemon) -> None:
    admin = (("authorization", f"Bearer {daemon.admin_token}"),)
    with daemon.channel() as channel:
        policies = policies_pb2_grpc.PolicyServiceStub(channel)
        audit = audit_pb2_grpc.AuditServiceStub(channel)
        for call in (
            lambda: policies.GetPolicy(policies_pb2.GetPolicyRequest(name="any", version=2**63 - 1), metadata=admin),
            lambda: audit.ListAudit(audit_pb2.ListAuditRequest(from_time="9999-12-31T23:59:59-23:59"),
                                    metadata=admin),
        ):
            with pytest.raises(grpc.RpcError) as refused:
                call()
            assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
