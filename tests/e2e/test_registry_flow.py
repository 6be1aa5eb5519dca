"""The registry end to end, on each surface: an agent registers itself with its Ed25519 key, an admin approves it
with fewer capabilities than it asked for, the agent gets a token by a signed assertion (no secret ever exists),
and its proxied calls are judged by a policy that tests the capabilities it was granted."""

from __future__ import annotations

import time
import uuid
from typing import Any

import grpc
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.e2e.daemon import Daemon, bearer
from tests.e2e.policy_documents import WRITES_NEED_MAIL_SEND
from tests.integration.upstream import UpstreamServer
from vectra.domain.keys import encode_public_key
from vectra.grpc.generated.vectra.v1 import (
    proxy_pb2,
    proxy_pb2_grpc,
    registrations_pb2,
    registrations_pb2_grpc,
    tokens_pb2,
    tokens_pb2_grpc,
)

REQUESTED = ["api_call", "mail_send"]
GRANTED = ["api_call"]
POLICY = {
    "name": "granted-capabilities",
    "default": "Deny",
    "rules": [
        WRITES_NEED_MAIL_SEND,
        {"name": "eng-api-calls", "priority": 10, "effect": "Allow",
         "conditions": [{"field": "input.agent.capabilities", "operator": "contains", "value": "api_call"},
                        {"field": "input.agent.realm", "operator": "eq", "value": "eng"}]},
    ],
}


