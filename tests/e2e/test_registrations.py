"""Self-registration with admin approval, through the real daemon on both surfaces: an agent submits its name,
capabilities and Ed25519 key without a token, an admin of every realm lists and approves a subset (or rejects),
the registrant polls the outcome; the modes (open, token, off), the per-source rate limit, and the refusals."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.e2e.daemon import Daemon, bearer, register_agent
from vectra.config import DEFAULT_CAPABILITIES
from vectra.domain.keys import encode_public_key
from vectra.grpc.generated.vectra.v1 import registrations_pb2 as pb
from vectra.grpc.generated.vectra.v1 import registrations_pb2_grpc

pytestmark = pytest.mark.e2e

ENROLLMENT_TOKEN = "enrol-0123456789abcdef"
POLICY = {"default": "Allow"}


def new_key() -> str:
    return encode_public_key(Ed25519PrivateKey.generate().public_key().public_bytes_raw())


def submission(**fields: Any) -> dict[str, Any]:
    return {"name": f"self-{uuid.uuid4().hex[:8]}", "version": "1.0.0", "capabilities": ["api_call", "file_access"],
            "publicKey": new_key(), **fields}


def submit(daemon: Daemon, token: str | None = None, **fields: Any) -> httpx.Response:
    headers = {"Vectra-Enrollment-Token": token} if token else {}
    with daemon.client() as client:
        return client.post("/registrations", json=submission(**fields), headers=headers)


def submitted(daemon: Daemon, **fields: Any) -> dict[str, Any]:
    answer = submit(daemon, **fields)
    assert answer.status_code == 201, answer.text
    return answer.json()


def poll(daemon: Daemon, registration_id: str) -> httpx.Response:
    with daemon.client() as client:  # no token: the id is the key
        return client.get(f"/registrations/{registration_id}")


def grpc_code(method: Callable[..., Any], request: Any, **kwargs: Any) -> grpc.StatusCode:
    """The status an RPC that must fail ends with."""
    with pytest.raises(grpc.RpcError) as refused:
        method(request, **kwargs)
    return refused.value.code()


def submit_over_grpc(daemon: Daemon, request: pb.SubmitRegistrationRequest, **kwargs: Any) -> grpc.StatusCode:
    with daemon.channel() as channel:
        stub = registrations_pb2_grpc.RegistrationServiceStub(channel)
        try:
            stub.SubmitRegistration(request, **kwargs)
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """Open registration with an allowance the module's own submissions (all from 127.0.0.1) stay under."""
    running = Daemon(tmp_path_factory.mktemp("vectra") / "data",
                     env={"VECTRA_REGISTRATION_RATE_PER_HOUR": "1000"}).start()
    yield running
    assert running.stop() == 0, running.log()


@pytest.fixture(scope="module")
def stub(daemon: Daemon) -> Iterator[registrations_pb2_grpc.RegistrationServiceStub]:
    with daemon.channel() as channel:
        yield registrations_pb2_grpc.RegistrationServiceStub(channel)


@pytest.fixture(scope="module")
def place(daemon: Daemon) -> dict[str, str]:
    """A policy and a realm an approval can name."""
    with daemon.admin() as admin:
        assert admin.put("/policies/self-registered", json=POLICY).status_code == 201
        realm = admin.post("/realms", json={"name": "Self-registered", "slug": "selfreg"})
        assert realm.status_code == 201, realm.text
    return {"policyName": "self-registered", "realm": "selfreg", "realmId": realm.json()["id"]}


def agents_with_did(admin: httpx.Client, did: str) -> int:
    answer = admin.get("/agents", params={"q": did})
    assert answer.status_code == 200, answer.text
    return answer.json()["totalCount"]


def audit_actions(admin: httpx.Client, action: str) -> list[dict[str, Any]]:
    answer = admin.get("/audit", params={"action": action, "pageSize": 100})
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


# -- the flow ----------------------------------------------------------------------------------------------------

