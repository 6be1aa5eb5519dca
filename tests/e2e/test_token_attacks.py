"""Issue 6's token attacks, on both surfaces: each is refused with its documented status and is on the record.

``test_access_matrix.py`` holds the common bad credentials against every operation; this file adds the attacks on
the token itself (algorithm confusion, claims missing or out of time, a rotated-out key, truncation, size) and
checks that every refused call has its ``auth.refused`` audit record, alone or in a count (docs/audit.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from google.protobuf import message_factory

from tests.e2e.contract import call_rpc, open_rpc_paths, protected_operations, rpc_methods
from tests.e2e.daemon import JWT_SECRET, Daemon, bearer, wait_until
from tests.e2e.proxy_agents import Agent
from vectra.grpc.generated.vectra.v1 import agents_pb2, agents_pb2_grpc, proxy_pb2, proxy_pb2_grpc

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")]

SKEW = 120  # VECTRA_CLOCK_SKEW_SECONDS of this module's daemon
WINDOW = 1  # VECTRA_AUDIT_REFUSAL_WINDOW_SECONDS: identical refusals within it are counted, not recorded each
_GENERIC = {"invalid token", "token expired"}  # all a refused token is told


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    running = Daemon(tmp_path_factory.mktemp("tokens") / "data", env={
        "VECTRA_CLOCK_SKEW_SECONDS": str(SKEW), "VECTRA_AUDIT_REFUSAL_WINDOW_SECONDS": str(WINDOW)}).start()
    yield running
    assert running.stop() == 0, running.log()


@dataclass
class Caller:
    """An agent of the daemon, and the header and claims of a real token of its, to forge others from."""

    id: str
    token: str
    header: dict[str, Any]
    claims: dict[str, Any]

    def forge(self, key: Any = JWT_SECRET, algorithm: str = "HS256", drop: tuple[str, ...] = (),
              **changes: Any) -> str:
        claims = {name: value for name, value in {**self.claims, **changes}.items() if name not in drop}
        return jwt.encode(claims, key, algorithm=algorithm, headers={**self.header, "alg": algorithm})


@pytest.fixture(scope="module")
def caller(daemon: Daemon) -> Caller:
    agent = daemon.register_agent("token-attacks")
    token = daemon.token_for(agent)
    return Caller(agent["id"], token, jwt.get_unverified_header(token),
                  jwt.decode(token, options={"verify_signature": False}))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_with_raw_key(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """An HS256 token under any bytes as the key (PyJWT refuses to use a PEM public key as an HMAC secret)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


Attack = Callable[[Caller], str]
now = lambda: int(time.time())  # noqa: E731 - read when each attack is made, not at import

