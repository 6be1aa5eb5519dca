"""The audit log through the real daemon: management changes recorded, listed, verified, tampering found."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import datetime, timedelta, timezone
from typing import Any

import grpc
import httpx
import pytest
import rfc8785

from tests.e2e.daemon import Daemon, register_agent
from tests.e2e.policy_documents import policy
from vectra.grpc.generated.vectra.v1 import agents_pb2, agents_pb2_grpc, audit_pb2, audit_pb2_grpc

pytestmark = pytest.mark.e2e


def records_about(admin: httpx.Client, agent_id: str) -> list[dict[str, Any]]:
    answer = admin.get("/audit", params={"agentId": agent_id, "pageSize": 100})
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def metadata(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


@pytest.fixture
def audit_stub(daemon: Daemon) -> Iterator[audit_pb2_grpc.AuditServiceStub]:
    with daemon.channel() as channel:
        yield audit_pb2_grpc.AuditServiceStub(channel)


def test_each_management_change_over_rest_appends_one_record_naming_its_actor(
    daemon: Daemon, admin: httpx.Client
) -> None:
    operator_admin = register_agent(admin, "audit-admin", roles=["admin"])
    target = register_agent(admin, "audit-target")
    assert admin.put("/policies/billing", json=policy("billing")).status_code == 201
    with daemon.client(daemon.token_for(operator_admin)) as agent_admin:
        assert agent_admin.put(f"/agents/{target['id']}/policy", json={"policyName": "billing"}).status_code == 200
        assert agent_admin.post(f"/agents/{target['id']}/revoke").status_code == 200
    assert admin.post(f"/agents/{target['id']}/lift-quarantine").status_code == 409  # refused: nothing recorded
    assert admin.delete(f"/agents/{target['id']}").status_code == 200

    records = records_about(admin, target["id"])

    assert [(r["action"], r["actor"], r["source"]) for r in records] == [
        ("agent.deleted", "operator", "control_plane"),
        ("agent.revoked", operator_admin["id"], "control_plane"),
        ("agent.policy_assigned", operator_admin["id"], "control_plane"),
        ("agent.registered", "operator", "control_plane"),
    ]
    assert records[2]["details"] == {"policyName": "billing"}
    assert records[3]["details"] == {"name": "audit-target"}


def test_each_management_change_over_grpc_appends_one_record_naming_its_actor(
    daemon: Daemon, admin: httpx.Client
) -> None:
    with daemon.channel() as channel:
        agents = agents_pb2_grpc.AgentServiceStub(channel)
        md = metadata(daemon.admin_token)
        assert admin.put("/policies/p1", json=policy("p1")).status_code == 201
        created = agents.RegisterAgent(agents_pb2.RegisterAgentRequest(name="grpc-target", owner_id="o"), metadata=md)
        agents.AssignPolicy(agents_pb2.AssignPolicyRequest(agent_id=created.id, policy_name="p1"), metadata=md)
        agents.RevokeAgent(agents_pb2.RevokeAgentRequest(agent_id=created.id), metadata=md)
        agents.DeleteAgent(agents_pb2.DeleteAgentRequest(agent_id=created.id), metadata=md)

    records = records_about(admin, created.id)

    assert [(r["action"], r["actor"]) for r in records] == [
        ("agent.deleted", "operator"),
        ("agent.revoked", "operator"),
        ("agent.policy_assigned", "operator"),
        ("agent.registered", "operator"),
    ]


def test_a_client_can_check_a_listed_record_by_hashing_its_canonical_json(admin: httpx.Client) -> None:
    target = register_agent(admin, "hash-check")
    record = records_about(admin, target["id"])[0]
    unhashed = {k: v for k, v in record.items() if k != "hash"}
    digest = hashlib.sha256(rfc8785.dumps(unhashed)).hexdigest()

    assert hashlib.sha256((record["prevHash"] + digest).encode("ascii")).hexdigest() == record["hash"]
    assert record["schemaVersion"] == 2


def test_the_list_pages_newest_first_and_filters_by_agent_decision_and_time(admin: httpx.Client) -> None:
    target = register_agent(admin, "filtered")
    for _ in range(4):
        assert admin.post(f"/agents/{target['id']}/revoke").status_code == 200
    mine = records_about(admin, target["id"])  # 5 records, newest first
    ids = [r["id"] for r in mine]
    middle = mine[2]
    as_plus_two = (datetime.fromisoformat(middle["time"]).astimezone(timezone(timedelta(hours=2)))).isoformat()

    def page(**params: Any) -> dict[str, Any]:
        answer = admin.get("/audit", params={"agentId": target["id"], **params})
        assert answer.status_code == 200, answer.text
        return answer.json()

    assert ids == sorted(ids, reverse=True) and len(ids) == 5
    first, third = page(pageSize=2), page(pageSize=2, page=3)
    assert [r["id"] for r in first["items"]] == ids[:2]
    assert [r["id"] for r in third["items"]] == ids[4:]
    assert (first["totalCount"], first["page"], first["pageSize"]) == (5, 1, 2)
    assert [r["id"] for r in page(**{"from": as_plus_two})["items"]] == ids[:3]
    assert [r["id"] for r in page(to=as_plus_two)["items"]] == ids[2:]
    assert page(decision="Deny")["totalCount"] == 0  # management changes carry no decision
    assert all(r["agentId"] == target["id"] for r in page(pageSize=100)["items"])


@pytest.mark.parametrize(
    "params",
    [{"agentId": "not-a-uuid"}, {"from": "yesterday"}, {"to": "2026-01-01T00:00:00"}, {"decision": "a b"},
     {"pageSize": 1000}, {"page": 0}],
)
def test_bad_filters_are_a_400_problem(admin: httpx.Client, params: dict[str, Any]) -> None:
    answer = admin.get("/audit", params=params)

    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_agents_get_403_reviewers_read_and_anonymous_callers_get_401(daemon: Daemon, admin: httpx.Client) -> None:
    agent_token = daemon.token_for(register_agent(admin, "plain-agent"))
    reviewer_token = daemon.token_for(register_agent(admin, "reviewer", roles=["reviewer"]))

    for path in ("/audit", "/audit/verify"):
        with daemon.client(agent_token) as agent:
            assert agent.get(path).status_code == 403
        with daemon.client(reviewer_token) as reviewer:
            assert reviewer.get(path).status_code == 200
        with daemon.client() as anonymous:
            assert anonymous.get(path).status_code == 401
    with daemon.channel() as channel:
        stub = audit_pb2_grpc.AuditServiceStub(channel)
        for call, request in ((stub.ListAudit, audit_pb2.ListAuditRequest()),
                              (stub.VerifyAudit, audit_pb2.VerifyAuditRequest())):
            with pytest.raises(grpc.RpcError) as denied:
                call(request, metadata=metadata(agent_token))
            assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
            with pytest.raises(grpc.RpcError) as anonymous:
                call(request)
            assert anonymous.value.code() is grpc.StatusCode.UNAUTHENTICATED


def test_grpc_lists_and_verifies_the_same_records_as_rest(
    daemon: Daemon, admin: httpx.Client, audit_stub: audit_pb2_grpc.AuditServiceStub
) -> None:
    target = register_agent(admin, "parity")
    assert admin.put("/policies/parity-policy", json=policy("parity-policy")).status_code == 201
    assert admin.put(f"/agents/{target['id']}/policy", json={"policyName": "parity-policy"}).status_code == 200
    rest = records_about(admin, target["id"])
    listed = audit_stub.ListAudit(audit_pb2.ListAuditRequest(agent_id=target["id"], page_size=100),
                                  metadata=metadata(daemon.admin_token))

    as_grpc = [
        {"id": m.id, "time": m.time, "actor": m.actor, "agentId": m.agent_id, "action": m.action,
         "source": m.source, "details": dict(m.details), "schemaVersion": m.schema_version,
         "prevHash": m.prev_hash, "hash": m.hash}
        for m in listed.items
    ]
    assert as_grpc == [{k: r[k] for k in as_grpc[0]} for r in rest]
    assert listed.total_count == len(rest) == 2

    with pytest.raises(grpc.RpcError) as bad:
        audit_stub.ListAudit(audit_pb2.ListAuditRequest(from_time="yesterday"), metadata=metadata(daemon.admin_token))
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT

    verified = audit_stub.VerifyAudit(audit_pb2.VerifyAuditRequest(), metadata=metadata(daemon.admin_token))
    over_rest = admin.get("/audit/verify").json()
    assert verified.valid and over_rest["valid"]
    assert verified.count <= over_rest["count"]  # other tests may append in between, never remove
    assert not verified.HasField("first_broken_id") and over_rest["firstBrokenId"] is None


def test_verify_names_a_record_edited_in_the_database_while_the_daemon_runs(
    make_daemon: Callable[..., Daemon],
) -> None:
    running = make_daemon()
    with running.admin() as admin:
        targets = [register_agent(admin, f"tampered-{i}") for i in range(3)]
        for target in targets:
            assert admin.post(f"/agents/{target['id']}/revoke").status_code == 200
        before = admin.get("/audit/verify").json()
        victim = records_about(admin, targets[1]["id"])[0]  # the revocation of the second agent

        # a second connection, beside the daemon's (WAL)
        with closing(sqlite3.connect(running.data_dir / "vectra.db")) as conn, conn:
            conn.execute("UPDATE audit_log SET record = replace(record, 'agent.revoked', 'agent.registered') "
                         "WHERE id = ?", [victim["id"]])
        after = admin.get("/audit/verify").json()

    with running.channel() as channel:
        over_grpc = audit_pb2_grpc.AuditServiceStub(channel).VerifyAudit(
            audit_pb2.VerifyAuditRequest(), metadata=metadata(running.admin_token))

    assert before == {"valid": True, "count": 6, "headHash": before["headHash"], "firstBrokenId": None}
    assert (after["valid"], after["count"], after["firstBrokenId"]) == (False, 6, victim["id"])
    assert (over_grpc.valid, over_grpc.first_broken_id) == (False, victim["id"])


def test_the_chain_continues_across_a_restart(make_daemon: Callable[..., Daemon], tmp_path: Any) -> None:
    first = make_daemon(tmp_path / "kept")
    with first.admin() as admin:
        register_agent(admin, "before-restart")
    assert first.stop() == 0
    second = make_daemon(tmp_path / "kept")
    with second.admin() as admin:
        register_agent(admin, "after-restart")
        result = admin.get("/audit/verify").json()
        newest = admin.get("/audit", params={"pageSize": 1}).json()["items"][0]

    assert (result["valid"], result["count"], newest["id"]) == (True, 2, 2)
    assert result["headHash"] == newest["hash"]


def test_concurrent_changes_over_both_surfaces_keep_one_valid_gapless_chain(
    daemon: Daemon, admin: httpx.Client
) -> None:
    before = admin.get("/audit/verify").json()["count"]

    def over_rest(i: int) -> None:
        with daemon.admin() as client:
            assert client.post("/agents", json={"name": f"burst-{i}", "ownerId": "o"}).status_code == 201

    def over_grpc(i: int) -> None:
        with daemon.channel() as channel:
            agents_pb2_grpc.AgentServiceStub(channel).RegisterAgent(
                agents_pb2.RegisterAgentRequest(name=f"burst-grpc-{i}", owner_id="o"),
                metadata=metadata(daemon.admin_token))

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda i: over_rest(i) if i % 2 else over_grpc(i), range(24)))
    result = admin.get("/audit/verify").json()
    newest = admin.get("/audit", params={"pageSize": 100}).json()["items"]

    assert result["valid"] and result["firstBrokenId"] is None
    assert result["count"] >= before + 24
    assert [r["id"] for r in newest] == list(range(result["count"], result["count"] - len(newest), -1))


def test_a_change_whose_record_cannot_be_written_answers_503_is_not_made_and_the_chain_resumes_after(
    make_daemon: Callable[..., Daemon],
) -> None:
    """The audit table refuses inserts (a trigger added by a second connection): the caller is refused, and the
    change it asked for does not stand without its record."""
    running = make_daemon()
    database = running.data_dir / "vectra.db"
    with running.admin() as admin:
        existing = register_agent(admin, "before-failure")
        head = admin.get("/audit/verify").json()
        with closing(sqlite3.connect(database)) as conn, conn:
            conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'full'); END")
        refused = admin.post("/agents", json={"name": "unaudited", "ownerId": "o"})
        others = [admin.post(f"/agents/{existing['id']}/revoke"),
                  admin.put("/policies/unaudited", json=policy("unaudited")),
                  admin.delete(f"/agents/{existing['id']}")]
        during = admin.get("/audit/verify").json()
        names = [agent["name"] for agent in admin.get("/agents").json()["items"]]
        still = admin.get(f"/agents/{existing['id']}").json()
        policy_after = admin.get("/policies/unaudited")
        with closing(sqlite3.connect(database)) as conn, conn:
            conn.execute("DROP TRIGGER refuse")
        register_agent(admin, "after-failure")
        after = admin.get("/audit/verify").json()
        newest = admin.get("/audit", params={"pageSize": 1}).json()["items"][0]

    assert refused.status_code == 503
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert [answer.status_code for answer in others] == [503, 503, 503]
    assert names == ["before-failure"]
    assert still["status"] == "Active"
    assert policy_after.status_code == 404
    assert during == head
    assert (after["valid"], after["count"], newest["id"], newest["prevHash"]) == (True, 2, 2, head["headHash"])


def _policy_records(admin: httpx.Client, name: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(action, actor, details) of the policy records naming ``name``, newest first."""
    items = [item for action in ("policy.put", "policy.deleted")
             for item in admin.get("/audit", params={"action": action, "pageSize": 100}).json()["items"]]
    items.sort(key=lambda r: r["id"], reverse=True)
    return [(r["action"], r["actor"], r["details"]) for r in items if r["details"].get("name") == name]


