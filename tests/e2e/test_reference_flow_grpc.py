"""The reference flow through the generated gRPC stubs, with ``authorization: Bearer`` metadata."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import grpc
import jwt
import pytest

from tests.e2e.daemon import ADMIN_TOKEN, JWT_SECRET, Daemon, Stubs, bearer
from tests.e2e.policy_documents import REFERENCE_BILLING_POLICY, message
from vectra.grpc.generated.vectra.v1 import agents_pb2, policies_pb2, tokens_pb2

SECRET = "my-strong-secret"
ADMIN = bearer(ADMIN_TOKEN)
Code = grpc.StatusCode


def _code(call: Callable[[], object]) -> grpc.StatusCode:
    """The status code a call fails with (OK when it succeeds)."""
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code()
    return Code.OK


def _register(stubs: Stubs, name: str = "billing-agent", **fields: object) -> agents_pb2.RegisterAgentResponse:
    request = agents_pb2.RegisterAgentRequest(name=name, owner_id="team-finance", **fields)
    return stubs.agents.RegisterAgent(request, metadata=ADMIN)


def _token(stubs: Stubs, agent: agents_pb2.RegisterAgentResponse) -> str:
    request = tokens_pb2.IssueTokenRequest(agent_id=agent.id, client_secret=agent.client_secret)
    return stubs.tokens.IssueToken(request).token


def _get(stubs: Stubs, agent_id: str, metadata: tuple = ADMIN) -> agents_pb2.Agent:
    return stubs.agents.GetAgent(agents_pb2.GetAgentRequest(agent_id=agent_id), metadata=metadata)


def test_register_returns_the_secret_once(stubs: Stubs) -> None:
    created = _register(stubs, client_secret=SECRET)

    assert created.name == "billing-agent" and created.client_secret == SECRET and uuid.UUID(created.id)
    agent = _get(stubs, created.id)
    assert SECRET not in str(agent)
    assert agent.owner_id == "team-finance" and agent.status == agents_pb2.AGENT_STATUS_ACTIVE
    assert agent.trust_score == 0.5 and list(agent.roles) == ["agent"] and not agent.HasField("policy_name")
    assert agent.created_at.ToDatetime(UTC) <= datetime.now(UTC)


def test_token_exchange_gives_an_hs256_jwt_valid_for_one_hour(stubs: Stubs) -> None:
    created = _register(stubs, client_secret=SECRET)

    issued = stubs.tokens.IssueToken(tokens_pb2.IssueTokenRequest(agent_id=created.id, client_secret=SECRET))

    assert jwt.get_unverified_header(issued.token)["alg"] == "HS256"
    claims = jwt.decode(issued.token, JWT_SECRET, algorithms=["HS256"], audience="vectra", issuer="vectra")
    assert claims["sub"] == created.id and claims["exp"] - claims["iat"] == 3600
    assert issued.expires_at.seconds == claims["exp"]


def test_list_agents_pages(stubs: Stubs) -> None:
    for _ in range(3):
        _register(stubs, "filler")
    first = stubs.agents.ListAgents(agents_pb2.ListAgentsRequest(), metadata=ADMIN)
    assert first.page == 1 and first.page_size == 25 and first.total_count >= 3

    pages = [
        stubs.agents.ListAgents(agents_pb2.ListAgentsRequest(page=n, page_size=2), metadata=ADMIN)
        for n in range(1, first.total_count // 2 + 2)
    ]
    ids = [a.id for p in pages for a in p.items]
    assert len(ids) == len(set(ids)) == first.total_count
    assert _code(lambda: stubs.agents.ListAgents(agents_pb2.ListAgentsRequest(page_size=101), metadata=ADMIN)) \
        == Code.INVALID_ARGUMENT


def test_assign_policy_stores_the_name(stubs: Stubs) -> None:
    created = _register(stubs)
    stubs.policies.PutPolicy(
        policies_pb2.PutPolicyRequest(name="billing-policy", document=message(REFERENCE_BILLING_POLICY)),
        metadata=ADMIN,
    )

    agent = stubs.agents.AssignPolicy(
        agents_pb2.AssignPolicyRequest(agent_id=created.id, policy_name="billing-policy"), metadata=ADMIN
    )

    assert agent.policy_name == "billing-policy" and _get(stubs, created.id).policy_name == "billing-policy"


def test_revoke_refuses_the_agent_at_once(stubs: Stubs) -> None:
    created = _register(stubs)
    own = bearer(_token(stubs, created))
    assert _get(stubs, created.id, own).id == created.id

    revoked = stubs.agents.RevokeAgent(agents_pb2.RevokeAgentRequest(agent_id=created.id), metadata=ADMIN)

    assert revoked.status == agents_pb2.AGENT_STATUS_REVOKED
    assert _code(lambda: _get(stubs, created.id, own)) == Code.PERMISSION_DENIED
    assert _code(lambda: _token(stubs, created)) == Code.PERMISSION_DENIED


def test_delete_makes_the_token_unauthenticated(stubs: Stubs) -> None:
    created = _register(stubs)
    own = bearer(_token(stubs, created))
    delete = agents_pb2.DeleteAgentRequest(agent_id=created.id)

    stubs.agents.DeleteAgent(delete, metadata=ADMIN)

    assert _code(lambda: _get(stubs, created.id, own)) == Code.UNAUTHENTICATED
    assert _code(lambda: stubs.agents.DeleteAgent(delete, metadata=ADMIN)) == Code.NOT_FOUND
    assert _code(lambda: _get(stubs, created.id)) == Code.NOT_FOUND


def test_lift_quarantine_of_unknown_bad_or_active_agents(stubs: Stubs) -> None:
    created = _register(stubs)

    def lift(agent_id: str) -> grpc.StatusCode:
        request = agents_pb2.LiftQuarantineRequest(agent_id=agent_id)
        return _code(lambda: stubs.agents.LiftQuarantine(request, metadata=ADMIN))

    assert lift(str(uuid.uuid4())) == Code.NOT_FOUND
    assert lift("not-a-uuid") == Code.INVALID_ARGUMENT
    assert lift(created.id) == Code.FAILED_PRECONDITION


@pytest.mark.parametrize("agent_id", ["not-a-uuid", "x" * 100_000])
def test_a_malformed_agent_id_is_invalid_argument_whatever_its_size(stubs: Stubs, agent_id: str) -> None:
    assert _code(lambda: _get(stubs, agent_id)) == Code.INVALID_ARGUMENT
    request = agents_pb2.AssignPolicyRequest(agent_id=agent_id, policy_name="billing-policy")
    assert _code(lambda: stubs.agents.AssignPolicy(request, metadata=ADMIN)) == Code.INVALID_ARGUMENT


def test_lift_quarantine_restores_a_quarantined_agent(make_daemon: Callable[..., Daemon]) -> None:
    own = make_daemon(env={"VECTRA_AGENT_CACHE_SECONDS": "0"})
    with own.channel() as channel:
        stubs = Stubs.on(channel)
        created = _register(stubs)
        token = bearer(_token(stubs, created))
        with sqlite3.connect(own.data_dir / "vectra.db") as db:
            db.execute("UPDATE agents SET status = 'Quarantined', trust_score = 0.1 WHERE id = ?", (created.id,))
        assert _code(lambda: _get(stubs, created.id, token)) == Code.PERMISSION_DENIED

        lifted = stubs.agents.LiftQuarantine(agents_pb2.LiftQuarantineRequest(agent_id=created.id), metadata=ADMIN)

        assert lifted.status == agents_pb2.AGENT_STATUS_ACTIVE and lifted.trust_score == 0.5
        assert _get(stubs, created.id, token).status == agents_pb2.AGENT_STATUS_ACTIVE


def test_unknown_agent_and_wrong_secret_get_the_same_answer(stubs: Stubs) -> None:
    created = _register(stubs, client_secret=SECRET)
    answers = []
    for agent_id, secret in [(str(uuid.uuid4()), SECRET), (created.id, "not-the-secret"), ("nope", SECRET)]:
        with pytest.raises(grpc.RpcError) as refused:
            stubs.tokens.IssueToken(tokens_pb2.IssueTokenRequest(agent_id=agent_id, client_secret=secret))
        answers.append((refused.value.code(), refused.value.details()))
    assert answers[0][0] == Code.UNAUTHENTICATED
    assert answers[0] == answers[1] == answers[2]


@pytest.mark.parametrize("secret", ["x" * 11, "é" * 37, "x" * 73])
def test_a_given_secret_must_be_12_to_72_bytes(stubs: Stubs, secret: str) -> None:
    assert _code(lambda: _register(stubs, client_secret=secret)) == Code.INVALID_ARGUMENT


def test_a_generated_secret_works_for_tokens(stubs: Stubs) -> None:
    created = _register(stubs)
    assert len(created.client_secret) >= 32
    assert jwt.decode(_token(stubs, created), JWT_SECRET, algorithms=["HS256"], audience="vectra")["sub"] \
        == created.id


def test_roles_are_granted_by_admins_only(stubs: Stubs) -> None:
    reviewer = _register(stubs, "reviewer-agent", roles=["reviewer"])
    assert list(_get(stubs, reviewer.id).roles) == ["reviewer"]
    as_reviewer = bearer(_token(stubs, reviewer))
    request = agents_pb2.RegisterAgentRequest(name="x", owner_id="y", roles=["admin"])

    assert _code(lambda: stubs.agents.RegisterAgent(request, metadata=as_reviewer)) == Code.PERMISSION_DENIED
    assert _code(lambda: _register(stubs, roles=["root"])) == Code.INVALID_ARGUMENT


@pytest.mark.parametrize("metadata", [(), bearer("not-a-jwt"), (("authorization", "Basic abc"),)])
def test_management_needs_a_valid_token(stubs: Stubs, metadata: tuple) -> None:
    request = agents_pb2.ListAgentsRequest()
    assert _code(lambda: stubs.agents.ListAgents(request, metadata=metadata)) == Code.UNAUTHENTICATED
