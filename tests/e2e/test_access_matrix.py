"""Issue 2's access matrix: every protected operation, on REST and on its gRPC twin, refuses every bad credential.

The operations come from the contracts themselves (``openapi.yaml`` security, the ``google.api.http``
annotation of each RPC), so an operation added later is covered without editing this file. Tokens
are forged here with PyJWT from the test daemon's signing key. Each refusal has its documented
status, is problem+json on REST, and changes nothing.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import jwt
import pytest
from google.protobuf import json_format

from tests.e2e.contract import Operation, Rpc, annotated_rpcs, protected_operations
from tests.e2e.daemon import JWT_SECRET, Daemon

pytestmark = pytest.mark.e2e

_GRPC_CODE = {401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED}
PROTECTED = protected_operations()
RPCS = annotated_rpcs()


def test_every_protected_rest_operation_has_its_grpc_twin() -> None:
    assert PROTECTED, "no protected operation found in openapi.yaml"
    assert set(PROTECTED) <= set(RPCS), sorted(set(PROTECTED) - set(RPCS))


# --- tokens -------------------------------------------------------------------------------------

def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@dataclass
class World:
    daemon: Daemon
    target: str  # an agent every request names; it must come out unchanged
    tokens: dict[str, str]


def _register(admin: httpx.Client, name: str, roles: list[str] | None = None) -> tuple[str, str]:
    body: dict[str, Any] = {"name": name, "ownerId": "access-matrix"}
    if roles:
        body["roles"] = roles
    created = admin.post("/agents", json=body)
    assert created.status_code == 201, created.text
    return created.json()["id"], created.json()["clientSecret"]


def _token(client: httpx.Client, agent_id: str, secret: str) -> str:
    answer = client.post("/tokens", json={"agentId": agent_id, "clientSecret": secret})
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


@pytest.fixture(scope="module")
def world(daemon: Daemon) -> Iterator[World]:
    with daemon.admin() as admin:
        target, _ = _register(admin, "matrix-target")
        caller, caller_secret = _register(admin, "matrix-agent")
        agent_token = _token(admin, caller, caller_secret)
        deleted, deleted_secret = _register(admin, "matrix-deleted", ["admin"])
        deleted_token = _token(admin, deleted, deleted_secret)
        assert admin.delete(f"/agents/{deleted}").status_code == 200
        revoked, revoked_secret = _register(admin, "matrix-revoked", ["admin"])
        revoked_token = _token(admin, revoked, revoked_secret)
        assert admin.post(f"/agents/{revoked}/revoke").status_code == 200

    header = jwt.get_unverified_header(agent_token)
    claims = jwt.decode(agent_token, options={"verify_signature": False})
    claims["roles"] = ["admin"]  # forged tokens claim the most they could

    def forge(key: str = JWT_SECRET, head: dict[str, Any] | None = None, **changes: Any) -> str:
        return jwt.encode({**claims, **changes}, key, algorithm="HS256", headers={**header, **(head or {})})

    now = int(time.time())
    tokens = {
        "no token": "",
        "bad signature": forge(key="another-signing-key-0123456789abcdef-0123"),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': header['kid']})}.{_b64(claims)}.",
        "expired": forge(iat=now - 7200, nbf=now - 7200, exp=now - 3600),
        "wrong audience": forge(aud="someone-else"),
        "wrong issuer": forge(iss="someone-else"),
        "kid not in the ring": forge(head={"kid": "k-000000000000"}),
        "another token type": forge(head={"typ": "JWT"}),
        "garbage": "not-a-jwt",
        "deleted agent": deleted_token,
        "revoked agent": revoked_token,
        "agent role": agent_token,
    }
    yield World(daemon, target, tokens)


_STATUS = {name: 401 for name in (
    "no token", "bad signature", "alg none", "expired", "wrong audience", "wrong issuer", "kid not in the ring",
    "another token type", "garbage", "deleted agent",
)} | {"revoked agent": 403}


def _agents(daemon: Daemon) -> list[dict[str, Any]]:
    """The agents as they are, but when they were last seen: a refused request still came from an authenticated
    caller, and may move its lastSeen (at most once a minute), which a slow run sees."""
    with daemon.admin() as admin:
        items = admin.get("/agents", params={"pageSize": 100}).json()["items"]
    return [{k: v for k, v in item.items() if k not in ("lastSeen", "lastSeenAt", "online")} for item in items]


# The proxy's path parameter is an upstream URL; a valid one, so that the credential is what gets refused.
_UPSTREAM = "http://127.0.0.1:9/matrix"


def _rest(world: World, operation: Operation, token: str) -> httpx.Response:
    path = re.sub(r"\{[^}]+\}", _UPSTREAM if "{url}" in operation.path else world.target, operation.path)
    with world.daemon.client(token or None) as client:
        return client.request(operation.method, path, json=operation.example)


def _grpc(world: World, rpc: Rpc, example: dict[str, Any] | None, token: str) -> grpc.StatusCode:
    request = json_format.ParseDict({**(example or {}), "agentId": world.target, "url": _UPSTREAM}, rpc.request(),
                                    ignore_unknown_fields=True)
    metadata = [("authorization", f"Bearer {token}")] if token else []
    with world.daemon.channel() as channel:
        call = channel.unary_unary(rpc.path, request_serializer=rpc.request.SerializeToString,
                                   response_deserializer=rpc.response.FromString)
        try:
            call(request, metadata=metadata, timeout=10)
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


def _refusals(world: World, token: str, status: int, routes: list[tuple[str, str]]) -> list[str]:
    """Every way the routes' answers differ from ``status``; empty when all is as documented."""
    wrong = []
    for route in routes:
        operation = PROTECTED[route]
        answer = _rest(world, operation, token)
        if answer.status_code != status or answer.headers.get("content-type") != "application/problem+json":
            wrong.append(f"REST {route}: {answer.status_code} {answer.headers.get('content-type')}")
        elif answer.json().get("status") != status:
            wrong.append(f"REST {route}: problem status {answer.json().get('status')}")
        if status == 401 and "bearer" not in answer.headers.get("www-authenticate", "").lower():
            wrong.append(f"REST {route}: no WWW-Authenticate")
        code = _grpc(world, RPCS[route], operation.example, token)
        if code != _GRPC_CODE[status]:
            wrong.append(f"gRPC {RPCS[route].path}: {code}")
    return wrong


