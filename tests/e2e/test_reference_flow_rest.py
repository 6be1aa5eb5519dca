"""The reference documents' examples (000, 001, 002 in shared/reference), step by step over HTTP."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from tests.e2e.daemon import JWT_SECRET, Daemon
from tests.e2e.policy_documents import REFERENCE_BILLING_POLICY

SECRET = "my-strong-secret"
PROBLEM = "application/problem+json"


def _is_problem(answer: httpx.Response, status: int) -> bool:
    return (
        answer.status_code == status
        and answer.headers["content-type"].startswith(PROBLEM)
        and answer.json()["status"] == status
    )


@pytest.fixture(scope="module")
def billing(daemon: Daemon) -> dict:
    """The reference's ``billing-agent``, registered once for the read-only steps."""
    return daemon.register_agent("billing-agent", "team-finance", clientSecret=SECRET)


def test_register_returns_id_name_and_the_secret_once(daemon: Daemon, admin: httpx.Client) -> None:
    answer = admin.post("/agents", json={"name": "billing-agent", "ownerId": "team-finance", "clientSecret": SECRET})

    assert answer.status_code == 201
    body = answer.json()
    assert set(body) == {"id", "name", "clientSecret"}
    assert body["name"] == "billing-agent" and body["clientSecret"] == SECRET
    assert uuid.UUID(body["id"])
    assert answer.headers["location"] == f"/agents/{body['id']}"
    read = admin.get(f"/agents/{body['id']}")
    assert read.status_code == 200
    assert SECRET not in read.text and "clientSecret" not in read.json() and "secretHash" not in read.json()
    assert SECRET not in admin.get("/agents", params={"pageSize": 100}).text