# name → (the token, the cause the audit record names)
ATTACKS: dict[str, tuple[Attack, str]] = {
    "RS256 signed by an RSA key": (lambda c: c.forge(_rsa_key(), "RS256"), "wrong_algorithm"),
    "ES256 signed by an EC key": (lambda c: c.forge(ec.generate_private_key(ec.SECP256R1()), "ES256"),
                                  "wrong_algorithm"),
    "HS512 under the real key": (lambda c: c.forge(algorithm="HS512"), "wrong_algorithm"),
    "alg none with Vectra's typ and kid": (lambda c: f"{_b64(json.dumps({**c.header, 'alg': 'none'}).encode())}."
                                                     f"{_b64(json.dumps(c.claims).encode())}.", "wrong_algorithm"),
    "HS256 keyed with an RSA public key PEM": (
        lambda c: _hs256_with_raw_key(c.header, c.claims, _public_pem(_rsa_key())), "bad_signature"),
    "missing iss": (lambda c: c.forge(drop=("iss",)), "missing_claim"),
    "missing aud": (lambda c: c.forge(drop=("aud",)), "missing_claim"),
    "missing exp": (lambda c: c.forge(drop=("exp",)), "missing_claim"),
    "missing nbf": (lambda c: c.forge(drop=("nbf",)), "missing_claim"),
    "missing iat": (lambda c: c.forge(drop=("iat",)), "missing_claim"),
    "missing sub": (lambda c: c.forge(drop=("sub",)), "missing_claim"),
    "missing jti": (lambda c: c.forge(drop=("jti",)), "missing_claim"),
    "wrong iss": (lambda c: c.forge(iss="someone-else"), "wrong_issuer"),
    "wrong aud": (lambda c: c.forge(aud=["someone-else"]), "wrong_audience"),
    "exp in the past beyond the skew": (lambda c: c.forge(iat=now() - 7200, nbf=now() - 7200,
                                                          exp=now() - SKEW - 600), "expired"),
    "nbf in the future beyond the skew": (lambda c: c.forge(nbf=now() + SKEW + 600), "not_yet_valid"),
    "iat in the future beyond the skew": (lambda c: c.forge(iat=now() + SKEW + 600), "not_yet_valid"),
    "iat not a number": (lambda c: c.forge(iat="yesterday"), "bad_issued_at"),
    # 43 signature characters cut to 40, whole base64 groups: a shorter signature, not an undecodable one
    "truncated signature": (lambda c: c.token[:-3], "bad_signature"),
    "signature cut off": (lambda c: c.token[: c.token.rindex(".") + 1], "bad_signature"),
    "truncated in the payload": (lambda c: c.token[: c.token.index(".") + 20], "malformed_token"),
    "signed for an agent that doesn't exist": (lambda c: c.forge(sub=str(uuid.uuid4())), "agent_deleted"),
    "9000 characters": (lambda c: c.token + "A" * 9000, "token_too_large"),
}
# accepted: within the configured skew
WITHIN_SKEW: dict[str, Attack] = {
    "nbf in the future within the skew": lambda c: c.forge(nbf=now() + SKEW // 4),
    "exp in the past within the skew": lambda c: c.forge(iat=now() - 3600, nbf=now() - 3600, exp=now() - SKEW // 4),
}


def _rest(daemon: Daemon, agent_id: str, token: str) -> httpx.Response:
    """``GET /agents/{id}`` with ``token``: an agent may read its own record."""
    with daemon.client(token) as client:
        return client.get(f"/agents/{agent_id}")


def _grpc(daemon: Daemon, agent_id: str, token: str) -> tuple[grpc.StatusCode, str]:
    """``GetAgent`` with ``token``: its status code and details."""
    with daemon.channel() as channel:
        try:
            agents_pb2_grpc.AgentServiceStub(channel).GetAgent(agents_pb2.GetAgentRequest(agent_id=agent_id),
                                                               metadata=bearer(token), timeout=10)
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


def refusals(daemon: Daemon) -> Counter[tuple[str, str, str]]:
    """Refused calls on the record by (cause, surface, route): a record counts one call, a count record (one with
    ``repeated``) as many as it says."""
    counted: Counter[tuple[str, str, str]] = Counter()
    with daemon.admin() as admin:
        page = 1
        while True:
            answer = admin.get("/audit", params={"action": "auth.refused", "page": page, "pageSize": 100}).json()
            for record in answer["items"]:
                key = (record["reason"], record["details"]["surface"], record["url"])
                counted[key] += record["details"].get("repeated", 1)
            if page * 100 >= answer["totalCount"]:
                return counted
            page += 1


def _recorded(daemon: Daemon, before: Counter[tuple[str, str, str]], expected: Counter[tuple[str, str, str]]) -> None:
    """Wait until the refusals since ``before`` are exactly ``expected`` (counts come when a window closes)."""
    try:
        wait_until(lambda: refusals(daemon) - before == expected, timeout=10 * WINDOW + 10)
    except TimeoutError:
        assert refusals(daemon) - before == expected  # shows the difference


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_token_attack_is_refused_on_both_surfaces_and_audited(daemon: Daemon, caller: Caller, attack: str) -> None:
    make, cause = ATTACKS[attack]
    token = make(caller)
    before = refusals(daemon)

    answer = _rest(daemon, caller.id, token)
    code, detail = _grpc(daemon, caller.id, token)

    assert answer.status_code == 401 and answer.headers["content-type"] == "application/problem+json", answer.text
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.json()["detail"] in _GENERIC | {"the token's agent no longer exists"}
    assert set(answer.json()) == {"type", "title", "status", "detail"}  # which check refused is not told
    assert code == grpc.StatusCode.UNAUTHENTICATED and detail == answer.json()["detail"]
    _recorded(daemon, before, Counter({(cause, "rest", f"/agents/{caller.id}"): 1,
                                       (cause, "grpc", "AgentService.GetAgent"): 1}))


@pytest.mark.parametrize("case", sorted(WITHIN_SKEW))
def test_a_token_just_within_the_clock_skew_is_accepted(daemon: Daemon, caller: Caller, case: str) -> None:
    token = WITHIN_SKEW[case](caller)
    assert _rest(daemon, caller.id, token).status_code == 200
    assert _grpc(daemon, caller.id, token)[0] == grpc.StatusCode.OK


def test_a_refusal_record_names_the_peer_and_the_claimed_subject_never_the_token(daemon: Daemon,
                                                                                caller: Caller) -> None:
    token = caller.forge(iss="someone-else", jti="marker-" + uuid.uuid4().hex)
    path = f"/agents/{uuid.uuid4()}"
    with daemon.client(token) as client:
        assert client.get(path).status_code == 401
    with daemon.admin() as admin:
        records = admin.get("/audit", params={"action": "auth.refused", "decision": "Unauthenticated"}).json()
    record = next(record for record in records["items"] if record["url"] == path)
    assert (record["actor"], record["agentId"], record["source"], record["method"], record["reason"]) == \
        ("anonymous", None, "control_plane", "GET", "wrong_issuer")
    assert record["details"] == {"surface": "rest", "peer": "127.0.0.1", "claimedSubject": caller.id}
    assert token.split(".")[2] not in json.dumps(record) and "marker-" not in json.dumps(record)


def test_a_token_too_long_to_be_one_is_refused_401_and_recorded(daemon: Daemon, caller: Caller) -> None:
    long = "A" * 32 * 1024  # past MAX_TOKEN_CHARS, within the REST request head limit (64 KiB)
    before = refusals(daemon)
    answer = _rest(daemon, caller.id, long)
    assert answer.status_code == 401 and answer.json()["detail"] == "invalid token"
    _recorded(daemon, before, Counter({("token_too_large", "rest", f"/agents/{caller.id}"): 1}))


def test_a_one_megabyte_token_is_refused_by_the_transport_on_both_surfaces(daemon: Daemon, caller: Caller) -> None:
    """Past the request head limit (REST, 64 KiB: docs/limits.md) the HTTP server refuses with 431 before the
    token is read, and records that as its own refusal (``http.refused``). Past the metadata limit (gRPC, 16 KiB)
    gRPC's transport refuses before any of Vectra's code runs: that one can't be recorded (docs/audit.md)."""
    huge = "A" * (1024 * 1024)
    before = refusals(daemon)
    assert _rest(daemon, caller.id, huge).status_code == 431
    assert _grpc(daemon, caller.id, huge)[0] == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert _rest(daemon, caller.id, caller.token).status_code == 200
    assert _grpc(daemon, caller.id, caller.token)[0] == grpc.StatusCode.OK

    def head_refusals() -> list[dict]:
        with daemon.admin() as admin:
            items = admin.get("/audit", params={"action": "http.refused", "pageSize": 100}).json()["items"]
        return [r for r in items if r["url"] == f"/agents/{caller.id}"]

    [record] = wait_until(head_refusals, timeout=10)
    assert refusals(daemon) == before  # the token was never read: no auth.refused came with it
    assert (record["reason"], record["details"]["status"], record["actor"]) == ("head_too_large", 431, "anonymous")
    assert "A" * 64 not in json.dumps(record)  # the token is not kept


def test_a_flood_of_identical_refusals_is_counted_into_few_records(daemon: Daemon, caller: Caller) -> None:
    token = caller.forge(aud="flood-" + uuid.uuid4().hex)
    before = refusals(daemon)
    with daemon.client(token) as client:
        statuses = Counter(client.get("/agents/flood").status_code for _ in range(50))
    assert statuses == {401: 50}
    _recorded(daemon, before, Counter({("wrong_audience", "rest", "/agents/flood"): 50}))
    with daemon.admin() as admin:
        records = [r for r in admin.get("/audit", params={"action": "auth.refused", "pageSize": 100}).json()["items"]
                   if r["url"] == "/agents/flood"]
    assert 2 <= len(records) <= 10  # the first at once, then a first and a count per window the flood spanned


def test_counts_still_open_at_a_graceful_stop_are_written_before_it(make_daemon: Callable[..., Daemon],
                                                                     tmp_path: Path) -> None:
    data = tmp_path / "stopping"
    first = make_daemon(data, env={"VECTRA_AUDIT_REFUSAL_WINDOW_SECONDS": "3600"})
    with first.client("not-a-token") as client:
        assert [client.get("/agents").status_code for _ in range(5)] == [401] * 5
    assert refusals(first) == Counter({("malformed_token", "rest", "/agents"): 1})  # the count is still open
    assert first.stop() == 0
    again = make_daemon(data)
    assert refusals(again) == Counter({("malformed_token", "rest", "/agents"): 5})
    with again.admin() as admin:
        assert admin.get("/audit/verify").json()["valid"] is True


def test_refused_rights_are_recorded_with_the_caller_as_actor(daemon: Daemon, caller: Caller) -> None:
    before = refusals(daemon)
    with daemon.client(caller.token) as client:
        assert client.post("/agents", json={"name": "x", "ownerId": "y"}).status_code == 403
    with daemon.channel() as channel, pytest.raises(grpc.RpcError) as refused:
        agents_pb2_grpc.AgentServiceStub(channel).ListAgents(agents_pb2.ListAgentsRequest(),
                                                             metadata=bearer(caller.token), timeout=10)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    _recorded(daemon, before, Counter({("role", "rest", "/agents"): 1, ("role", "grpc", "AgentService.ListAgents"): 1}))
    with daemon.admin() as admin:
        forbidden = admin.get("/audit", params={"action": "auth.refused", "decision": "Forbidden",
                                                "agentId": caller.id}).json()["items"]
    assert {r["actor"] for r in forbidden} == {caller.id}


def test_a_wrong_client_secret_at_the_token_exchange_is_recorded_with_the_agent_it_named(
        daemon: Daemon, caller: Caller) -> None:
    before = refusals(daemon)
    with daemon.client() as client:
        answer = client.post("/tokens", json={"agentId": caller.id, "clientSecret": "not-the-secret"})
    assert answer.status_code == 401 and answer.json()["detail"] == "invalid agent id or client secret"
    _recorded(daemon, before, Counter({("bad_client_secret", "rest", "/tokens"): 1}))


def test_the_proxy_records_refused_tokens_once_and_its_denials_as_decisions_only(daemon: Daemon) -> None:
    with daemon.admin() as admin:
        agent = Agent(daemon, admin)
    before = refusals(daemon)
    with daemon.client("not-a-token") as client:
        assert client.get("/proxy/http://127.0.0.1:9/x").status_code == 401
    with daemon.channel() as channel, pytest.raises(grpc.RpcError) as refused:
        proxy_pb2_grpc.ProxyServiceStub(channel).Forward(
            proxy_pb2.ForwardRequest(method="GET", url="http://127.0.0.1:9/x"), metadata=bearer("not-a-token"),
            timeout=10)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert agent.call("DELETE", "http://127.0.0.1:9/x").status_code == 403  # the policy's Deny
    _recorded(daemon, before, Counter({("malformed_token", "rest", "/proxy/http://127.0.0.1:9/x"): 1,
                                       ("malformed_token", "grpc", "ProxyService.Forward"): 1}))
    with daemon.admin() as admin:
        records = admin.get("/audit", params={"action": "auth.refused"}).json()["items"]
    sources = {record["url"]: record["source"] for record in records}
    assert sources["/proxy/http://127.0.0.1:9/x"] == "proxy" and sources["ProxyService.Forward"] == "grpc"
    agent.client.close()


def test_a_bad_token_is_recorded_on_every_operation_of_both_surfaces(daemon: Daemon, caller: Caller) -> None:
    """Where a refusal is recorded is where each surface answers it: every protected operation, streams included."""
    token = caller.forge(key="another-signing-key-0123456789abcdef-0123")
    expected: Counter[tuple[str, str, str]] = Counter()
    before = refusals(daemon)
    with daemon.client(token) as client:
        for operation in protected_operations().values():
            path = re.sub(r"\{[^}]+\}", caller.id, operation.path.replace("{url}", "http://127.0.0.1:9/x"))
            assert client.request(operation.method, path, json=operation.example).status_code == 401, path
            expected[("bad_signature", "rest", path)] += 1
    open_rpcs = open_rpc_paths()
    assert {"/vectra.v1.TokenService/IssueToken", "/vectra.v1.RegistrationService/SubmitRegistration"} <= open_rpcs
    with daemon.channel() as channel:
        for method in rpc_methods():
            if f"/{method.containing_service.full_name}/{method.name}" in open_rpcs:
                continue  # takes no token (the token exchange, self-registration): tested on their own
            request = message_factory.GetMessageClass(method.input_type)()
            if "url" in method.input_type.fields_by_name:  # the proxy parses its target before the token (400)
                request.url = "http://127.0.0.1:9/x"
            code = call_rpc(channel, method, request, bearer(token), timeout=10)
            assert code == grpc.StatusCode.UNAUTHENTICATED, method.full_name
            expected[("bad_signature", "grpc", f"{method.containing_service.name}.{method.name}")] += 1
    _recorded(daemon, before, expected)


def test_a_token_under_a_rotated_out_key_passes_while_the_key_is_kept_as_previous(
        make_daemon: Callable[..., Daemon], tmp_path: Path) -> None:
    old, new = "old-signing-key-0123456789abcdef-0123456789", "new-signing-key-0123456789abcdef-0123456789"
    data = tmp_path / "rotated"
    first = make_daemon(data, env={"VECTRA_JWT_SECRET": old})
    agent = first.register_agent("rotated")
    token = first.token_for(agent)
    assert first.stop() == 0

    kept = make_daemon(data, env={"VECTRA_JWT_SECRET": new, "VECTRA_JWT_PREVIOUS_SECRETS": old})
    assert _rest(kept, agent["id"], token).status_code == 200
    assert _grpc(kept, agent["id"], token)[0] == grpc.StatusCode.OK
    assert kept.token_for(agent) != token
    assert kept.stop() == 0

    dropped = make_daemon(data, env={"VECTRA_JWT_SECRET": new})
    answer = _rest(dropped, agent["id"], token)
    assert answer.status_code == 401 and answer.json()["detail"] == "invalid token"
    assert _grpc(dropped, agent["id"], token) == (grpc.StatusCode.UNAUTHENTICATED, "invalid token")
    with dropped.admin() as admin:
        causes = [r["reason"] for r in admin.get("/audit", params={"action": "auth.refused"}).json()["items"]]
    assert causes == ["unknown_key", "unknown_key"]
