"""Key-based identity on both surfaces: an agent registered with an Ed25519 key gets its token by an assertion it
signed (``POST /tokens {agentId, assertion}``, ``TokenService.IssueToken``), and every bad assertion is refused
with the same 401 and its cause on the record (docs/tokens.md, "Key-based identity")."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.e2e.daemon import Daemon, bearer
from vectra.domain.keys import encode_public_key
from vectra.grpc.generated.vectra.v1 import agents_pb2, agents_pb2_grpc, tokens_pb2, tokens_pb2_grpc

pytestmark = pytest.mark.e2e

AUDIENCE = "vectra/tokens"  # the default: <VECTRA_JWT_ISSUER>/tokens
SKEW = 30  # the default VECTRA_CLOCK_SKEW_SECONDS
MAX_LIFETIME = 300  # the default VECTRA_ASSERTION_MAX_LIFETIME_SECONDS
REFUSED = "invalid agent id or assertion"
_STATUS = {grpc.StatusCode.OK: 200, grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.UNAUTHENTICATED: 401,
           grpc.StatusCode.PERMISSION_DENIED: 403}


class Answer(NamedTuple):
    """A token request's outcome, the same on either surface: its status (as HTTP's), detail and token."""

    status: int
    detail: str
    token: str | None


def _rest_issue(daemon: Daemon, body: dict[str, str]) -> Answer:
    with daemon.client() as client:
        answer = client.post("/tokens", json=body)
    if answer.status_code == 200:
        return Answer(200, "", answer.json()["token"])
    assert answer.headers["content-type"] == "application/problem+json", answer.text
    return Answer(answer.status_code, answer.json()["detail"], None)


def _grpc_issue(daemon: Daemon, body: dict[str, str]) -> Answer:
    request = tokens_pb2.IssueTokenRequest(agent_id=body.get("agentId", ""), client_secret=body.get("clientSecret", ""),
                                           assertion=body.get("assertion", ""))
    with daemon.channel() as channel:
        try:
            issued = tokens_pb2_grpc.TokenServiceStub(channel).IssueToken(request, timeout=10)
        except grpc.RpcError as exc:
            return Answer(_STATUS[exc.code()], exc.details() or "", None)
    return Answer(200, "", issued.token)


def _rest_reads_itself(daemon: Daemon, agent_id: str, token: str) -> int:
    with daemon.client(token) as client:
        return client.get(f"/agents/{agent_id}").status_code


def _grpc_reads_itself(daemon: Daemon, agent_id: str, token: str) -> int:
    with daemon.channel() as channel:
        try:
            agents_pb2_grpc.AgentServiceStub(channel).GetAgent(agents_pb2.GetAgentRequest(agent_id=agent_id),
                                                               metadata=bearer(token), timeout=10)
        except grpc.RpcError as exc:
            return _STATUS[exc.code()]
    return 200


class Surface(NamedTuple):
    name: str  # as the refusal record's details.surface
    route: str  # as the refusal record's url
    issue: Callable[[Daemon, dict[str, str]], Answer]
    reads_itself: Callable[[Daemon, str, str], int]  # GET /agents/{id} with a token: its status


REST = Surface("rest", "/tokens", _rest_issue, _rest_reads_itself)
GRPC = Surface("grpc", "TokenService.IssueToken", _grpc_issue, _grpc_reads_itself)


@pytest.fixture(params=[REST, GRPC], ids=["rest", "grpc"])
def surface(request: pytest.FixtureRequest) -> Surface:
    return request.param


@dataclass
class KeyAgent:
    """An agent registered with an Ed25519 key (and, as ``POST /agents`` gives every agent, a secret)."""

    id: str
    did: str
    secret: str
    key: Ed25519PrivateKey

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {"iss": self.id, "sub": self.id, "aud": AUDIENCE, "iat": now, "exp": now + 60,
                  "jti": uuid.uuid4().hex}
        return {name: value for name, value in (claims | changes).items() if value is not _DROP}

    def assertion(self, key: Ed25519PrivateKey | None = None, **changes: Any) -> str:
        return jwt.encode(self.claims(**changes), key or self.key, algorithm="EdDSA")

    def public_bytes(self) -> bytes:
        return self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


_DROP = object()  # a claim left out


def key_agent(daemon: Daemon, name: str = "key-agent") -> KeyAgent:
    key = Ed25519PrivateKey.generate()
    public = encode_public_key(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    made = daemon.register_agent(name, publicKey=public)
    assert made["did"] == f"did:key:{public}"
    return KeyAgent(made["id"], made["did"], made["clientSecret"], key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def refusal_causes(daemon: Daemon, agent_id: str) -> list[tuple[str, str, str]]:
    """(cause, surface, route) of the ``auth.refused`` records of token requests that named ``agent_id``, oldest
    first. Each test's agent is its own, so each of its refusals is the first of its kind: recorded at once."""
    found: list[tuple[str, str, str]] = []
    with daemon.admin() as admin:
        page = 1
        while True:
            answer = admin.get("/audit", params={"action": "auth.refused", "page": page, "pageSize": 100}).json()
            found += [(r["reason"], r["details"]["surface"], r["url"]) for r in answer["items"]
                      if r["details"].get("claimedSubject") == agent_id or r["agentId"] == agent_id]
            if page * 100 >= answer["totalCount"]:
                return sorted(found)
            page += 1