def test_rest_submit_list_approve_a_subset_then_poll_and_read_the_agent(
    daemon: Daemon, admin: httpx.Client, place: dict[str, str]
) -> None:
    key = new_key()
    answer = submit(daemon, publicKey=key, capabilities=["api_call", "file_access", "mail_send"],
                    metadata={"llmProvider": "openai"}, description="reads invoices")
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert made["id"].startswith("reg_") and len(made["id"]) >= 4 + 22
    assert answer.headers["location"] == f"/registrations/{made['id']}"
    assert made["status"] == "Pending" and made["did"] == f"did:key:{key}"
    assert poll(daemon, made["id"]).json()["status"] == "Pending"

    listed = admin.get("/registrations", params={"pageSize": 100}).json()
    assert listed["availableCapabilities"] == list(DEFAULT_CAPABILITIES)
    assert {"page", "pageSize", "totalCount", "totalPages"} <= set(listed)
    mine = next(item for item in listed["items"] if item["id"] == made["id"])
    assert mine["publicKey"] == key and mine["requestedCapabilities"] == ["file_access", "api_call", "mail_send"]
    assert mine["source"] == "127.0.0.1" and mine["metadata"] == {"llmProvider": "openai"}

    approved = admin.post(f"/registrations/{made['id']}/approve",
                          json={"capabilities": ["api_call", "file_access"], "policyName": place["policyName"],
                                "realm": place["realm"]})
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["success"] is True and body["did"] == made["did"]
    assert body["capabilities"] == ["file_access", "api_call"]  # in the vocabulary's order

    polled = poll(daemon, made["id"]).json()
    assert polled["status"] == "Approved" and polled["agentId"] == body["agentId"]
    assert polled["grantedCapabilities"] == ["file_access", "api_call"] and polled["decidedAt"]
    agent = admin.get(f"/agents/{body['agentId']}").json()
    assert agent["capabilities"] == ["file_access", "api_call"]
    assert (agent["did"], agent["publicKey"], agent["name"]) == (made["did"], key, mine["name"])
    assert (agent["status"], agent["roles"], agent["trustScore"]) == ("Active", ["agent"], 0.5)
    assert agent["policyName"] == place["policyName"] and agent["realm"]["id"] == place["realmId"]
    assert agent["metadata"] == {"llmProvider": "openai"} and agent["description"] == "reads invoices"
    assert made["id"] not in [r["id"] for r in admin.get("/registrations", params={"pageSize": 100}).json()["items"]]
    approved_list = admin.get("/registrations", params={"status": "Approved", "pageSize": 100}).json()["items"]
    assert made["id"] in [r["id"] for r in approved_list]


def test_grpc_submit_list_approve_a_subset_then_poll_and_read_the_agent(
    daemon: Daemon, admin: httpx.Client, stub: registrations_pb2_grpc.RegistrationServiceStub, place: dict[str, str]
) -> None:
    key = new_key()
    made = stub.SubmitRegistration(pb.SubmitRegistrationRequest(
        name="grpc-self", capabilities=["api_call", "code_execution"], public_key=key))
    assert made.status == pb.REGISTRATION_STATUS_PENDING and made.did == f"did:key:{key}"
    assert stub.GetRegistration(pb.GetRegistrationRequest(registration_id=made.id)).status == \
        pb.REGISTRATION_STATUS_PENDING

    listed = stub.ListRegistrations(pb.ListRegistrationsRequest(page_size=100), metadata=bearer(daemon.admin_token))
    assert list(listed.available_capabilities) == list(DEFAULT_CAPABILITIES)
    assert made.id in [r.id for r in listed.items]

    approved = stub.ApproveRegistration(pb.ApproveRegistrationRequest(
        registration_id=made.id, grant=pb.CapabilityGrant(capabilities=["code_execution"]),
        policy_name=place["policyName"]), metadata=bearer(daemon.admin_token))
    assert approved.success and list(approved.capabilities) == ["code_execution"]

    state = stub.GetRegistration(pb.GetRegistrationRequest(registration_id=made.id))
    assert state.status == pb.REGISTRATION_STATUS_APPROVED and state.agent_id == approved.agent_id
    assert list(state.granted_capabilities) == ["code_execution"]
    agent = admin.get(f"/agents/{approved.agent_id}").json()
    assert agent["capabilities"] == ["code_execution"] and agent["did"] == made.did and agent["publicKey"] == key
    assert agent["realm"] is None


