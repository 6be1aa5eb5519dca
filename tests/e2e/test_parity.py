"""One sequence of operations, run through REST and through gRPC against the same daemon, gives the same agents
and the same errors (HTTP status ↔ gRPC code as in DESIGN.md's table)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import grpc
import httpx
import pytest
from google.protobuf.json_format import MessageToDict

from tests.e2e.daemon import Daemon, Stubs, bearer
from vectra.grpc.generated.vectra.v1 import agents_pb2, tokens_pb2

# DESIGN.md, Errors: the status each gRPC code stands for.
HTTP_STATUS_OF = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
}
UNKNOWN_ID = str(uuid.UUID(int=1))
BAD_ID = "not-a-uuid"
SECRET = "my-strong-secret"

Outcome = tuple[int, Any]  # (HTTP status class: 200 for any success, the answer as plain data)


def _agent(data: dict[str, Any]) -> dict[str, Any]:
    """An agent from either surface as plain data with REST's names."""
    status = str(data.get("status", "")).removeprefix("AGENT_STATUS_").capitalize()
    return {
        "id": data["id"],
        "name": data["name"],
        "ownerId": data.get("ownerId"),
        "status": status,
        "policyName": data.get("policyName"),
        "trustScore": data.get("trustScore", 0.0),
        "roles": list(data.get("roles", [])),
        "createdAt": datetime.fromisoformat(data["createdAt"]),
        "lastSeenAt": datetime.fromisoformat(data["lastSeenAt"]) if data.get("lastSeenAt") else None,
    }


class Surface(Protocol):
    def register(self, actor: str | None, name: str, secret: str | None, roles: list[str]) -> Outcome: ...
    def token(self, agent_id: str, secret: str) -> Outcome: ...
    def list(self, actor: str | None, page_size: int) -> Outcome: ...
    def get(self, actor: str | None, agent_id: str) -> Outcome: ...
    def assign(self, actor: str | None, agent_id: str, policy_name: str) -> Outcome: ...
    def revoke(self, actor: str | None, agent_id: str) -> Outcome: ...
    def lift(self, actor: str | None, agent_id: str) -> Outcome: ...
    def delete(self, actor: str | None, agent_id: str) -> Outcome: ...


class Rest:
    """The operations over HTTP; ``actor`` is the bearer token (None: none)."""

    def __init__(self, daemon: Daemon) -> None:
        self.http = httpx.Client(base_url=daemon.url, timeout=30)

    def _call(self, method: str, path: str, actor: str | None, **kwargs: Any) -> Outcome:
        headers = {"Authorization": f"Bearer {actor}"} if actor else {}
        answer = self.http.request(method, path, headers=headers, **kwargs)
        if answer.status_code >= 400:
            assert answer.headers["content-type"].startswith("application/problem+json"), answer.text
            return answer.status_code, None
        assert answer.status_code in (200, 201), answer.text
        return 200, answer.json() if answer.content else None

    def register(self, actor: str | None, name: str, secret: str | None, roles: list[str]) -> Outcome:
        body = {"name": name, "ownerId": "team-finance", "roles": roles}
        return self._call("POST", "/agents", actor, json=body | ({"clientSecret": secret} if secret else {}))

    def token(self, agent_id: str, secret: str) -> Outcome:
        status, body = self._call("POST", "/tokens", None, json={"agentId": agent_id, "clientSecret": secret})
        return status, body and body["token"]

    def list(self, actor: str | None, page_size: int) -> Outcome:
        status, body = self._call("GET", "/agents", actor, params={"pageSize": page_size})
        return status, body and {**body, "items": [_agent(a) for a in body["items"]]}

    def _agent_call(self, method: str, path: str, actor: str | None, **kwargs: Any) -> Outcome:
        status, body = self._call(method, path, actor, **kwargs)
        return status, body and _agent(body)

    def get(self, actor: str | None, agent_id: str) -> Outcome:
        return self._agent_call("GET", f"/agents/{agent_id}", actor)

    def assign(self, actor: str | None, agent_id: str, policy_name: str) -> Outcome:
        return self._agent_call("PUT", f"/agents/{agent_id}/policy", actor, json={"policyName": policy_name})

    def revoke(self, actor: str | None, agent_id: str) -> Outcome:
        return self._agent_call("POST", f"/agents/{agent_id}/revoke", actor)

    def lift(self, actor: str | None, agent_id: str) -> Outcome:
        return self._agent_call("POST", f"/agents/{agent_id}/lift-quarantine", actor)

    def delete(self, actor: str | None, agent_id: str) -> Outcome:
        return self._call("DELETE", f"/agents/{agent_id}", actor)


