"""Realm isolation: an admin or reviewer limited to a realm sees and manages only that realm's agents, their
policy assignments and parked requests; everything of another realm (or of none) answers 404, on both surfaces,
and is left as it was. What changes every realm (realms, policy documents) needs an admin of every realm."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import httpx
import pytest

from tests.e2e.daemon import Daemon, bearer
from tests.e2e.proxy_agents import governed
from vectra.grpc.generated.vectra.v1 import (
    agents_pb2,
    agents_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    hitl_pb2,
    hitl_pb2_grpc,
    policies_pb2,
    policies_pb2_grpc,
    realms_pb2,
    realms_pb2_grpc,
)


class World:
    """Realms eng and ops; an agent in each and one in none, each with a parked request; an admin and a reviewer
    limited to eng."""

    def __init__(self, daemon: Daemon, admin: httpx.Client) -> None:
        self.realms = {slug: admin.post("/realms", json={"name": slug.title(), "slug": slug}).json()
                       for slug in ("eng", "ops")}
        assert admin.put("/policies/governed", json=governed("governed")).status_code == 201
        self.agents = {key: self._agent(daemon, admin, key, realm) for key, realm in
                       (("eng", "eng"), ("ops", "ops"), ("none", None))}
        self.parked = {key: self._park(daemon, agent) for key, agent in self.agents.items()}
        self.admin_token = self._overseer(daemon, admin, "eng-admin", "admin")
        self.reviewer_token = self._overseer(daemon, admin, "eng-reviewer", "reviewer")
        # overseers living in eng whose oversight reaches past it: one of every realm, one of ops
        for key, scope in (("global-admin", []), ("ops-admin", ["ops"])):
            made = admin.post("/agents", json={"name": key, "ownerId": "security", "roles": ["admin"],
                                               "realm": "eng", "scopeRealms": scope})
            assert made.status_code == 201, made.text
            self.agents[key] = made.json()

    @staticmethod
    def _agent(daemon: Daemon, admin: httpx.Client, key: str, realm: str | None) -> dict[str, Any]:
        body = {"name": f"agent-{key}", "ownerId": "team", **({"realm": realm} if realm else {})}
        agent = admin.post("/agents", json=body).json()
        assert admin.put(f"/agents/{agent['id']}/policy", json={"policyName": "governed"}).status_code == 200
        return agent

    @staticmethod
    def _park(daemon: Daemon, agent: dict[str, Any]) -> str:
        with daemon.client(daemon.token_for(agent)) as client:
            answer = client.post("/proxy/http://127.0.0.1:9/review/x", content=b"{}")
        assert answer.status_code == 202, answer.text
        return answer.json()["id"]

    @staticmethod
    def _overseer(daemon: Daemon, admin: httpx.Client, name: str, role: str) -> str:
        record = admin.post("/agents", json={"name": name, "ownerId": "security", "roles": [role],
                                             "scopeRealms": ["eng"]})
        assert record.status_code == 201, record.text
        return daemon.token_for(record.json())

    def id(self, key: str) -> str:
        return self.agents[key]["id"]


@pytest.fixture(scope="module")
def world(daemon: Daemon) -> World:
    with daemon.admin() as admin:
        return World(daemon, admin)


@pytest.fixture
def eng_admin(daemon: Daemon, world: World) -> Iterator[httpx.Client]:
    with daemon.client(world.admin_token) as client:
        yield client


@pytest.fixture
def eng_reviewer(daemon: Daemon, world: World) -> Iterator[httpx.Client]:
    with daemon.client(world.reviewer_token) as client:
        yield client


@pytest.fixture
def unchanged(admin: httpx.Client, world: World) -> Iterator[None]:
    """Everything of the other realms reads the same after the test as before it."""
    def snapshot() -> Any:
        agents = [admin.get(f"/agents/{world.id(key)}").json()
                  for key in ("ops", "none", "global-admin", "ops-admin")]
        parked = [admin.get(f"/hitl/{world.parked[key]}").json()["status"] for key in ("ops", "none")]
        realms = admin.get("/realms").json()["items"]
        return agents, parked, realms, admin.get("/policies/governed").json()["version"]

    before = snapshot()
    yield
    assert snapshot() == before


def test_a_realm_admin_lists_only_its_realms_agents(world: World, eng_admin: httpx.Client,
                                                     admin: httpx.Client) -> None:
    listed = eng_admin.get("/agents").json()
    everything = admin.get("/agents").json()

    assert [a["id"] for a in listed["items"]] == [world.id("eng")]
    assert listed["totalCount"] == 1
    assert {world.id("ops"), world.id("none"), world.id("eng")} <= {a["id"] for a in everything["items"]}
    assert eng_admin.get("/agents", params={"realm": "ops"}).json()["items"] == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/agents/{id}", None),
        ("PATCH", "/agents/{id}", {"scopeRealms": ["eng"]}),
        ("PATCH", "/agents/{id}", {"description": "demoted"}),
        ("POST", "/agents/{id}/revoke", None),
        ("DELETE", "/agents/{id}", None),
    ],
)
@pytest.mark.parametrize("overseer", ["global-admin", "ops-admin"])
def test_an_overseer_reaching_past_the_realm_is_404_though_it_lives_there(
    world: World, eng_admin: httpx.Client, unchanged: None, method: str, path: str, body: dict | None,
    overseer: str,
) -> None:
    answer = eng_admin.request(method, path.format(id=world.id(overseer)), json=body)

    assert answer.status_code == 404, answer.text


def test_another_realm_is_404_to_change_and_its_own_403(world: World, eng_admin: httpx.Client,
                                                       unchanged: None) -> None:
    assert eng_admin.put("/realms/ops", json={"name": "Mine"}).status_code == 404
    assert eng_admin.delete(f"/realms/{world.realms['ops']['id']}").status_code == 404
    assert eng_admin.put("/realms/eng", json={"name": "Mine"}).status_code == 403
    assert eng_admin.delete("/realms/eng").status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/agents/{id}", None),
        ("PATCH", "/agents/{id}", {"capabilities": ["api_call"]}),
        ("PUT", "/agents/{id}/policy", {"policyName": "governed"}),
        ("POST", "/agents/{id}/revoke", None),
        ("POST", "/agents/{id}/lift-quarantine", None),
        ("DELETE", "/agents/{id}", None),
        ("GET", "/hitl/{parked}", None),
        ("POST", "/hitl/{parked}/approve", None),
        ("POST", "/hitl/{parked}/deny", None),
    ],
)
@pytest.mark.parametrize("other", ["ops", "none"])
def test_another_realms_resource_is_404_and_stays_as_it_was(
    world: World, eng_admin: httpx.Client, unchanged: None, method: str, path: str, body: dict | None, other: str,
) -> None:
    url = path.format(id=world.id(other), parked=world.parked[other])

    answer = eng_admin.request(method, url, json=body)

    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


def test_a_realm_reviewer_sees_and_decides_only_its_realms_requests(world: World, eng_reviewer: httpx.Client,
                                                                     admin: httpx.Client) -> None:
    listed = eng_reviewer.get("/hitl").json()["items"]
    assert [item["id"] for item in listed] == [world.parked["eng"]]
    assert eng_reviewer.get("/agents").json()["totalCount"] == 1
    assert eng_reviewer.post(f"/hitl/{world.parked['ops']}/deny").status_code == 404

    denied = eng_reviewer.post(f"/hitl/{world.parked['eng']}/deny", json={"comment": "not today"})

    assert denied.status_code == 200, denied.text
    assert admin.get(f"/hitl/{world.parked['ops']}").json()["status"] == "Pending"


def test_a_realm_admin_reads_only_its_realms_audit_records(world: World, eng_admin: httpx.Client) -> None:
    records = eng_admin.get("/audit", params={"pageSize": 100}).json()["items"]

    assert records and {r["agentId"] for r in records} == {world.id("eng")}
    assert eng_admin.get("/audit", params={"agentId": world.id("ops")}).json()["items"] == []


def test_a_realm_admin_manages_its_own_realms_agents(world: World, eng_admin: httpx.Client) -> None:
    made = eng_admin.post("/agents", json={"name": "eng-new", "ownerId": "team", "realm": "eng"})
    assert made.status_code == 201, made.text
    agent_id = made.json()["id"]

    assert eng_admin.put(f"/agents/{agent_id}/policy", json={"policyName": "governed"}).status_code == 200
    assert eng_admin.patch(f"/agents/{agent_id}", json={"capabilities": ["api_call"]}).json()["capabilities"] \
        == ["api_call"]
    assert eng_admin.post(f"/agents/{agent_id}/revoke").json()["status"] == "Revoked"
    assert eng_admin.delete(f"/agents/{agent_id}").status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "x", "ownerId": "t"}, 400),  # an agent of no realm: outside its reach
        ({"name": "x", "ownerId": "t", "realm": "ops"}, 404),
        ({"name": "x", "ownerId": "t", "realm": "eng", "roles": ["admin"]}, 400),  # an admin of every realm
        ({"name": "x", "ownerId": "t", "realm": "eng", "roles": ["admin"], "scopeRealms": ["ops"]}, 404),
    ],
)
def test_a_realm_admin_grants_nothing_beyond_its_realms(world: World, eng_admin: httpx.Client, admin: httpx.Client,
                                                        unchanged: None, body: dict, status: int) -> None:
    before = admin.get("/agents").json()["totalCount"]

    assert eng_admin.post("/agents", json=body).status_code == status
    assert admin.get("/agents").json()["totalCount"] == before


def test_a_realm_admin_cant_move_an_agent_out_of_its_realms(world: World, eng_admin: httpx.Client,
                                                            admin: httpx.Client) -> None:
    assert eng_admin.patch(f"/agents/{world.id('eng')}", json={"realm": "ops"}).status_code == 404
    assert eng_admin.patch(f"/agents/{world.id('eng')}", json={"realm": None}).status_code == 400
    assert admin.get(f"/agents/{world.id('eng')}").json()["realm"]["slug"] == "eng"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/realms", {"name": "New", "slug": "new"}),
        ("PUT", "/realms/eng", {"name": "Renamed"}),
        ("DELETE", "/realms/eng", None),
        ("PUT", "/policies/governed", {"name": "governed", "default": "Allow"}),
        ("DELETE", "/policies/governed", None),
    ],
)
def test_what_changes_every_realm_needs_an_admin_of_every_realm(
    world: World, eng_admin: httpx.Client, unchanged: None, method: str, path: str, body: dict | None,
) -> None:
    answer = eng_admin.request(method, path, json=body)

    assert answer.status_code == 403, answer.text
    assert "every realm" in answer.json()["detail"]


def test_a_realm_admin_lists_only_its_realms(world: World, eng_admin: httpx.Client, admin: httpx.Client) -> None:
    assert [r["slug"] for r in eng_admin.get("/realms").json()["items"]] == ["eng"]
    assert eng_admin.get("/realms/ops").status_code == 404
    assert eng_admin.get(f"/realms/{world.realms['ops']['id']}").status_code == 404
    assert eng_admin.get("/realms/eng").json()["id"] == world.realms["eng"]["id"]
    assert {"eng", "ops"} <= {r["slug"] for r in admin.get("/realms").json()["items"]}


def test_simulating_another_realms_agent_is_404(world: World, eng_admin: httpx.Client) -> None:
    request = {"method": "GET", "url": "https://api.example.com/x"}

    assert eng_admin.post("/simulate", json={"agentId": world.id("ops"), "request": request}).status_code == 404
    assert eng_admin.post("/simulate", json={"agentId": world.id("eng"), "request": request}).status_code == 200


# -- gRPC -----------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def channel(daemon: Daemon) -> Iterator[grpc.Channel]:
    with daemon.channel() as opened:
        yield opened


def _refused(call: Callable[..., Any], request: Any, token: str) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as refused:
        call(request, metadata=bearer(token))
    return refused.value.code()


def test_grpc_lists_only_the_realms_agents_requests_realms_and_records(world: World, channel: grpc.Channel) -> None:
    token = world.admin_token
    agents = agents_pb2_grpc.AgentServiceStub(channel).ListAgents(agents_pb2.ListAgentsRequest(),
                                                                   metadata=bearer(token))
    parked = hitl_pb2_grpc.HitlServiceStub(channel).ListHitlRequests(hitl_pb2.ListHitlRequestsRequest(),
                                                                     metadata=bearer(token))
    realms = realms_pb2_grpc.RealmServiceStub(channel).ListRealms(realms_pb2.ListRealmsRequest(),
                                                                  metadata=bearer(token))
    records = audit_pb2_grpc.AuditServiceStub(channel).ListAudit(audit_pb2.ListAuditRequest(page_size=100),
                                                                 metadata=bearer(token))

    assert [a.id for a in agents.items] == [world.id("eng")]
    assert world.parked["ops"] not in [p.id for p in parked.items]
    assert world.parked["none"] not in [p.id for p in parked.items]
    assert [r.slug for r in realms.items] == ["eng"]
    assert records.items and {r.agent_id for r in records.items} == {world.id("eng")}


@pytest.mark.parametrize("other", ["ops", "none"])
def test_grpc_answers_not_found_for_another_realms_resources(world: World, channel: grpc.Channel,
                                                             admin: httpx.Client, other: str) -> None:
    agents = agents_pb2_grpc.AgentServiceStub(channel)
    hitl = hitl_pb2_grpc.HitlServiceStub(channel)
    policies = policies_pb2_grpc.PolicyServiceStub(channel)
    token, agent_id, parked = world.admin_token, world.id(other), world.parked[other]
    before = admin.get(f"/agents/{agent_id}").json()
    calls = [
        (agents.GetAgent, agents_pb2.GetAgentRequest(agent_id=agent_id)),
        (agents.UpdateAgent, agents_pb2.UpdateAgentRequest(agent_id=agent_id, version="9")),
        (agents.AssignPolicy, agents_pb2.AssignPolicyRequest(agent_id=agent_id, policy_name="governed")),
        (agents.RevokeAgent, agents_pb2.RevokeAgentRequest(agent_id=agent_id)),
        (agents.LiftQuarantine, agents_pb2.LiftQuarantineRequest(agent_id=agent_id)),
        (agents.DeleteAgent, agents_pb2.DeleteAgentRequest(agent_id=agent_id)),
        (hitl.GetHitlRequest, hitl_pb2.GetHitlRequestRequest(id=parked)),
        (hitl.ApproveHitlRequest, hitl_pb2.ApproveHitlRequestRequest(id=parked)),
        (hitl.DenyHitlRequest, hitl_pb2.DenyHitlRequestRequest(id=parked)),
        (policies.Simulate, policies_pb2.SimulateRequest(
            agent_id=agent_id, request=policies_pb2.SimulatedRequest(method="GET", url="https://a.example/"))),
    ]

    codes = [_refused(call, request, token) for call, request in calls]

    assert codes == [grpc.StatusCode.NOT_FOUND] * len(calls)
    assert admin.get(f"/agents/{agent_id}").json() == before
    assert admin.get(f"/hitl/{parked}").json()["status"] == "Pending"


def test_grpc_realm_changes_need_an_admin_of_every_realm(world: World, channel: grpc.Channel,
                                                        unchanged: None) -> None:
    realms = realms_pb2_grpc.RealmServiceStub(channel)
    policies = policies_pb2_grpc.PolicyServiceStub(channel)
    token, denied, missing = world.admin_token, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND
    document = policies_pb2.Policy(name="governed", default="Allow")

    assert _refused(realms.CreateRealm, realms_pb2.CreateRealmRequest(name="New", slug="new"), token) is denied
    assert _refused(realms.GetRealm, realms_pb2.GetRealmRequest(realm_id="ops"), token) is missing
    assert _refused(realms.UpdateRealm, realms_pb2.UpdateRealmRequest(realm_id="ops", name="x"), token) is missing
    assert _refused(realms.DeleteRealm, realms_pb2.DeleteRealmRequest(realm_id="ops"), token) is missing
    assert _refused(realms.UpdateRealm, realms_pb2.UpdateRealmRequest(realm_id="eng", name="x"), token) is denied
    assert _refused(realms.DeleteRealm, realms_pb2.DeleteRealmRequest(realm_id="eng"), token) is denied
    assert _refused(policies.PutPolicy, policies_pb2.PutPolicyRequest(name="governed", document=document),
                    token) is denied
    assert _refused(policies.DeletePolicy, policies_pb2.DeletePolicyRequest(name="governed"), token) is denied


def test_grpc_a_realm_reviewer_and_admin_stay_within_the_realm(world: World, channel: grpc.Channel,
                                                               admin: httpx.Client) -> None:
    agents = agents_pb2_grpc.AgentServiceStub(channel)
    before = admin.get("/agents").json()["totalCount"]

    listed = agents.ListAgents(agents_pb2.ListAgentsRequest(), metadata=bearer(world.reviewer_token))
    outside = _refused(agents.RegisterAgent, agents_pb2.RegisterAgentRequest(name="x", owner_id="t", realm="ops"),
                       world.admin_token)
    no_realm = _refused(agents.RegisterAgent, agents_pb2.RegisterAgentRequest(name="x", owner_id="t"),
                        world.admin_token)
    overseer = _refused(agents.UpdateAgent, agents_pb2.UpdateAgentRequest(
        agent_id=world.id("global-admin"), scope_realms=agents_pb2.StringList(values=["eng"])), world.admin_token)

    assert [a.id for a in listed.items] == [world.id("eng")]
    assert (outside, no_realm, overseer) == (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT,
                                             grpc.StatusCode.NOT_FOUND)
    assert admin.get("/agents").json()["totalCount"] == before