def test_approval_without_capabilities_grants_all_requested_and_an_empty_list_none(
    daemon: Daemon, admin: httpx.Client, stub: registrations_pb2_grpc.RegistrationServiceStub
) -> None:
    everything = submitted(daemon)
    approved = admin.post(f"/registrations/{everything['id']}/approve", json={}).json()
    assert approved["capabilities"] == ["file_access", "api_call"]
    nothing = submitted(daemon)
    assert admin.post(f"/registrations/{nothing['id']}/approve", json={"capabilities": []}).json()["capabilities"] \
        == []
    over_grpc = submitted(daemon)
    granted = stub.ApproveRegistration(pb.ApproveRegistrationRequest(registration_id=over_grpc["id"]),
                                       metadata=bearer(daemon.admin_token))
    assert list(granted.capabilities) == ["file_access", "api_call"]


# -- approvals refused, nothing changed --------------------------------------------------------------------------

def test_granting_a_capability_not_requested_is_400_and_changes_nothing(
    daemon: Daemon, admin: httpx.Client, stub: registrations_pb2_grpc.RegistrationServiceStub
) -> None:
    made = submitted(daemon, capabilities=["api_call"])
    answer = admin.post(f"/registrations/{made['id']}/approve", json={"capabilities": ["api_call", "mail_send"]})
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["pointer"] == "capabilities[1]" and "mail_send" in answer.json()["detail"]
    request = pb.ApproveRegistrationRequest(registration_id=made["id"],
                                            grant=pb.CapabilityGrant(capabilities=["mail_send"]))
    assert grpc_code(stub.ApproveRegistration, request, metadata=bearer(daemon.admin_token)) == \
        grpc.StatusCode.INVALID_ARGUMENT
    assert poll(daemon, made["id"]).json()["status"] == "Pending"
    assert agents_with_did(admin, made["did"]) == 0


@pytest.mark.parametrize(("field", "value"), [("policyName", "no-such-policy"), ("realm", "no-such-realm")])
def test_approving_with_an_unknown_policy_or_realm_is_404_and_changes_nothing(
    daemon: Daemon, admin: httpx.Client, stub: registrations_pb2_grpc.RegistrationServiceStub, field: str, value: str
) -> None:
    made = submitted(daemon)
    answer = admin.post(f"/registrations/{made['id']}/approve", json={field: value})
    assert answer.status_code == 404, answer.text
    assert answer.json()["pointer"] == field
    request = pb.ApproveRegistrationRequest(registration_id=made["id"],
                                            **{"policy_name" if field == "policyName" else "realm": value})
    assert grpc_code(stub.ApproveRegistration, request, metadata=bearer(daemon.admin_token)) == \
        grpc.StatusCode.NOT_FOUND
    assert poll(daemon, made["id"]).json()["status"] == "Pending"
    assert agents_with_did(admin, made["did"]) == 0


def test_unknown_registration_is_404_on_both_surfaces(
    daemon: Daemon, admin: httpx.Client, stub: registrations_pb2_grpc.RegistrationServiceStub
) -> None:
    assert poll(daemon, "reg_doesnotexist").status_code == 404
    assert admin.post("/registrations/reg_doesnotexist/approve", json={}).status_code == 404
    assert admin.post("/registrations/reg_doesnotexist/reject", json={"reason": "x"}).status_code == 404
    assert grpc_code(stub.GetRegistration, pb.GetRegistrationRequest(registration_id="reg_nope")) == \
        grpc.StatusCode.NOT_FOUND
    assert grpc_code(stub.GetRegistration, pb.GetRegistrationRequest()) == grpc.StatusCode.INVALID_ARGUMENT


# -- rejection and second decisions ------------------------------------------------------------------------------