class Registrant:
    """An agent with nothing but its own key pair."""

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.public_key = encode_public_key(self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def assertion(self, subject: str) -> str:
        now = int(time.time())
        claims = {"iss": subject, "sub": subject, "aud": "vectra/tokens", "iat": now, "exp": now + 120,
                  "jti": uuid.uuid4().hex}
        return jwt.encode(claims, self.key, algorithm="EdDSA")


@pytest.fixture(scope="module")
def prepared(daemon: Daemon) -> None:
    with daemon.admin() as admin:
        assert admin.put("/policies/granted-capabilities", json=POLICY).status_code == 201
        assert admin.post("/realms", json={"name": "Engineering", "slug": "eng"}).status_code == 201


def test_register_approve_fewer_then_call_with_a_key_token_over_rest(
    daemon: Daemon, admin: httpx.Client, upstream: UpstreamServer, prepared: None,
) -> None:
    registrant = Registrant()
    with daemon.client() as anonymous:
        submitted = anonymous.post("/registrations", json={
            "name": "analyst-gpt4", "version": "1.0.0", "capabilities": REQUESTED,
            "publicKey": registrant.public_key, "metadata": {"llmProvider": "openai", "llmModel": "gpt-4o"}})
        assert submitted.status_code == 201, submitted.text
        registration = submitted.json()
        assert anonymous.get(f"/registrations/{registration['id']}").json()["status"] == "Pending"

        listed = admin.get("/registrations").json()
        assert registration["id"] in [item["id"] for item in listed["items"]]
        assert "agent_communication" in listed["availableCapabilities"]
        more = admin.post(f"/registrations/{registration['id']}/approve", json={"capabilities": ["code_execution"]})
        assert more.status_code == 400 and more.json()["pointer"] == "capabilities[0]"
        approved = admin.post(f"/registrations/{registration['id']}/approve", json={
            "capabilities": GRANTED, "policyName": "granted-capabilities", "realm": "eng"})
        assert approved.status_code == 200, approved.text
        agent_id = approved.json()["agentId"]

        polled = anonymous.get(f"/registrations/{registration['id']}").json()
        assert (polled["status"], polled["agentId"], polled["grantedCapabilities"]) == ("Approved", agent_id, GRANTED)

        assertion = registrant.assertion(agent_id)
        issued = anonymous.post("/tokens", json={"agentId": registration["did"], "assertion": assertion})
        assert issued.status_code == 200, issued.text
        replayed = anonymous.post("/tokens", json={"agentId": agent_id, "assertion": assertion})
        assert replayed.status_code == 401
        no_secret = anonymous.post("/tokens", json={"agentId": agent_id, "clientSecret": "x" * 20})
        assert no_secret.status_code == 401

    with daemon.client(issued.json()["token"]) as agent:
        read = agent.get(f"/proxy/{upstream.base}/reports")
        write = agent.post(f"/proxy/{upstream.base}/outbox", content=b"hello")
        own = agent.get(f"/agents/{agent_id}").json()

    assert read.status_code == 200
    assert write.status_code == 403 and write.json()["rule"] == "writes-need-mail-send"  # asked for, not granted
    assert not any(r["raw_path"] == "/outbox" for r in upstream.requests)
    assert (own["capabilities"], own["realm"]["slug"], own["did"]) == (GRANTED, "eng", registration["did"])
    assert own["metadata"] == {"llmProvider": "openai", "llmModel": "gpt-4o"} and own["online"] is True
    actions = [r["action"] for r in admin.get("/audit", params={"agentId": agent_id, "pageSize": 100})
               .json()["items"]]
    assert {"registration.approved", "proxy.request"} <= set(actions)


def test_register_approve_fewer_then_call_with_a_key_token_over_grpc(
    daemon: Daemon, upstream: UpstreamServer, prepared: None,
) -> None:
    registrant = Registrant()
    operator = bearer(daemon.admin_token)
    with daemon.channel() as channel:
        registrations = registrations_pb2_grpc.RegistrationServiceStub(channel)
        submitted = registrations.SubmitRegistration(registrations_pb2.SubmitRegistrationRequest(
            name="crawler", capabilities=REQUESTED, public_key=registrant.public_key))
        state = registrations.GetRegistration(registrations_pb2.GetRegistrationRequest(registration_id=submitted.id))
        assert state.status == registrations_pb2.REGISTRATION_STATUS_PENDING
        with pytest.raises(grpc.RpcError) as more:
            registrations.ApproveRegistration(registrations_pb2.ApproveRegistrationRequest(
                registration_id=submitted.id, grant=registrations_pb2.CapabilityGrant(capabilities=["system_command"])),
                metadata=operator)
        assert more.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        approved = registrations.ApproveRegistration(registrations_pb2.ApproveRegistrationRequest(
            registration_id=submitted.id, grant=registrations_pb2.CapabilityGrant(capabilities=GRANTED),
            policy_name="granted-capabilities", realm="eng"), metadata=operator)
        assert list(approved.capabilities) == GRANTED

        tokens = tokens_pb2_grpc.TokenServiceStub(channel)
        assertion = registrant.assertion(submitted.did)
        token = tokens.IssueToken(tokens_pb2.IssueTokenRequest(agent_id=submitted.did, assertion=assertion)).token
        with pytest.raises(grpc.RpcError) as replayed:
            tokens.IssueToken(tokens_pb2.IssueTokenRequest(agent_id=submitted.did, assertion=assertion))
        assert replayed.value.code() is grpc.StatusCode.UNAUTHENTICATED

        proxy = proxy_pb2_grpc.ProxyServiceStub(channel)
        read = proxy.Forward(proxy_pb2.ForwardRequest(method="GET", url=f"{upstream.base}/grpc-reports"),
                             metadata=bearer(token))
        with pytest.raises(grpc.RpcError) as write:
            proxy.Forward(proxy_pb2.ForwardRequest(method="POST", url=f"{upstream.base}/grpc-outbox", body=b"x"),
                          metadata=bearer(token))

    assert (read.decision.effect, read.status) == ("Allow", 200)
    assert write.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert not any(r["raw_path"] == "/grpc-outbox" for r in upstream.requests)


def test_a_rejected_registrant_reads_why_and_gets_no_token(daemon: Daemon, admin: httpx.Client,
                                                           prepared: None) -> None:
    registrant = Registrant()
    with daemon.client() as anonymous:
        registration = anonymous.post("/registrations", json={"name": "unknown-bot", "capabilities": ["api_call"],
                                                              "publicKey": registrant.public_key}).json()
        rejected = admin.post(f"/registrations/{registration['id']}/reject",
                              json={"reason": "This agent requires additional security review."})
        polled: dict[str, Any] = anonymous.get(f"/registrations/{registration['id']}").json()
        token = anonymous.post("/tokens", json={"agentId": registration["did"],
                                                "assertion": registrant.assertion(registration["did"])})

    assert rejected.status_code == 200 and rejected.json() == {"success": True}
    assert (polled["status"], polled["reason"]) == ("Rejected", "This agent requires additional security review.")
    assert polled["agentId"] is None
    assert token.status_code == 401