def test_policy_puts_that_store_a_version_and_deletes_are_recorded(admin: httpx.Client) -> None:
    assert admin.put("/policies/audited", json=policy("audited")).status_code == 201
    assert admin.put("/policies/audited", json=policy("audited")).status_code == 200  # unchanged: no version
    assert admin.put("/policies/audited", json=policy("audited", default="Allow")).status_code == 200
    assert admin.delete("/policies/audited").status_code == 200

    assert _policy_records(admin, "audited") == [
        ("policy.deleted", "operator", {"name": "audited"}),
        ("policy.put", "operator", {"name": "audited", "version": 2, "created": False}),
        ("policy.put", "operator", {"name": "audited", "version": 1, "created": True}),
    ]
    assert admin.get("/audit/verify").json()["valid"] is True


def test_records_filter_by_action_and_source_on_both_surfaces(
    daemon: Daemon, admin: httpx.Client, audit_stub: audit_pb2_grpc.AuditServiceStub
) -> None:
    agent = register_agent(admin, "filtered-by-action")
    assert admin.post(f"/agents/{agent['id']}/revoke").status_code == 200
    rest = admin.get("/audit", params={"agentId": agent["id"], "action": "agent.revoked",
                                       "source": "control_plane"}).json()
    assert [r["action"] for r in rest["items"]] == ["agent.revoked"]
    listed = audit_stub.ListAudit(audit_pb2.ListAuditRequest(agent_id=agent["id"], action="agent.registered"),
                                  metadata=metadata(daemon.admin_token))
    assert [m.action for m in listed.items] == ["agent.registered"]

    assert admin.get("/audit", params={"source": "elsewhere"}).status_code == 400
    with pytest.raises(grpc.RpcError) as refused:
        audit_stub.ListAudit(audit_pb2.ListAuditRequest(source="elsewhere"), metadata=metadata(daemon.admin_token))
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