def test_rejection_is_polled_with_its_reason_and_a_second_decision_is_409(
    daemon: Daemon, admin: httpx.Client
) -> None:
    made = submitted(daemon)
    reason = "This agent requires additional security review."
    answer = admin.post(f"/registrations/{made['id']}/reject", json={"reason": reason})
    assert answer.status_code == 200 and answer.json() == {"success": True}
    polled = poll(daemon, made["id"]).json()
    assert (polled["status"], polled["reason"], polled["agentId"]) == ("Rejected", reason, None)
    assert admin.post(f"/registrations/{made['id']}/approve", json={}).status_code == 409
    assert admin.post(f"/registrations/{made['id']}/reject", json={"reason": "again"}).status_code == 409
    assert agents_with_did(admin, made["did"]) == 0
    assert poll(daemon, made["id"]).json()["reason"] == reason


def test_grpc_rejection_and_second_decisions_are_failed_precondition(
    daemon: Daemon, admin: httpx.Client, stub: registrations_pb2_grpc.RegistrationServiceStub
) -> None:
    made = submitted(daemon)
    assert stub.RejectRegistration(pb.RejectRegistrationRequest(registration_id=made["id"], reason="no"),
                                   metadata=bearer(daemon.admin_token)).success
    state = stub.GetRegistration(pb.GetRegistrationRequest(registration_id=made["id"]))
    assert state.status == pb.REGISTRATION_STATUS_REJECTED and state.reason == "no"
    for method, request in (
        (stub.RejectRegistration, pb.RejectRegistrationRequest(registration_id=made["id"], reason="again")),
        (stub.ApproveRegistration, pb.ApproveRegistrationRequest(registration_id=made["id"])),
    ):
        assert grpc_code(method, request, metadata=bearer(daemon.admin_token)) == grpc.StatusCode.FAILED_PRECONDITION
    approved = submitted(daemon)
    assert admin.post(f"/registrations/{approved['id']}/approve", json={}).status_code == 200
    assert admin.post(f"/registrations/{approved['id']}/approve", json={}).status_code == 409
    assert admin.post(f"/registrations/{approved['id']}/reject", json={"reason": "late"}).status_code == 409
    assert agents_with_did(admin, approved["did"]) == 1


@pytest.mark.parametrize("reason", [None, "", "   ", "x" * 2001])
def test_a_rejection_needs_a_reason_of_bounded_length(daemon: Daemon, admin: httpx.Client,
                                                      reason: str | None) -> None:
    made = submitted(daemon)
    answer = admin.post(f"/registrations/{made['id']}/reject", json={} if reason is None else {"reason": reason})
    assert answer.status_code == 400, answer.text
    assert answer.json()["pointer"] == "reason"
    assert poll(daemon, made["id"]).json()["status"] == "Pending"


# -- submissions refused -----------------------------------------------------------------------------------------

def test_a_key_already_registered_or_waiting_is_409(
    daemon: Daemon, admin: httpx.Client, stub: registrations_pb2_grpc.RegistrationServiceStub
) -> None:
    key = new_key()
    first = submitted(daemon, publicKey=key)
    again = submit(daemon, publicKey=f"did:key:{key}")  # the same key, spelt as its did
    assert again.status_code == 409 and again.json()["pointer"] == "publicKey"
    assert grpc_code(stub.SubmitRegistration, pb.SubmitRegistrationRequest(name="dup", public_key=key)) == \
        grpc.StatusCode.FAILED_PRECONDITION
    assert admin.post(f"/registrations/{first['id']}/approve", json={}).status_code == 200
    assert submit(daemon, publicKey=key).status_code == 409  # now an agent's key
    registered_key = new_key()
    register_agent(admin, "keyed-agent", publicKey=registered_key)
    assert submit(daemon, publicKey=registered_key).status_code == 409