@pytest.mark.parametrize("credential", sorted(_STATUS))
def test_a_bad_credential_is_refused_everywhere_and_changes_nothing(world: World, credential: str) -> None:
    before = _agents(world.daemon)
    wrong = _refusals(world, world.tokens[credential], _STATUS[credential], sorted(PROTECTED))
    assert wrong == []
    assert _agents(world.daemon) == before


def test_an_agent_role_token_is_forbidden_on_admin_operations_and_changes_nothing(world: World) -> None:
    admin_only = sorted(route for route, op in PROTECTED.items() if "agents" in op.tags)
    assert len(admin_only) >= 7
    before = _agents(world.daemon)
    assert _refusals(world, world.tokens["agent role"], 403, admin_only) == []
    assert _agents(world.daemon) == before


def test_a_revoked_agent_is_refused_at_once_though_its_token_is_unexpired(world: World) -> None:
    claims = jwt.decode(world.tokens["revoked agent"], options={"verify_signature": False})
    assert claims["exp"] > time.time() + 60
    with world.daemon.client(world.tokens["revoked agent"]) as client:
        answer = client.get(f"/agents/{world.target}")
    assert answer.status_code == 403
    assert answer.json()["reason"] == "revoked"


def test_an_unauthenticated_caller_gets_401_before_any_check_of_its_input(world: World) -> None:
    with world.daemon.client() as client:
        for method, path, body in [
            ("POST", "/agents", {"name": 5, "unknown": True}),
            ("POST", "/agents", "[[[["),
            ("GET", "/agents?pageSize=100000&page=0", None),
            ("GET", "/agents/not-a-uuid", None),
            ("PUT", f"/agents/{uuid.uuid4()}/policy", {}),
        ]:
            content = body if isinstance(body, str) else json.dumps(body) if body is not None else None
            answer = client.request(method, path, content=content, headers={"content-type": "application/json"})
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.json()["detail"] == "missing bearer token"