class Grpc:
    """The same operations through the generated stubs."""

    def __init__(self, stubs: Stubs) -> None:
        self.stubs = stubs

    @staticmethod
    def _call(rpc: Callable[..., Any], request: Any, actor: str | None) -> Outcome:
        try:
            answer = rpc(request, metadata=bearer(actor) if actor else ())
        except grpc.RpcError as exc:
            return HTTP_STATUS_OF[exc.code()], None
        return 200, MessageToDict(answer) or None  # an empty message is REST's empty body

    def _agent_call(self, rpc: Callable[..., Any], request: Any, actor: str | None) -> Outcome:
        status, body = self._call(rpc, request, actor)
        return status, body and _agent(body)

    def register(self, actor: str | None, name: str, secret: str | None, roles: list[str]) -> Outcome:
        request = agents_pb2.RegisterAgentRequest(name=name, owner_id="team-finance", client_secret=secret or "",
                                                  roles=roles)
        return self._call(self.stubs.agents.RegisterAgent, request, actor)

    def token(self, agent_id: str, secret: str) -> Outcome:
        request = tokens_pb2.IssueTokenRequest(agent_id=agent_id, client_secret=secret)
        status, body = self._call(self.stubs.tokens.IssueToken, request, None)
        return status, body and body["token"]

    def list(self, actor: str | None, page_size: int) -> Outcome:
        request = agents_pb2.ListAgentsRequest(page_size=page_size)
        status, body = self._call(self.stubs.agents.ListAgents, request, actor)
        if body is None:
            return status, None
        items = [_agent(a) for a in body.get("items", [])]
        return status, {"items": items, "page": body["page"], "pageSize": body["pageSize"],
                        "totalCount": int(body["totalCount"])}

    def get(self, actor: str | None, agent_id: str) -> Outcome:
        return self._agent_call(self.stubs.agents.GetAgent, agents_pb2.GetAgentRequest(agent_id=agent_id), actor)

    def assign(self, actor: str | None, agent_id: str, policy_name: str) -> Outcome:
        request = agents_pb2.AssignPolicyRequest(agent_id=agent_id, policy_name=policy_name)
        return self._agent_call(self.stubs.agents.AssignPolicy, request, actor)

    def revoke(self, actor: str | None, agent_id: str) -> Outcome:
        request = agents_pb2.RevokeAgentRequest(agent_id=agent_id)
        return self._agent_call(self.stubs.agents.RevokeAgent, request, actor)

    def lift(self, actor: str | None, agent_id: str) -> Outcome:
        request = agents_pb2.LiftQuarantineRequest(agent_id=agent_id)
        return self._agent_call(self.stubs.agents.LiftQuarantine, request, actor)

    def delete(self, actor: str | None, agent_id: str) -> Outcome:
        return self._call(self.stubs.agents.DeleteAgent, agents_pb2.DeleteAgentRequest(agent_id=agent_id), actor)


class Run:
    """One pass of the sequence through one surface, recording each step's outcome with the run's own ids
    replaced by names (``billing``, ``reviewer``) and timestamps by whether they are set."""

    def __init__(self, surface: Surface, admin_token: str) -> None:
        self.surface = surface
        self.admin = admin_token
        self.ids: dict[str, str] = {}
        self.secrets: dict[str, str] = {}
        self.tokens: dict[str, str] = {}
        self.outcomes: list[tuple[str, Outcome]] = []

    def record(self, step: str, outcome: Outcome) -> Outcome:
        self.outcomes.append((step, (outcome[0], self._portable(outcome[1]))))
        return outcome

    def _portable(self, value: Any) -> Any:
        refs = {agent_id: ref for ref, agent_id in self.ids.items()}
        if isinstance(value, dict) and "items" in value:
            mine = [self._portable(a) for a in value["items"] if a["id"] in refs]
            return {"items": mine, "page": value["page"], "pageSize": value["pageSize"]}
        if isinstance(value, dict) and "createdAt" in value:
            return {**value, "id": refs.get(value["id"], "?"), "createdAt": value["createdAt"] is not None,
                    "lastSeenAt": value["lastSeenAt"] is not None}
        if isinstance(value, dict) and "clientSecret" in value:
            return {"id": refs.get(value["id"], "?"), "name": value["name"],
                    "secret": "given" if value["clientSecret"] == SECRET else len(value["clientSecret"]) >= 32}
        if isinstance(value, str):  # a token
            return "token"
        return value

    def register(self, ref: str, actor: str | None, secret: str | None = None, roles: tuple[str, ...] = ()) -> None:
        status, body = self.surface.register(actor, f"{ref}-agent", secret, list(roles))
        if status == 200:
            self.ids[ref] = body["id"]
            self.secrets[ref] = body["clientSecret"]
        self.record(f"register {ref} as {self.who(actor)}", (status, body))

    def token(self, ref: str, secret: str | None = None) -> None:
        status, token = self.record(f"token {ref}", self.surface.token(self.ids[ref], secret or self.secrets[ref]))
        if status == 200:
            self.tokens[ref] = token

    def who(self, actor: str | None) -> str:
        names = {self.admin: "admin", **{token: ref for ref, token in self.tokens.items()}}
        return names.get(actor, "nobody") if actor else "nobody"

    def step(self, name: str, actor: str | None, *args: Any) -> None:
        """Run one operation; agent names among ``args`` stand for the agents' ids."""
        operation = getattr(self.surface, name)
        outcome = operation(actor, *(self.ids.get(a, a) if isinstance(a, str) else a for a in args))
        self.record(f"{name} {' '.join(map(str, args))} as {self.who(actor)}", outcome)