@pytest.mark.parametrize(("fields", "pointer"), [
    ({"publicKey": "z6MkNotAKey"}, "publicKey"),
    ({"publicKey": "not-multibase"}, "publicKey"),
    ({"capabilities": ["teleportation"]}, "capabilities[0]"),
    ({"capabilities": ["api_call", "api_call"]}, "capabilities"),
    ({"name": "   "}, "name"),
    ({"metadata": {"1bad": "x"}}, "metadata keys"),
])
def test_bad_submissions_are_400_naming_the_field(
    daemon: Daemon, stub: registrations_pb2_grpc.RegistrationServiceStub, fields: dict[str, Any], pointer: str
) -> None:
    answer = submit(daemon, **fields)
    assert answer.status_code == 400, answer.text
    assert answer.json()["pointer"] == pointer
    body = submission(**fields)
    request = pb.SubmitRegistrationRequest(name=body["name"], capabilities=body["capabilities"],
                                           public_key=body["publicKey"], metadata=body.get("metadata", {}))
    assert grpc_code(stub.SubmitRegistration, request) == grpc.StatusCode.INVALID_ARGUMENT


def test_a_submission_without_a_key_is_400(daemon: Daemon,
                                            stub: registrations_pb2_grpc.RegistrationServiceStub) -> None:
    with daemon.client() as client:
        answer = client.post("/registrations", json={"name": "keyless"})
    assert answer.status_code == 400 and answer.json()["pointer"] == "publicKey"
    assert grpc_code(stub.SubmitRegistration, pb.SubmitRegistrationRequest(name="keyless")) == \
        grpc.StatusCode.INVALID_ARGUMENT


# -- who may decide ----------------------------------------------------------------------------------------------

def test_only_an_admin_of_every_realm_lists_or_decides(
    daemon: Daemon, admin: httpx.Client, stub: registrations_pb2_grpc.RegistrationServiceStub, place: dict[str, str]
) -> None:
    made = submitted(daemon)
    callers = {
        "agent": register_agent(admin, "reg-agent"),
        "reviewer": register_agent(admin, "reg-reviewer", roles=["reviewer"]),
        "realm admin": register_agent(admin, "reg-realm-admin", roles=["admin"], scopeRealms=[place["realm"]]),
    }
    for who, agent in callers.items():
        token = daemon.token_for(agent)
        with daemon.client(token) as client:
            for answer in (client.get("/registrations"),
                           client.post(f"/registrations/{made['id']}/approve", json={}),
                           client.post(f"/registrations/{made['id']}/reject", json={"reason": "no"})):
                assert answer.status_code == 403, (who, answer.request.url, answer.text)
        for method, request in (
            (stub.ListRegistrations, pb.ListRegistrationsRequest()),
            (stub.ApproveRegistration, pb.ApproveRegistrationRequest(registration_id=made["id"])),
            (stub.RejectRegistration, pb.RejectRegistrationRequest(registration_id=made["id"], reason="no")),
        ):
            assert grpc_code(method, request, metadata=bearer(token)) == grpc.StatusCode.PERMISSION_DENIED, who
    with daemon.client() as anonymous:
        assert anonymous.get("/registrations").status_code == 401
        assert anonymous.post(f"/registrations/{made['id']}/approve", json={}).status_code == 401
    assert poll(daemon, made["id"]).json()["status"] == "Pending"
    assert agents_with_did(admin, made["did"]) == 0


def test_submissions_and_decisions_are_in_the_audit_log(daemon: Daemon, admin: httpx.Client) -> None:
    approved, rejected = submitted(daemon), submitted(daemon)
    agent_id = admin.post(f"/registrations/{approved['id']}/approve", json={}).json()["agentId"]
    assert admin.post(f"/registrations/{rejected['id']}/reject", json={"reason": "unknown vendor"}).status_code == 200

    submissions = {r["details"]["registrationId"]: r for r in audit_actions(admin, "registration.submitted")}
    assert submissions[approved["id"]]["actor"] == "registrant:127.0.0.1"
    assert submissions[approved["id"]]["details"]["did"] == approved["did"]
    approval = next(r for r in audit_actions(admin, "registration.approved")
                    if r["details"]["registrationId"] == approved["id"])
    assert (approval["actor"], approval["agentId"]) == ("operator", agent_id)
    assert approval["details"]["grantedCapabilities"] == ["file_access", "api_call"]
    rejection = next(r for r in audit_actions(admin, "registration.rejected")
                     if r["details"]["registrationId"] == rejected["id"])
    assert (rejection["actor"], rejection["details"]["reason"]) == ("operator", "unknown vendor")
    assert admin.get("/audit/verify").json()["valid"] is True