def test_a_key_agent_gets_a_token_by_assertion_and_uses_it(daemon: Daemon, surface: Surface) -> None:
    agent = key_agent(daemon)
    issued = surface.issue(daemon, {"agentId": agent.id, "assertion": agent.assertion()})
    assert issued.status == 200, issued
    assert issued.token is not None
    claims = jwt.decode(issued.token, options={"verify_signature": False})
    assert (claims["sub"], claims["roles"]) == (agent.id, ["agent"])  # the gateway token, as by secret
    assert surface.reads_itself(daemon, agent.id, issued.token) == 200


@pytest.mark.parametrize("named_by", ["did", "id"])
def test_the_agent_may_be_named_by_its_did_key(daemon: Daemon, surface: Surface, named_by: str) -> None:
    agent = key_agent(daemon)
    name = agent.did if named_by == "did" else agent.id
    issued = surface.issue(daemon, {"agentId": agent.did, "assertion": agent.assertion(iss=name, sub=name)})
    assert issued.status == 200, issued
    assert issued.token is not None and surface.reads_itself(daemon, agent.id, issued.token) == 200


def test_an_assertion_is_accepted_once(daemon: Daemon, surface: Surface) -> None:
    agent = key_agent(daemon)
    assertion = agent.assertion()
    assert surface.issue(daemon, {"agentId": agent.id, "assertion": assertion}).status == 200
    assert surface.issue(daemon, {"agentId": agent.id, "assertion": assertion}) == (401, REFUSED, None)
    assert refusal_causes(daemon, agent.id) == [("assertion_replayed", surface.name, surface.route)]
    assert surface.issue(daemon, {"agentId": agent.id, "assertion": agent.assertion()}).status == 200  # a new jti


def test_an_assertion_used_on_one_surface_is_refused_on_the_other(daemon: Daemon) -> None:
    agent = key_agent(daemon)
    assertion = agent.assertion()
    assert REST.issue(daemon, {"agentId": agent.id, "assertion": assertion}).status == 200
    assert GRPC.issue(daemon, {"agentId": agent.did, "assertion": assertion}) == (401, REFUSED, None)
    assert refusal_causes(daemon, agent.id) == [("assertion_replayed", "grpc", GRPC.route)]


def _now() -> int:
    return int(time.time())