def _sequence(run: Run) -> None:
    admin = run.admin
    run.register("billing", admin, SECRET)
    run.register("reviewer", admin, roles=("reviewer",))
    run.register("short-secret", admin, "x" * 11)
    run.register("bad-role", admin, roles=("root",))
    run.register("anonymous", None)
    run.token("billing")
    run.token("reviewer")
    run.token("billing", "not-the-secret")
    run.record("token unknown", run.surface.token(UNKNOWN_ID, SECRET))
    billing, reviewer = run.tokens.get("billing"), run.tokens.get("reviewer")
    run.register("by-agent", billing)
    run.register("by-reviewer", reviewer, roles=("admin",))

    run.step("list", admin, 100)
    run.step("list", admin, 101)
    run.step("list", reviewer, 100)
    run.step("list", billing, 100)
    run.step("list", None, 100)
    for actor in (admin, reviewer, billing):
        run.step("get", actor, "billing")
    run.step("get", billing, "reviewer")
    run.step("get", admin, BAD_ID)
    run.step("get", admin, UNKNOWN_ID)

    # assign's own status changes when unknown policies become 404: only the parity of the two surfaces counts.
    run.step("assign", admin, "billing", "billing-policy")
    run.step("assign", admin, "billing", "")
    run.step("assign", admin, BAD_ID, "billing-policy")
    run.step("assign", reviewer, "billing", "billing-policy")

    run.step("lift", admin, "billing")
    run.step("lift", admin, UNKNOWN_ID)
    run.step("lift", admin, BAD_ID)
    run.step("revoke", reviewer, "billing")
    run.step("revoke", admin, UNKNOWN_ID)
    run.step("revoke", admin, "billing")
    run.step("get", billing, "billing")
    run.token("billing")
    run.step("lift", admin, "billing")

    run.step("delete", reviewer, "reviewer")
    run.step("delete", admin, "reviewer")
    run.step("delete", admin, "reviewer")
    run.step("delete", admin, BAD_ID)
    run.step("list", reviewer, 100)
    run.step("get", admin, "billing")


@pytest.fixture(scope="module")
def runs(daemon: Daemon, stubs: Stubs) -> tuple[Run, Run]:
    rest, grpc_run = Run(Rest(daemon), daemon.admin_token), Run(Grpc(stubs), daemon.admin_token)
    _sequence(rest)
    _sequence(grpc_run)
    return rest, grpc_run


def test_rest_and_grpc_give_the_same_outcome_at_every_step(runs: tuple[Run, Run]) -> None:
    rest, grpc_run = runs
    assert [step for step, _ in rest.outcomes] == [step for step, _ in grpc_run.outcomes]
    for (step, over_rest), (_, over_grpc) in zip(rest.outcomes, grpc_run.outcomes, strict=True):
        assert over_rest == over_grpc, step


def test_the_sequence_meets_every_error_class(runs: tuple[Run, Run]) -> None:
    """The parity above means something only if the sequence really succeeds and really fails."""
    statuses = [outcome[0] for _, outcome in runs[0].outcomes]
    assert {200, 400, 401, 403, 404, 409} <= set(statuses)
    outcome = dict(runs[0].outcomes)
    assert outcome["register billing as admin"] == (200, {"id": "billing", "name": "billing-agent", "secret": "given"})
    assert outcome["register reviewer as admin"] == (200, {"id": "reviewer", "name": "reviewer-agent", "secret": True})
    assert outcome["get billing as admin"][1]["status"] == "Revoked"
    assert outcome["assign billing  as admin"][0] == 400
    assert outcome[f"get {BAD_ID} as admin"][0] == 400
    assert outcome[f"get {UNKNOWN_ID} as admin"][0] == 404
    assert outcome["list 100 as billing"][0] == 403
    assert outcome["list 100 as nobody"][0] == 401


def test_each_surface_reads_the_agents_the_other_made_identically(runs: tuple[Run, Run]) -> None:
    rest, grpc_run = runs
    for made in (rest, grpc_run):
        agent_id = made.ids["billing"]
        read = [surface.get(rest.admin, agent_id) for surface in (rest.surface, grpc_run.surface)]
        assert read[0] == read[1]
        assert read[0][0] == 200 and read[0][1]["status"] == "Revoked" and read[0][1]["lastSeenAt"] is not None