def test_token_exchange_gives_an_hs256_jwt_valid_for_one_hour(daemon: Daemon, billing: dict) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    with daemon.client() as client:
        answer = client.post("/tokens", json={"agentId": billing["id"], "clientSecret": SECRET})

    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"token", "expiresAt"}
    header = jwt.get_unverified_header(body["token"])
    assert (header["alg"], header["typ"]) == ("HS256", "vectra+jwt")
    assert isinstance(header["kid"], str) and header["kid"]
    claims = jwt.decode(body["token"], JWT_SECRET, algorithms=["HS256"], audience="vectra", issuer="vectra")
    assert claims["sub"] == billing["id"] and claims["roles"] == ["agent"]
    assert {"iss", "aud", "sub", "iat", "nbf", "exp", "jti", "roles"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 3600 and claims["nbf"] == claims["iat"]
    assert before.timestamp() - 1 <= claims["iat"] <= datetime.now(UTC).timestamp() + 1
    assert body["expiresAt"].endswith("Z")
    assert datetime.fromisoformat(body["expiresAt"]) == datetime.fromtimestamp(claims["exp"], UTC)


def test_every_token_has_its_own_jti(daemon: Daemon, billing: dict) -> None:
    first, second = (jwt.decode(daemon.token_for(billing), options={"verify_signature": False}) for _ in range(2))
    assert first["jti"] != second["jti"]


def test_list_agents_pages_as_in_the_reference(daemon: Daemon, admin: httpx.Client, billing: dict) -> None:
    default = admin.get("/agents")
    assert default.status_code == 200
    page = default.json()
    assert set(page) == {"items", "page", "pageSize", "totalCount", "totalPages", "onlineCount"}
    assert page["page"] == 1 and page["pageSize"] == 25 and page["totalCount"] >= 1
    listed = next(a for a in page["items"] if a["id"] == billing["id"])
    assert {k: listed[k] for k in ("name", "ownerId", "status", "policyName", "trustScore")} == {
        "name": "billing-agent", "ownerId": "team-finance", "status": "Active", "policyName": None,
        "trustScore": 0.5,
    }

    for _ in range(3):
        daemon.register_agent("filler", "team-finance")
    total = admin.get("/agents").json()["totalCount"]
    pages = [admin.get("/agents", params={"page": n, "pageSize": 2}).json() for n in range(1, total // 2 + 2)]
    assert all(p["pageSize"] == 2 and p["totalCount"] == total and p["totalPages"] == -(-total // 2) for p in pages)
    ids = [a["id"] for p in pages for a in p["items"]]
    assert len(ids) == total == len(set(ids))
    assert admin.get("/agents", params={"page": total + 1, "pageSize": 2}).json()["items"] == []


def test_get_one_agent(admin: httpx.Client, billing: dict) -> None:
    answer = admin.get(f"/agents/{billing['id']}")

    assert answer.status_code == 200
    agent = answer.json()
    assert agent["id"] == billing["id"] and agent["name"] == "billing-agent" and agent["ownerId"] == "team-finance"
    assert agent["status"] == "Active" and agent["trustScore"] == 0.5 and agent["roles"] == ["agent"]
    assert datetime.fromisoformat(agent["createdAt"]) <= datetime.now(UTC)


def test_an_agent_reads_itself_but_not_the_list(daemon: Daemon, billing: dict) -> None:
    with daemon.client(daemon.token_for(billing)) as client:
        assert client.get(f"/agents/{billing['id']}").status_code == 200
        assert _is_problem(client.get("/agents"), 403)
        assert _is_problem(client.get(f"/agents/{uuid.uuid4()}"), 403)


def test_assign_policy_stores_the_name(daemon: Daemon, admin: httpx.Client) -> None:
    agent = daemon.register_agent()
    assert admin.put("/policies/billing-policy", json=REFERENCE_BILLING_POLICY).status_code in (200, 201)

    answer = admin.put(f"/agents/{agent['id']}/policy", json={"policyName": "billing-policy"})

    assert answer.status_code == 200
    assert answer.json()["policyName"] == "billing-policy"
    assert admin.get(f"/agents/{agent['id']}").json()["policyName"] == "billing-policy"


def test_assign_policy_refusals(daemon: Daemon, admin: httpx.Client) -> None:
    agent = daemon.register_agent()
    assert _is_problem(admin.put(f"/agents/{uuid.uuid4()}/policy", json={"policyName": "p"}), 404)
    assert _is_problem(admin.put("/agents/not-a-uuid/policy", json={"policyName": "p"}), 400)
    assert _is_problem(admin.put(f"/agents/{agent['id']}/policy", json={"policyName": ""}), 400)
    assert _is_problem(admin.put(f"/agents/{agent['id']}/policy", json={}), 400)
    with daemon.client(daemon.token_for(agent)) as client:
        assert _is_problem(client.put(f"/agents/{agent['id']}/policy", json={"policyName": "p"}), 403)
    assert admin.get(f"/agents/{agent['id']}").json()["policyName"] is None


def test_revoke_refuses_the_agent_at_once(daemon: Daemon, admin: httpx.Client) -> None:
    agent = daemon.register_agent()
    token = daemon.token_for(agent)
    with daemon.client(token) as client:
        assert client.get(f"/agents/{agent['id']}").status_code == 200

        revoked = admin.post(f"/agents/{agent['id']}/revoke")

        assert revoked.status_code == 200 and revoked.json()["status"] == "Revoked"
        refused = client.get(f"/agents/{agent['id']}")
        assert _is_problem(refused, 403) and refused.json()["reason"] == "revoked"
    with daemon.client() as client:
        exchange = client.post("/tokens", json={"agentId": agent["id"], "clientSecret": agent["clientSecret"]})
    assert _is_problem(exchange, 403)
    assert admin.get(f"/agents/{agent['id']}").json()["status"] == "Revoked"


def test_delete_makes_the_token_unauthenticated(daemon: Daemon, admin: httpx.Client) -> None:
    agent = daemon.register_agent()
    token = daemon.token_for(agent)
    with daemon.client(token) as client:  # used once, so the daemon has it among its verified tokens
        assert client.get(f"/agents/{agent['id']}").status_code == 200

    deleted = admin.delete(f"/agents/{agent['id']}")

    assert deleted.status_code == 200
    with daemon.client(token) as client:
        assert _is_problem(client.get(f"/agents/{agent['id']}"), 401)
    assert _is_problem(admin.delete(f"/agents/{agent['id']}"), 404)
    assert _is_problem(admin.get(f"/agents/{agent['id']}"), 404)
    with daemon.client() as client:
        exchange = client.post("/tokens", json={"agentId": agent["id"], "clientSecret": agent["clientSecret"]})
    assert _is_problem(exchange, 401)


def test_lift_quarantine_of_unknown_or_active_agents(daemon: Daemon, admin: httpx.Client) -> None:
    agent = daemon.register_agent()
    assert _is_problem(admin.post(f"/agents/{uuid.uuid4()}/lift-quarantine"), 404)
    assert _is_problem(admin.post("/agents/not-a-uuid/lift-quarantine"), 400)
    assert _is_problem(admin.post(f"/agents/{agent['id']}/lift-quarantine"), 409)
    assert admin.get(f"/agents/{agent['id']}").json()["status"] == "Active"


def test_lift_quarantine_restores_a_quarantined_agent(make_daemon: Callable[..., Daemon]) -> None:
    """No API quarantines an agent yet (trust does, later), so the test sets it in the database file."""
    own = make_daemon(env={"VECTRA_AGENT_CACHE_SECONDS": "0"})
    agent = own.register_agent()
    token = own.token_for(agent)
    with sqlite3.connect(own.data_dir / "vectra.db") as db:
        db.execute("UPDATE agents SET status = 'Quarantined', trust_score = 0.1 WHERE id = ?", (agent["id"],))

    with own.client(token) as client, own.admin() as admin:
        quarantined = client.get(f"/agents/{agent['id']}")
        assert _is_problem(quarantined, 403) and quarantined.json()["reason"] == "quarantined"

        lifted = admin.post(f"/agents/{agent['id']}/lift-quarantine")

        assert lifted.status_code == 200
        assert lifted.json()["status"] == "Active" and lifted.json()["trustScore"] == 0.5
        assert client.get(f"/agents/{agent['id']}").status_code == 200
        assert _is_problem(admin.post(f"/agents/{agent['id']}/lift-quarantine"), 409)


def test_unknown_agent_and_wrong_secret_get_the_same_401(daemon: Daemon, billing: dict) -> None:
    with daemon.client() as client:
        unknown = client.post("/tokens", json={"agentId": str(uuid.uuid4()), "clientSecret": SECRET})
        wrong = client.post("/tokens", json={"agentId": billing["id"], "clientSecret": "not-the-secret"})
        malformed_id = client.post("/tokens", json={"agentId": "billing-agent", "clientSecret": SECRET})

    assert _is_problem(unknown, 401)
    assert unknown.json() == wrong.json() == malformed_id.json()
    assert unknown.headers["www-authenticate"] == wrong.headers["www-authenticate"]


def test_tokens_take_the_agent_id_in_any_uuid_spelling(daemon: Daemon, billing: dict) -> None:
    """As ``GET /agents/{agentId}`` does: a UUID is the same id in upper case or without hyphens."""
    with daemon.client() as client:
        for spelling in (billing["id"].upper(), uuid.UUID(billing["id"]).hex, f"{{{billing['id']}}}"):
            answer = client.post("/tokens", json={"agentId": spelling, "clientSecret": SECRET})
            assert answer.status_code == 200, spelling
            assert jwt.decode(answer.json()["token"], options={"verify_signature": False})["sub"] == billing["id"]


@pytest.mark.parametrize("secret", ["x" * 11, "x" * 73, "é" * 12, "x" * 11 + "\t"])
def test_a_given_secret_must_be_12_to_72_printable_ascii_characters(daemon: Daemon, admin: httpx.Client,
                                                                    secret: str) -> None:
    before = admin.get("/agents").json()["totalCount"]

    answer = admin.post("/agents", json={"name": "short", "ownerId": "team", "clientSecret": secret})

    assert _is_problem(answer, 400)
    assert admin.get("/agents").json()["totalCount"] == before


@pytest.mark.parametrize("secret", ["x" * 12, " " + "~" * 70 + " ", "x" * 72])
def test_secrets_at_the_limits_are_accepted(daemon: Daemon, secret: str) -> None:
    agent = daemon.register_agent(clientSecret=secret)
    assert agent["clientSecret"] == secret
    assert daemon.token_for(agent)


def test_a_generated_secret_works_for_tokens(daemon: Daemon) -> None:
    agent = daemon.register_agent("no-secret-given", "team-finance")

    assert len(agent["clientSecret"].encode()) >= 32
    claims = jwt.decode(daemon.token_for(agent), JWT_SECRET, algorithms=["HS256"], audience="vectra")
    assert claims["sub"] == agent["id"]


def test_roles_are_granted_by_admins_only(daemon: Daemon, admin: httpx.Client) -> None:
    reviewer = daemon.register_agent("reviewer-agent", "team-ops", roles=["reviewer"])
    assert admin.get(f"/agents/{reviewer['id']}").json()["roles"] == ["reviewer"]
    claims = jwt.decode(daemon.token_for(reviewer), options={"verify_signature": False})
    assert claims["roles"] == ["reviewer"]
    plain = daemon.register_agent()
    before = admin.get("/agents").json()["totalCount"]

    for token in (daemon.token_for(reviewer), daemon.token_for(plain)):
        with daemon.client(token) as client:
            answer = client.post("/agents", json={"name": "x", "ownerId": "y", "roles": ["admin"]})
            assert _is_problem(answer, 403)
    assert admin.get("/agents").json()["totalCount"] == before
    assert _is_problem(admin.post("/agents", json={"name": "x", "ownerId": "y", "roles": ["root"]}), 400)


def test_management_needs_a_token(daemon: Daemon, billing: dict) -> None:
    with daemon.client() as client:
        for method, path in [("GET", "/agents"), ("GET", f"/agents/{billing['id']}"),
                             ("POST", f"/agents/{billing['id']}/revoke"), ("DELETE", f"/agents/{billing['id']}")]:
            answer = client.request(method, path)
            assert _is_problem(answer, 401), (method, path)
            assert answer.headers["www-authenticate"].startswith("Bearer")


def test_an_expired_token_is_refused(daemon: Daemon, billing: dict) -> None:
    header = jwt.get_unverified_header(daemon.token_for(billing))  # kid and typ of a real token
    past = datetime.now(UTC) - timedelta(hours=2)
    claims = {"iss": "vectra", "aud": "vectra", "sub": billing["id"], "iat": past, "nbf": past,
              "exp": past + timedelta(hours=1), "jti": str(uuid.uuid4()), "roles": ["agent"]}
    expired = jwt.encode(claims, JWT_SECRET, algorithm="HS256", headers=header)

    with daemon.client(expired) as client:
        refused = client.get(f"/agents/{billing['id']}")
    assert _is_problem(refused, 401) and refused.json()["detail"] == "token expired"
