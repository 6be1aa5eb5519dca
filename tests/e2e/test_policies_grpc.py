"""The Policies API over gRPC, against the real daemon, held against its REST twin."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.e2e.daemon import ADMIN_TOKEN, Daemon, bearer
from tests.e2e.policy_documents import (
    BAD_OPERATOR_POINTER,
    BAD_OPERATOR_POLICY,
    REFERENCE_BILLING_POLICY,
    message,
    policy,
)
from vectra.grpc.generated.vectra.v1 import agents_pb2, agents_pb2_grpc, policies_pb2, policies_pb2_grpc

pytestmark = pytest.mark.e2e

ADMIN = bearer(ADMIN_TOKEN)


@pytest.fixture(scope="module")
def channel(daemon: Daemon) -> Iterator[grpc.Channel]:
    with daemon.channel() as open_channel:
        yield open_channel


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> policies_pb2_grpc.PolicyServiceStub:
    return policies_pb2_grpc.PolicyServiceStub(channel)


def code_of(call, *args, **kwargs) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call(*args, **kwargs)
    return raised.value.code(), raised.value.details()


def test_reference_policy_put_over_grpc_reads_the_same_over_rest(
    stub: policies_pb2_grpc.PolicyServiceStub, admin: httpx.Client
) -> None:
    answer = stub.PutPolicy(policies_pb2.PutPolicyRequest(name="billing-policy",
                                                          document=message(REFERENCE_BILLING_POLICY)), metadata=ADMIN)
    assert (answer.created, answer.changed, answer.policy.version) == (True, True, 1)

    rest = admin.get("/policies/billing-policy").json()
    for key, value in REFERENCE_BILLING_POLICY.items():
        assert rest[key] == value, key
    # The same document put over REST is unchanged: both surfaces store one canonical form.
    assert admin.put("/policies/billing-policy", json=REFERENCE_BILLING_POLICY).json()["version"] == 1

    got = stub.GetPolicy(policies_pb2.GetPolicyRequest(name="billing-policy"), metadata=ADMIN)
    rule = got.rules[0]
    assert (got.name, got.owner, got.default, got.rule_count) == ("billing-policy", "team-finance", "Deny", 1)
    assert (rule.name, rule.priority, rule.effect) == ("block-delete", 100, "Deny")
    leaf = rule.conditions[0].field
    assert (leaf.field, leaf.operator, leaf.value.string_value) == ("input.method", "eq", "DELETE")

    listed = stub.ListPolicies(policies_pb2.ListPoliciesRequest(), metadata=ADMIN)
    summary = next(item for item in listed.items if item.name == "billing-policy")
    assert (summary.description, summary.rule_count, listed.page, listed.page_size) == (
        "Governs the billing agent", 1, 1, 25)


def test_versions_are_kept_listed_and_readable_over_grpc(stub: policies_pb2_grpc.PolicyServiceStub) -> None:
    for description in ("one", "two", "two"):
        stub.PutPolicy(policies_pb2.PutPolicyRequest(
            name="grpc-history", document=message(policy("grpc-history", description=description))), metadata=ADMIN)
    history = stub.ListPolicyVersions(policies_pb2.ListPolicyVersionsRequest(name="grpc-history"), metadata=ADMIN)
    assert [v.version for v in history.items] == [2, 1]
    assert history.items[0].created_by == "operator"
    old = stub.GetPolicy(policies_pb2.GetPolicyRequest(name="grpc-history", version=1), metadata=ADMIN)
    assert (old.description, old.current) == ("one", False)
    assert code_of(stub.GetPolicy, policies_pb2.GetPolicyRequest(name="grpc-history", version=7),
                   metadata=ADMIN)[0] == grpc.StatusCode.NOT_FOUND


def test_validation_errors_carry_the_same_pointer_on_both_surfaces(
    stub: policies_pb2_grpc.PolicyServiceStub, admin: httpx.Client
) -> None:
    rest = admin.post("/policies/validate", json=BAD_OPERATOR_POLICY).json()
    grpc_answer = stub.ValidatePolicy(policies_pb2.ValidatePolicyRequest(document=message(BAD_OPERATOR_POLICY)),
                                      metadata=ADMIN)
    assert grpc_answer.valid is False
    assert [(e.pointer, e.message) for e in grpc_answer.errors] == [
        (e["pointer"], e["message"]) for e in rest["errors"]
    ] == [(BAD_OPERATOR_POINTER, "unknown operator 'equals'")]

    code, details = code_of(stub.PutPolicy, policies_pb2.PutPolicyRequest(
        name="bad-operator", document=message(BAD_OPERATOR_POLICY)), metadata=ADMIN)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details == admin.put("/policies/bad-operator", json=BAD_OPERATOR_POLICY).json()["detail"]
    assert details.startswith(BAD_OPERATOR_POINTER + ":")

    code, details = code_of(stub.PutPolicy, policies_pb2.PutPolicyRequest(name="no-document"), metadata=ADMIN)
    assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, "a policy document is required")

    nameless = policies_pb2.Policy(rules=[policies_pb2.Rule(effect="Allow")])
    grpc_missing = stub.ValidatePolicy(policies_pb2.ValidatePolicyRequest(document=nameless), metadata=ADMIN)
    rest_missing = admin.post("/policies/validate", json={"rules": [{"effect": "Allow", "priority": 0}]}).json()
    assert [e.pointer for e in grpc_missing.errors] == [e["pointer"] for e in rest_missing["errors"]] == ["name"]


def test_delete_is_refused_while_in_use_and_unknown_assignments_are_not_found(
    daemon: Daemon, stub: policies_pb2_grpc.PolicyServiceStub, channel: grpc.Channel
) -> None:
    stub.PutPolicy(policies_pb2.PutPolicyRequest(name="grpc-in-use", document=message(policy("grpc-in-use"))),
                   metadata=ADMIN)
    agents = agents_pb2_grpc.AgentServiceStub(channel)
    agent_id = daemon.register_agent("grpc-user")["id"]
    agents.AssignPolicy(agents_pb2.AssignPolicyRequest(agent_id=agent_id, policy_name="grpc-in-use"), metadata=ADMIN)

    code, _ = code_of(stub.DeletePolicy, policies_pb2.DeletePolicyRequest(name="grpc-in-use"), metadata=ADMIN)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    code, _ = code_of(agents.AssignPolicy, agents_pb2.AssignPolicyRequest(agent_id=agent_id, policy_name="nope"),
                      metadata=ADMIN)
    assert code == grpc.StatusCode.NOT_FOUND

    agents.DeleteAgent(agents_pb2.DeleteAgentRequest(agent_id=agent_id), metadata=ADMIN)
    stub.DeletePolicy(policies_pb2.DeletePolicyRequest(name="grpc-in-use"), metadata=ADMIN)
    code, _ = code_of(stub.GetPolicy, policies_pb2.GetPolicyRequest(name="grpc-in-use"), metadata=ADMIN)
    assert code == grpc.StatusCode.NOT_FOUND


def test_agent_tokens_are_refused_and_reviewers_read(
    daemon: Daemon, stub: policies_pb2_grpc.PolicyServiceStub
) -> None:
    agent = bearer(daemon.token_for(daemon.register_agent("grpc-plain-agent")))
    reviewer = bearer(daemon.token_for(daemon.register_agent("grpc-reviewer", roles=["reviewer"])))
    document = message(policy("grpc-guarded"))
    put = policies_pb2.PutPolicyRequest(name="grpc-guarded", document=document)

    assert code_of(stub.PutPolicy, put, metadata=agent)[0] == grpc.StatusCode.PERMISSION_DENIED
    assert code_of(stub.ListPolicies, policies_pb2.ListPoliciesRequest(), metadata=agent)[0] \
        == grpc.StatusCode.PERMISSION_DENIED
    assert code_of(stub.PutPolicy, put, metadata=reviewer)[0] == grpc.StatusCode.PERMISSION_DENIED
    assert code_of(stub.PutPolicy, put)[0] == grpc.StatusCode.UNAUTHENTICATED

    stub.PutPolicy(put, metadata=ADMIN)
    assert code_of(stub.DeletePolicy, policies_pb2.DeletePolicyRequest(name="grpc-guarded"), metadata=agent)[0] \
        == grpc.StatusCode.PERMISSION_DENIED
    assert stub.GetPolicy(policies_pb2.GetPolicyRequest(name="grpc-guarded"), metadata=reviewer).rule_count == 1
    assert stub.ValidatePolicy(policies_pb2.ValidatePolicyRequest(document=document), metadata=reviewer).valid


def test_policy_service_is_reflected_and_reports_serving(channel: grpc.Channel) -> None:
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {service.name for answer in answers for service in answer.list_services_response.service}
    assert "vectra.v1.PolicyService" in names

    health = health_pb2_grpc.HealthStub(channel)
    status = health.Check(health_pb2.HealthCheckRequest(service="vectra.v1.PolicyService")).status
    assert status == health_pb2.HealthCheckResponse.SERVING