# -- the modes and limits (daemons of their own) -----------------------------------------------------------------

def test_past_the_hourly_allowance_per_source_submissions_are_429_with_retry_after(
    make_daemon: Callable[..., Daemon]
) -> None:
    limited = make_daemon(env={"VECTRA_REGISTRATION_RATE_PER_HOUR": "3"})
    key = new_key()
    # a submission the service refuses counts too (one the schema refuses never reaches the allowance)
    answers = [submit(limited, publicKey=key), submit(limited, publicKey=key), submit(limited)]
    assert [a.status_code for a in answers] == [201, 409, 201]
    refused = submit(limited)
    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    # the allowance is the address's, whichever surface it uses
    late = pb.SubmitRegistrationRequest(name="late", public_key=new_key())
    assert submit_over_grpc(limited, late) == grpc.StatusCode.RESOURCE_EXHAUSTED
    with limited.admin() as admin:
        assert admin.get("/registrations").json()["totalCount"] == 2


def test_the_token_mode_needs_a_configured_enrollment_token_kept_out_of_the_audit_log(
    make_daemon: Callable[..., Daemon]
) -> None:
    guarded = make_daemon(env={"VECTRA_REGISTRATION_MODE": "token",
                               "VECTRA_ENROLLMENT_TOKENS": f"another-token-0123456789,{ENROLLMENT_TOKEN}"})
    missing, wrong = submit(guarded), submit(guarded, token="wrong-token-0123456789abcdef")
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.headers["content-type"] == "application/problem+json"
    accepted = submit(guarded, token=ENROLLMENT_TOKEN)
    assert accepted.status_code == 201, accepted.text
    request = pb.SubmitRegistrationRequest(name="grpc-enrolled", public_key=new_key())
    assert submit_over_grpc(guarded, request) == grpc.StatusCode.UNAUTHENTICATED
    assert submit_over_grpc(guarded, request, metadata=[("vectra-enrollment-token", "wrong")]) == \
        grpc.StatusCode.UNAUTHENTICATED
    assert submit_over_grpc(guarded, request, metadata=[("vectra-enrollment-token", ENROLLMENT_TOKEN)]) == \
        grpc.StatusCode.OK
    with guarded.admin() as admin:
        refusals = audit_actions(admin, "auth.refused")
        causes = {r["reason"] for r in refusals if r["url"] in ("/registrations",
                                                               "RegistrationService.SubmitRegistration")}
        assert {"missing_enrollment_token", "bad_enrollment_token"} <= causes
        everything = admin.get("/audit", params={"pageSize": 100}).text
    assert ENROLLMENT_TOKEN not in everything and "wrong-token-0123456789abcdef" not in everything


def test_with_registration_off_submissions_are_403(make_daemon: Callable[..., Daemon]) -> None:
    closed = make_daemon(env={"VECTRA_REGISTRATION_MODE": "off"})
    refused = submit(closed)
    assert refused.status_code == 403, refused.text
    assert submit_over_grpc(closed, pb.SubmitRegistrationRequest(name="x", public_key=new_key())) == \
        grpc.StatusCode.PERMISSION_DENIED
    with closed.admin() as admin:
        assert admin.get("/registrations", params={"status": "all"}).json()["totalCount"] == 0


def test_past_the_pending_cap_submissions_are_429(make_daemon: Callable[..., Daemon]) -> None:
    capped = make_daemon(env={"VECTRA_MAX_PENDING_REGISTRATIONS": "2"})
    assert [submit(capped).status_code for _ in range(3)] == [201, 201, 429]
    with capped.admin() as admin:
        first = admin.get("/registrations").json()["items"][0]
        assert admin.post(f"/registrations/{first['id']}/reject", json={"reason": "full"}).status_code == 200
    assert submit(capped).status_code == 201  # a decision makes room
