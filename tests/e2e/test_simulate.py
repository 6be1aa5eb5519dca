"""POST /simulate and PolicyService.Simulate: the decision the gateway would take, with nothing recorded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from tests.e2e.daemon import ADMIN_TOKEN, Daemon, bearer
from tests.e2e.policy_documents import policy
from vectra.grpc.generated.vectra.v1 import policies_pb2, policies_pb2_grpc

pytestmark = pytest.mark.e2e

DELETE_ALL = {"method": "DELETE", "url": "https://api.example.com/users/all"}
READ_ONE = {"method": "GET", "url": "https://api.example.com/users/7"}
ALLOW_ALL = {"default": "Allow", "rules": []}


@pytest.fixture(scope="module")
def stub(daemon: Daemon) -> Iterator[policies_pb2_grpc.PolicyServiceStub]:
    with daemon.channel() as channel:
        yield policies_pb2_grpc.PolicyServiceStub(channel)


def agent_with_policy(daemon: Daemon, name: str, document: dict[str, Any]) -> dict[str, Any]:
    """A new agent (as :meth:`Daemon.register_agent` gives it) assigned a new policy called ``name``."""
    agent = daemon.register_agent(f"agent-of-{name}")
    with daemon.admin() as admin:
        answer = admin.put(f"/policies/{name}", json=policy(name, **document))
        assert answer.status_code in (200, 201), answer.text
        assert admin.put(f"/agents/{agent['id']}/policy", json={"policyName": name}).status_code == 200
    return agent


def simulate(client: httpx.Client, **body: Any) -> dict[str, Any]:
    answer = client.post("/simulate", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_deny_rule_decides_with_its_name_and_reason(daemon: Daemon, admin: httpx.Client) -> None:
    agent_id = agent_with_policy(daemon, "sim-billing", {
        "rules": [{"name": "block-delete", "priority": 100, "effect": "Deny", "reason": "never delete",
                   "conditions": [{"field": "input.method", "operator": "eq", "value": "DELETE"}]},
                  {"name": "reads", "effect": "Allow",
                   "conditions": [{"field": "input.method", "operator": "eq", "value": "GET"}]}],
    })["id"]
    denied = simulate(admin, agentId=agent_id, request=DELETE_ALL)
    assert (denied["effect"], denied["rule"], denied["reason"]) == ("Deny", "block-delete", "never delete")
    assert (denied["policyName"], denied["policyVersion"], denied["agentId"]) == ("sim-billing", 1, agent_id)

    allowed = simulate(admin, agentId=agent_id, request=READ_ONE)
    assert (allowed["effect"], allowed["rule"]) == ("Allow", "reads")
    assert allowed["riskScore"] < 0.2
    assert allowed["hitlThreshold"] == pytest.approx(0.8)
    assert allowed["trustScore"] == 0.5
    assert sum(allowed["riskFactors"].values()) == pytest.approx(allowed["riskScore"])
    assert {"method", "path", "bodySize", "timeOfDay", "lowTrust", "severity"} <= set(allowed["riskFactors"])

    fallthrough = simulate(admin, agentId=agent_id, request={"method": "PATCH", "url": "https://a.example/x"})
    assert (fallthrough["effect"], fallthrough["rule"]) == ("Deny", None)


def test_a_risky_delete_by_a_low_trust_agent_goes_to_a_human(admin: httpx.Client) -> None:
    decision = simulate(admin, agent={"trustScore": 0.1, "policy": {"name": "open-draft", **ALLOW_ALL}},
                        request=DELETE_ALL)
    assert decision["effect"] == "Hitl"
    assert decision["reason"] == f"High risk score: {decision['riskScore']:.2f}"
    assert decision["riskScore"] > decision["hitlThreshold"]
    assert decision["hitlThreshold"] == pytest.approx(0.8 + (0.1 - 0.5) * 0.4)
    assert (decision["policyName"], decision["policyVersion"]) == ("open-draft", None)

    neutral = simulate(admin, agent={"trustScore": 0.5, "policy": {"name": "open-draft", **ALLOW_ALL}},
                       request=DELETE_ALL)
    assert neutral["effect"] == "Allow" and neutral["riskScore"] < neutral["hitlThreshold"]


def test_the_policys_hitl_threshold_is_the_base_for_a_registered_agent(daemon: Daemon, admin: httpx.Client) -> None:
    agent_id = agent_with_policy(daemon, "sim-strict", {**ALLOW_ALL, "hitlThreshold": 0.5})["id"]
    decision = simulate(admin, agentId=agent_id, request=DELETE_ALL)
    assert decision["effect"] == "Hitl" and decision["reason"].startswith("High risk score: ")
    assert decision["hitlThreshold"] == pytest.approx(0.5)
    assert simulate(admin, agentId=agent_id, request=READ_ONE)["effect"] == "Allow"


def test_simulate_changes_nothing(daemon: Daemon, admin: httpx.Client) -> None:
    agent = agent_with_policy(daemon, "sim-quiet", ALLOW_ALL)
    agent_id = agent["id"]
    daemon.token_for(agent)
    before = admin.get(f"/agents/{agent_id}").json()
    history = admin.get("/policies/sim-quiet/versions").json()
    for request in (DELETE_ALL, READ_ONE):
        simulate(admin, agentId=agent_id, request=request)
    simulate(admin, agent={"trustScore": 0.0, "policyName": "sim-quiet"}, request=DELETE_ALL)
    after = admin.get(f"/agents/{agent_id}").json()
    assert (after["trustScore"], after["lastSeenAt"], after["status"]) == (
        before["trustScore"], before["lastSeenAt"], before["status"])
    assert admin.get("/policies/sim-quiet/versions").json() == history


def test_a_policy_change_decides_the_very_next_simulation(daemon: Daemon, admin: httpx.Client) -> None:
    agent_id = agent_with_policy(daemon, "sim-live", ALLOW_ALL)["id"]
    assert simulate(admin, agentId=agent_id, request=READ_ONE)["effect"] == "Allow"
    assert admin.put("/policies/sim-live", json=policy("sim-live", default="Deny", rules=[])).status_code == 200
    decision = simulate(admin, agentId=agent_id, request=READ_ONE)
    assert (decision["effect"], decision["policyVersion"]) == ("Deny", 2)


def test_agents_without_a_usable_policy_or_not_active_are_denied(daemon: Daemon, admin: httpx.Client) -> None:
    bare_id = daemon.register_agent("sim-no-policy")["id"]
    decision = simulate(admin, agentId=bare_id, request=READ_ONE)
    assert (decision["effect"], decision["reason"]) == ("Deny", "agent has no policy assigned")

    missing = simulate(admin, agent={"policyName": "never-stored"}, request=READ_ONE)
    assert (missing["effect"], missing["reason"]) == ("Deny", "policy 'never-stored' no longer exists")

    revoked_id = agent_with_policy(daemon, "sim-revoked", ALLOW_ALL)["id"]
    assert admin.post(f"/agents/{revoked_id}/revoke").status_code == 200
    revoked = simulate(admin, agentId=revoked_id, request=READ_ONE)
    assert (revoked["effect"], revoked["reason"]) == ("Deny", "agent is revoked")


def test_an_agent_may_simulate_only_itself(daemon: Daemon, admin: httpx.Client) -> None:
    own = agent_with_policy(daemon, "sim-self", ALLOW_ALL)
    own_id = own["id"]
    other_id = daemon.register_agent("sim-other")["id"]
    reviewer_token = daemon.token_for(daemon.register_agent("sim-reviewer", roles=["reviewer"]))
    with daemon.client(daemon.token_for(own)) as agent:
        assert simulate(agent, agentId=own_id, request=READ_ONE)["effect"] == "Allow"
        assert agent.post("/simulate", json={"agentId": other_id, "request": READ_ONE}).status_code == 403
        inline = {"agent": {"policy": {"name": "mine", **ALLOW_ALL}}, "request": READ_ONE}
        assert agent.post("/simulate", json=inline).status_code == 403
    with daemon.client(reviewer_token) as reviewer:
        assert simulate(reviewer, agentId=other_id, request=READ_ONE)["effect"] == "Deny"
    with daemon.client() as anonymous:
        assert anonymous.post("/simulate", json={"agentId": own_id, "request": READ_ONE}).status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "pointer"),
    [
        ({"request": READ_ONE}, 400, "agentId"),
        ({"agentId": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "agent": {}, "request": READ_ONE}, 400, "agentId"),
        ({"agentId": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "request": READ_ONE}, 404, None),
        ({"agent": {}, "request": {"method": "GET", "url": "/relative"}}, 400, "request.url"),
        ({"agent": {}, "request": {"method": "G E T", "url": "https://a.example/"}}, 400, "request.method"),
        ({"agent": {"policy": {"name": "d", "rules": [{"name": "r", "effect": "Allow", "conditions": [
            {"field": "input.method", "operator": "equals", "value": "GET"}]}]}}, "request": READ_ONE},
         400, "agent.policy.rules[0].conditions[0].operator"),
        ({"agent": {"policyName": "x", "policy": {"name": "x"}}, "request": READ_ONE}, 400, "agent.policyName"),
    ],
)
def test_bad_simulations_are_refused_with_a_problem(admin: httpx.Client, body: dict, status: int,
                                                    pointer: str | None) -> None:
    answer = admin.post("/simulate", json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    if pointer is not None:
        assert answer.json()["pointer"] == pointer


def test_grpc_simulate_decides_as_rest_does(
    daemon: Daemon, stub: policies_pb2_grpc.PolicyServiceStub, admin: httpx.Client
) -> None:
    agent_id = agent_with_policy(daemon, "sim-twin", {
        "rules": [{"name": "block-delete", "priority": 100, "effect": "Deny",
                   "conditions": [{"field": "input.method", "operator": "eq", "value": "DELETE"}]}],
        "default": "Allow",
    })["id"]
    metadata = bearer(ADMIN_TOKEN)
    for request in (DELETE_ALL, READ_ONE):
        rest = simulate(admin, agentId=agent_id, request=request)
        answer = stub.Simulate(policies_pb2.SimulateRequest(
            agent_id=agent_id, request=policies_pb2.SimulatedRequest(**request)), metadata=metadata)
        assert (answer.effect, answer.rule or None, answer.policy_name, answer.policy_version) == (
            rest["effect"], rest["rule"], rest["policyName"], rest["policyVersion"])
        assert answer.hitl_threshold == pytest.approx(rest["hitlThreshold"])

    risky = stub.Simulate(policies_pb2.SimulateRequest(
        agent=policies_pb2.SimulatedAgent(trust_score=0.1, policy=policies_pb2.Policy(name="draft", default="Allow")),
        request=policies_pb2.SimulatedRequest(**DELETE_ALL)), metadata=metadata)
    assert risky.effect == "Hitl" and risky.reason.startswith("High risk score: ")
    assert not risky.HasField("policy_version")
    assert set(risky.risk_factors) >= {"method", "path", "low_trust", "severity"}

    with pytest.raises(grpc.RpcError) as raised:
        stub.Simulate(policies_pb2.SimulateRequest(request=policies_pb2.SimulatedRequest(**READ_ONE)),
                      metadata=metadata)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_change_through_one_daemon_decides_the_next_simulation_on_another(
    make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    writer = make_daemon(shared)
    reader = make_daemon(shared)
    with writer.admin() as on_writer, reader.admin() as on_reader:
        agent_id = agent_with_policy(writer, "shared-live", ALLOW_ALL)["id"]
        assert simulate(on_reader, agentId=agent_id, request=READ_ONE)["effect"] == "Allow"
        assert on_writer.put("/policies/shared-live", json=policy("shared-live", rules=[])).status_code == 200
        decision = simulate(on_reader, agentId=agent_id, request=READ_ONE)
        assert (decision["effect"], decision["policyVersion"]) == ("Deny", 2)


def test_the_configured_hitl_base_and_trust_factor_set_the_threshold(make_daemon: Callable[..., Daemon]) -> None:
    strict = make_daemon(env={"VECTRA_HITL_THRESHOLD": "0.6", "VECTRA_HITL_TRUST_FACTOR": "0"})
    with strict.admin() as admin:
        decision = simulate(admin, agent={"trustScore": 0.9, "policy": {"name": "open", **ALLOW_ALL}},
                            request=READ_ONE)
    assert decision["hitlThreshold"] == pytest.approx(0.6)  # trust moves nothing when the factor is 0