# name → (the assertion, the cause the audit record names)
Attack = Callable[[KeyAgent, KeyAgent], str]  # (the agent, another key agent) → the assertion
ATTACKS: dict[str, tuple[Attack, str]] = {
    "expired beyond the skew": (lambda a, _: a.assertion(iat=_now() - 120, exp=_now() - SKEW - 10), "expired"),
    "exp too far in the future": (lambda a, _: a.assertion(exp=_now() + 3600), "lifetime_too_long"),
    "exp past the max lifetime plus the skew": (
        lambda a, _: a.assertion(exp=_now() + MAX_LIFETIME + SKEW + 30), "lifetime_too_long"),
    "exp - iat beyond the max lifetime": (
        lambda a, _: a.assertion(iat=_now() - 200, exp=_now() + 200), "lifetime_too_long"),
    "iat in the future beyond the skew": (
        lambda a, _: a.assertion(iat=_now() + SKEW + 60, exp=_now() + SKEW + 90), "not_yet_valid"),
    "nbf in the future beyond the skew": (lambda a, _: a.assertion(nbf=_now() + SKEW + 20), "not_yet_valid"),
    "the gateway tokens' audience": (lambda a, _: a.assertion(aud="vectra"), "wrong_audience"),
    "another audience": (lambda a, _: a.assertion(aud="https://elsewhere.example/tokens"), "wrong_audience"),
    "iss differs from sub": (lambda a, _: a.assertion(iss=a.did), "wrong_subject"),
    "iss and sub of another agent": (lambda a, b: a.assertion(iss=b.id, sub=b.id), "wrong_issuer"),
    "signed by another agent's key": (lambda a, b: a.assertion(key=b.key), "bad_signature"),
    "HS256 keyed with the public key": (
        lambda a, _: jwt.encode(a.claims(), a.public_bytes(), algorithm="HS256"), "wrong_algorithm"),
    "alg none": (lambda a, _: _unsigned({"alg": "none", "typ": "JWT"}, a.claims()), "wrong_algorithm"),
    "alg none spelled None": (lambda a, _: _unsigned({"alg": "None"}, a.claims()), "wrong_algorithm"),
    "EdDSA header without a signature": (lambda a, _: _unsigned({"alg": "EdDSA"}, a.claims()), "bad_signature"),
    "no jti": (lambda a, _: a.assertion(jti=_DROP), "missing_claim"),
    "no exp": (lambda a, _: a.assertion(exp=_DROP), "missing_claim"),
    "no iat": (lambda a, _: a.assertion(iat=_DROP), "missing_claim"),
    "no aud": (lambda a, _: a.assertion(aud=_DROP), "missing_claim"),
    "a jti of 201 characters": (lambda a, _: a.assertion(jti="j" * 201), "bad_jti"),
    "a jti that is a number": (lambda a, _: a.assertion(jti=7), "bad_jti"),
    "an empty jti": (lambda a, _: a.assertion(jti=""), "bad_jti"),
    "exp not a number": (lambda a, _: a.assertion(exp="soon"), "malformed_token"),
    "not a JWT": (lambda a, _: "not-a-jwt", "malformed_token"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_bad_assertion_is_refused_alike_and_its_cause_recorded(daemon: Daemon, surface: Surface,
                                                                 attack: str) -> None:
    make, cause = ATTACKS[attack]
    agent, other = key_agent(daemon), key_agent(daemon, "other-key-agent")
    assert surface.issue(daemon, {"agentId": agent.id, "assertion": make(agent, other)}) == (401, REFUSED, None)
    assert refusal_causes(daemon, agent.id) == [(cause, surface.name, surface.route)]


def test_an_assertion_just_within_the_limits_is_accepted(daemon: Daemon, surface: Surface) -> None:
    agent = key_agent(daemon)
    edge = agent.assertion(iat=_now() - 10, exp=_now() + MAX_LIFETIME - 20)  # exp - iat = 290 s
    late = agent.assertion(iat=_now() - 60, exp=_now() - SKEW // 2)  # expired, within the skew
    for assertion in (edge, late):
        assert surface.issue(daemon, {"agentId": agent.id, "assertion": assertion}).status == 200


def test_an_agent_without_a_key_or_an_unknown_one_is_refused_like_a_bad_assertion(daemon: Daemon,
                                                                                  surface: Surface) -> None:
    keyless, stranger = daemon.register_agent("keyless")["id"], str(uuid.uuid4())
    for agent_id in (keyless, stranger):
        signer = KeyAgent(agent_id, "", "", Ed25519PrivateKey.generate())
        assert surface.issue(daemon, {"agentId": agent_id, "assertion": signer.assertion()}) == (401, REFUSED, None)
    assert refusal_causes(daemon, keyless) == [("no_public_key", surface.name, surface.route)]
    assert refusal_causes(daemon, stranger) == [("unknown_agent", surface.name, surface.route)]


def test_an_unknown_did_is_refused(daemon: Daemon, surface: Surface) -> None:
    stranger = Ed25519PrivateKey.generate()
    unknown = f"did:key:{encode_public_key(stranger.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))}"
    stranger = KeyAgent(unknown, unknown, "", stranger)
    assert surface.issue(daemon, {"agentId": unknown, "assertion": stranger.assertion()}) == (401, REFUSED, None)
    assert refusal_causes(daemon, unknown) == [("unknown_agent", surface.name, surface.route)]


def test_a_key_agent_with_a_wrong_client_secret_is_refused_as_ever(daemon: Daemon, surface: Surface) -> None:
    agent = key_agent(daemon)
    assert surface.issue(daemon, {"agentId": agent.id, "clientSecret": "not-its-secret"}) == \
        (401, "invalid agent id or client secret", None)
    assert surface.issue(daemon, {"agentId": agent.id, "clientSecret": agent.secret}).status == 200


@pytest.mark.parametrize("credentials", ["both", "neither"])
def test_exactly_one_of_client_secret_and_assertion_is_given(daemon: Daemon, surface: Surface,
                                                             credentials: str) -> None:
    agent = key_agent(daemon)
    body = {"agentId": agent.id}
    if credentials == "both":
        body |= {"clientSecret": agent.secret, "assertion": agent.assertion()}
    assert surface.issue(daemon, body) == (400, "give either clientSecret or assertion", None)


def test_an_assertion_too_long_is_refused_as_bad_input(daemon: Daemon, surface: Surface) -> None:
    agent = key_agent(daemon)
    padded = agent.assertion(padding="x" * 9000)
    assert surface.issue(daemon, {"agentId": agent.id, "assertion": padded}) == \
        (400, "assertion must be at most 8192 characters", None)


def test_a_revoked_key_agent_is_forbidden(daemon: Daemon, surface: Surface) -> None:
    agent = key_agent(daemon)
    with daemon.admin() as admin:
        assert admin.post(f"/agents/{agent.id}/revoke").status_code == 200
    answer = surface.issue(daemon, {"agentId": agent.id, "assertion": agent.assertion()})
    assert (answer.status, answer.token) == (403, None)
    assert refusal_causes(daemon, agent.id) == [("revoked", surface.name, surface.route)]


def test_a_replay_is_refused_after_a_restart(make_daemon: Callable[..., Daemon], tmp_path: Path) -> None:
    data = tmp_path / "restarted"
    first = make_daemon(data)
    agent = key_agent(first)
    assertion = agent.assertion(exp=_now() + 120)
    assert REST.issue(first, {"agentId": agent.id, "assertion": assertion}).status == 200
    assert first.stop() == 0

    again = make_daemon(data)
    assert REST.issue(again, {"agentId": agent.id, "assertion": assertion}) == (401, REFUSED, None)
    assert GRPC.issue(again, {"agentId": agent.id, "assertion": assertion}) == (401, REFUSED, None)
    assert refusal_causes(again, agent.id) == [("assertion_replayed", "grpc", GRPC.route),
                                                ("assertion_replayed", "rest", REST.route)]
    assert REST.issue(again, {"agentId": agent.id, "assertion": agent.assertion()}).status == 200


def test_the_audience_can_be_configured(make_daemon: Callable[..., Daemon]) -> None:
    own = make_daemon(env={"VECTRA_ASSERTION_AUDIENCE": "https://gateway.example/tokens"})
    agent = key_agent(own)
    configured = agent.assertion(aud=["https://gateway.example/tokens"])
    assert REST.issue(own, {"agentId": agent.id, "assertion": configured}).status == 200
    assert REST.issue(own, {"agentId": agent.id, "assertion": agent.assertion()}) == (401, REFUSED, None)
    assert refusal_causes(own, agent.id) == [("wrong_audience", "rest", REST.route)]


def test_the_refusal_record_keeps_no_part_of_the_assertion(daemon: Daemon) -> None:
    agent = key_agent(daemon)
    assertion = agent.assertion(aud="marker-" + uuid.uuid4().hex)
    assert REST.issue(daemon, {"agentId": agent.id, "assertion": assertion}).status == 401
    with daemon.admin() as admin:
        records = admin.get("/audit", params={"action": "auth.refused", "pageSize": 100}).json()["items"]
    [record] = [r for r in records if r["details"].get("claimedSubject") == agent.id]
    assert (record["actor"], record["reason"]) == ("anonymous", "wrong_audience")
    assert assertion.split(".")[2] not in json.dumps(record) and "marker-" not in json.dumps(record)

