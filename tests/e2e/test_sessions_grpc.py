"""Issue 8 over gRPC, with the generated stubs on the real daemon: governed sessions (limits, live counts from real
Forward and Check calls, completion, interruption and the refusals after it, the session's audit), an agent's
governance fields and its sub-agents, shadow policies, replay and the compliance export."""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format

from tests.e2e.daemon import Daemon, bearer
from tests.e2e.proxy_agents import governed
from tests.integration.upstream import UpstreamServer
from vectra.grpc.generated.vectra.v1 import (
    agents_pb2,
    agents_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    compliance_pb2,
    compliance_pb2_grpc,
    proxy_pb2,
    proxy_pb2_grpc,
    replay_pb2,
    replay_pb2_grpc,
    sessions_pb2,
    sessions_pb2_grpc,
)

pytestmark = pytest.mark.e2e

Metadata = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Stubs:
    agents: agents_pb2_grpc.AgentServiceStub
    sessions: sessions_pb2_grpc.SessionServiceStub
    proxy: proxy_pb2_grpc.ProxyServiceStub
    audit: audit_pb2_grpc.AuditServiceStub
    compliance: compliance_pb2_grpc.ComplianceServiceStub
    replay: replay_pb2_grpc.ReplayServiceStub
    admin: Metadata


@dataclass(frozen=True)
class GovernedAgent:
    id: str
    policy: str
    auth: Metadata


@pytest.fixture(scope="module")
def grpc_stubs(daemon: Daemon) -> Iterator[Stubs]:
    with daemon.channel() as channel:
        yield Stubs(agents_pb2_grpc.AgentServiceStub(channel), sessions_pb2_grpc.SessionServiceStub(channel),
                    proxy_pb2_grpc.ProxyServiceStub(channel), audit_pb2_grpc.AuditServiceStub(channel),
                    compliance_pb2_grpc.ComplianceServiceStub(channel), replay_pb2_grpc.ReplayServiceStub(channel),
                    bearer(daemon.admin_token or ""))


@pytest.fixture
def new_agent(daemon: Daemon, admin: httpx.Client, grpc_stubs: Stubs) -> Callable[..., GovernedAgent]:
    """Register (over gRPC) an agent under a ``governed`` policy of its own, with the limits given."""

    def make(**fields: Any) -> GovernedAgent:
        policy = f"p-{uuid.uuid4().hex[:12]}"
        assert admin.put(f"/policies/{policy}", json=governed(policy)).status_code == 201
        made = grpc_stubs.agents.RegisterAgent(
            agents_pb2.RegisterAgentRequest(name=f"agent-{policy}", owner_id="team-sessions", **fields),
            metadata=grpc_stubs.admin)
        grpc_stubs.agents.AssignPolicy(agents_pb2.AssignPolicyRequest(agent_id=made.id, policy_name=policy),
                                       metadata=grpc_stubs.admin)
        token = daemon.token_for({"id": made.id, "clientSecret": made.client_secret})
        return GovernedAgent(made.id, policy, bearer(token))

    return make


def refused(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def start(stubs: Stubs, agent: GovernedAgent, **metadata: str) -> sessions_pb2.Session:
    return stubs.sessions.CreateSession(sessions_pb2.CreateSessionRequest(agent_id=agent.id, metadata=metadata),
                                        metadata=agent.auth)


def forward(stubs: Stubs, agent: GovernedAgent, method: str, url: str, session_id: str) -> proxy_pb2.ForwardResponse:
    return stubs.proxy.Forward(proxy_pb2.ForwardRequest(method=method, url=url, session_id=session_id),
                               metadata=agent.auth, timeout=30)


def session_of(stubs: Stubs, session_id: str) -> sessions_pb2.Session:
    return stubs.sessions.GetSession(sessions_pb2.GetSessionRequest(session_id=session_id), metadata=stubs.admin)


# governance fields and sub-agents --------------------------------------------------------------------------------
def test_an_agent_shows_its_own_limits_and_the_defaults_for_the_others(
    grpc_stubs: Stubs, new_agent: Callable[..., GovernedAgent]
) -> None:
    limited = new_agent(max_session_hours=2.5, max_concurrent_sessions=3, max_delegation_depth=2)
    shown = grpc_stubs.agents.GetAgent(agents_pb2.GetAgentRequest(agent_id=limited.id), metadata=grpc_stubs.admin)
    assert (shown.max_session_hours, shown.max_daily_sessions, shown.max_concurrent_sessions,
            shown.max_delegation_depth) == (2.5, 50, 3, 2)
    assert not shown.HasField("parent_agent_id") and not shown.HasField("shadow_policy")

    updated = grpc_stubs.agents.UpdateAgent(agents_pb2.UpdateAgentRequest(
        agent_id=limited.id, max_daily_sessions=agents_pb2.CountLimit(value=7),
        max_delegation_depth=agents_pb2.CountLimit(value=0)), metadata=grpc_stubs.admin)
    assert (updated.max_session_hours, updated.max_daily_sessions, updated.max_concurrent_sessions,
            updated.max_delegation_depth) == (2.5, 7, 3, 0)
    assert grpc_stubs.agents.GetAgent(agents_pb2.GetAgentRequest(agent_id=limited.id),
                                      metadata=grpc_stubs.admin) == updated

    defaults = grpc_stubs.agents.UpdateAgent(agents_pb2.UpdateAgentRequest(
        agent_id=limited.id, max_session_hours=agents_pb2.HoursLimit(),
        max_daily_sessions=agents_pb2.CountLimit()), metadata=grpc_stubs.admin)
    assert (defaults.max_session_hours, defaults.max_daily_sessions, defaults.max_concurrent_sessions) == (8, 50, 3)

    plain = new_agent()
    shown = grpc_stubs.agents.GetAgent(agents_pb2.GetAgentRequest(agent_id=plain.id), metadata=grpc_stubs.admin)
    assert (shown.max_session_hours, shown.max_daily_sessions, shown.max_concurrent_sessions,
            shown.max_delegation_depth) == (8, 50, 10, 0)


@pytest.mark.parametrize("limit", [
    {"max_session_hours": 0.05}, {"max_session_hours": 24.5}, {"max_daily_sessions": 0},
    {"max_daily_sessions": 1001}, {"max_concurrent_sessions": -1}, {"max_delegation_depth": 6},
])
def test_limits_out_of_range_are_invalid_argument_and_change_nothing(
    grpc_stubs: Stubs, new_agent: Callable[..., GovernedAgent], limit: dict[str, Any]
) -> None:
    listed = grpc_stubs.agents.ListAgents(agents_pb2.ListAgentsRequest(), metadata=grpc_stubs.admin).total_count
    failure = refused(lambda: grpc_stubs.agents.RegisterAgent(
        agents_pb2.RegisterAgentRequest(name="out-of-range", owner_id="team", **limit), metadata=grpc_stubs.admin))
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert grpc_stubs.agents.ListAgents(agents_pb2.ListAgentsRequest(),
                                        metadata=grpc_stubs.admin).total_count == listed

    agent = new_agent()
    before = grpc_stubs.agents.GetAgent(agents_pb2.GetAgentRequest(agent_id=agent.id), metadata=grpc_stubs.admin)
    name, value = next(iter(limit.items()))
    wrapped = agents_pb2.HoursLimit(value=value) if name == "max_session_hours" else agents_pb2.CountLimit(value=value)
    failure = refused(lambda: grpc_stubs.agents.UpdateAgent(
        agents_pb2.UpdateAgentRequest(agent_id=agent.id, **{name: wrapped}), metadata=grpc_stubs.admin))
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert grpc_stubs.agents.GetAgent(agents_pb2.GetAgentRequest(agent_id=agent.id),
                                      metadata=grpc_stubs.admin) == before


def test_an_agent_registers_sub_agents_within_its_capabilities_and_depth(
    daemon: Daemon, grpc_stubs: Stubs, new_agent: Callable[..., GovernedAgent]
) -> None:
    parent = new_agent(capabilities=["file_access", "api_call"], max_delegation_depth=2)

    def register(by: GovernedAgent, **fields: Any) -> agents_pb2.RegisterAgentResponse:
        return grpc_stubs.agents.RegisterAgent(
            agents_pb2.RegisterAgentRequest(name=f"sub-{uuid.uuid4().hex[:8]}", owner_id="team-sessions",
                                            parent_agent_id=by.id, **fields), metadata=by.auth)

    child = register(parent, capabilities=["api_call"])
    shown = grpc_stubs.agents.GetAgent(agents_pb2.GetAgentRequest(agent_id=child.id), metadata=grpc_stubs.admin)
    assert (shown.parent_agent_id, list(shown.capabilities), shown.max_delegation_depth, list(shown.roles)) == \
        (parent.id, ["api_call"], 1, ["agent"])

    beyond = refused(lambda: register(parent, capabilities=["api_call", "mail_send"]))
    assert beyond.code() == grpc.StatusCode.INVALID_ARGUMENT and "mail_send" in beyond.details()
    too_deep = refused(lambda: register(parent, max_delegation_depth=2))
    assert too_deep.code() == grpc.StatusCode.INVALID_ARGUMENT

    child_agent = GovernedAgent(child.id, "", bearer(daemon.token_for({"id": child.id,
                                                                       "clientSecret": child.client_secret})))
    grandchild = register(child_agent)
    shown = grpc_stubs.agents.GetAgent(agents_pb2.GetAgentRequest(agent_id=grandchild.id), metadata=grpc_stubs.admin)
    assert (shown.parent_agent_id, shown.max_delegation_depth, list(shown.capabilities)) == (child.id, 0, [])
    grandchild_agent = GovernedAgent(grandchild.id, "", bearer(daemon.token_for(
        {"id": grandchild.id, "clientSecret": grandchild.client_secret})))
    at_the_bottom = refused(lambda: register(grandchild_agent))
    assert at_the_bottom.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "may not register sub-agents" in at_the_bottom.details()

    not_itself = refused(lambda: grpc_stubs.agents.RegisterAgent(
        agents_pb2.RegisterAgentRequest(name="stray", owner_id="team", parent_agent_id=child.id),
        metadata=parent.auth))
    assert not_itself.code() == grpc.StatusCode.PERMISSION_DENIED


# sessions --------------------------------------------------------------------------------------------------------
def test_an_agent_starts_its_session_and_reads_it_back(grpc_stubs: Stubs, new_agent: Callable[..., GovernedAgent]
                                                       ) -> None:
    agent = new_agent(max_session_hours=4)
    session = start(grpc_stubs, agent, ticket="T-1")

    assert re.fullmatch(r"vs_[0-9a-f]{32}", session.id)
    assert (session.agent_id, session.status, dict(session.metadata)) == \
        (agent.id, sessions_pb2.SESSION_STATUS_ACTIVE, {"ticket": "T-1"})
    assert session.expires_at.ToDatetime() - session.created_at.ToDatetime() == timedelta(hours=4)
    assert (session.policy_name, session.counts) == (agent.policy, sessions_pb2.SessionCounts())
    assert not session.HasField("ended_at")
    assert grpc_stubs.sessions.GetSession(sessions_pb2.GetSessionRequest(session_id=session.id),
                                          metadata=agent.auth) == session


def test_who_may_begin_read_and_stop_a_session(grpc_stubs: Stubs, new_agent: Callable[..., GovernedAgent]) -> None:
    agent, stranger, revoked = new_agent(), new_agent(), new_agent()
    session = start(grpc_stubs, agent)
    admin = grpc_stubs.admin

    def code(call: Callable[[], object]) -> grpc.StatusCode:
        return refused(call).code()

    assert code(lambda: grpc_stubs.sessions.CreateSession(sessions_pb2.CreateSessionRequest(agent_id=agent.id),
                                                          metadata=stranger.auth)) == grpc.StatusCode.PERMISSION_DENIED
    assert code(lambda: grpc_stubs.sessions.CreateSession(
        sessions_pb2.CreateSessionRequest(agent_id=str(uuid.uuid4())), metadata=admin)) == grpc.StatusCode.NOT_FOUND
    grpc_stubs.agents.RevokeAgent(agents_pb2.RevokeAgentRequest(agent_id=revoked.id), metadata=admin)
    assert code(lambda: grpc_stubs.sessions.CreateSession(sessions_pb2.CreateSessionRequest(agent_id=revoked.id),
                                                          metadata=admin)) == grpc.StatusCode.PERMISSION_DENIED
    # another agent's session is not there for it at all
    assert code(lambda: grpc_stubs.sessions.GetSession(sessions_pb2.GetSessionRequest(session_id=session.id),
                                                       metadata=stranger.auth)) == grpc.StatusCode.NOT_FOUND
    assert code(lambda: grpc_stubs.sessions.InterruptSession(
        sessions_pb2.InterruptSessionRequest(session_id=session.id, reason="mine"), metadata=agent.auth)) == \
        grpc.StatusCode.PERMISSION_DENIED
    assert code(lambda: grpc_stubs.sessions.GetSession(sessions_pb2.GetSessionRequest(session_id="vs_" + "0" * 32),
                                                       metadata=admin)) == grpc.StatusCode.NOT_FOUND
    assert code(lambda: grpc_stubs.sessions.CreateSession(sessions_pb2.CreateSessionRequest(agent_id=agent.id))) == \
        grpc.StatusCode.UNAUTHENTICATED
    assert session_of(grpc_stubs, session.id).status == sessions_pb2.SESSION_STATUS_ACTIVE


def test_the_concurrent_limit_is_resource_exhausted_naming_it_until_a_session_ends(
    grpc_stubs: Stubs, new_agent: Callable[..., GovernedAgent]
) -> None:
    agent = new_agent(max_concurrent_sessions=2)
    first, _ = start(grpc_stubs, agent), start(grpc_stubs, agent)

    failure = refused(lambda: start(grpc_stubs, agent))
    assert failure.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert failure.details().startswith("maxConcurrentSessions (2) reached")

    grpc_stubs.sessions.CompleteSession(sessions_pb2.CompleteSessionRequest(session_id=first.id), metadata=agent.auth)
    assert start(grpc_stubs, agent).status == sessions_pb2.SESSION_STATUS_ACTIVE


def test_the_daily_limit_counts_ended_sessions_too(grpc_stubs: Stubs, new_agent: Callable[..., GovernedAgent]
                                                   ) -> None:
    agent = new_agent(max_daily_sessions=2)
    for _ in range(2):
        begun = start(grpc_stubs, agent)
        grpc_stubs.sessions.CompleteSession(sessions_pb2.CompleteSessionRequest(session_id=begun.id),
                                            metadata=agent.auth)

    failure = refused(lambda: start(grpc_stubs, agent))
    assert failure.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert failure.details().startswith("maxDailySessions (2) reached")


def test_counts_are_live_from_real_calls_in_the_session(
    admin: httpx.Client, grpc_stubs: Stubs, new_agent: Callable[..., GovernedAgent], upstream: UpstreamServer
) -> None:
    agent = new_agent()
    session = start(grpc_stubs, agent)
    other = start(grpc_stubs, agent)

    assert forward(grpc_stubs, agent, "GET", f"{upstream.base}/echo", session.id).status == 200
    assert refused(lambda: forward(grpc_stubs, agent, "DELETE", f"{upstream.base}/x", session.id)).code() == \
        grpc.StatusCode.PERMISSION_DENIED
    parked = forward(grpc_stubs, agent, "PUT", f"{upstream.base}/review/1", session.id)
    assert parked.status == 202
    checked = grpc_stubs.proxy.Check(proxy_pb2.CheckRequest(method="GET", url=f"{upstream.base}/echo",
                                                            session_id=session.id), metadata=agent.auth)
    assert checked.decision.effect == "Allow"
    assert forward(grpc_stubs, agent, "GET", f"{upstream.base}/echo", other.id).status == 200
    assert forward(grpc_stubs, agent, "GET", f"{upstream.base}/echo", "").status == 200  # in no session

    counts = session_of(grpc_stubs, session.id).counts
    assert (counts.governed, counts.allowed, counts.denied, counts.pending, counts.approved) == (4, 2, 1, 1, 0)
    assert session_of(grpc_stubs, other.id).counts.governed == 1
    assert admin.post(f"/hitl/{parked.pending.id}/approve", json={}).status_code == 200
    counts = session_of(grpc_stubs, session.id).counts
    assert (counts.governed, counts.pending, counts.approved) == (4, 0, 1)

    listed = grpc_stubs.sessions.ListSessions(sessions_pb2.ListSessionsRequest(agent_id=agent.id),
                                              metadata=agent.auth)
    assert (listed.total_count, listed.total_pages) == (2, 1)
    assert {item.id: item.counts.governed for item in listed.items} == {session.id: 4, other.id: 1}

    audit = grpc_stubs.sessions.ListSessionAudit(sessions_pb2.ListSessionAuditRequest(session_id=session.id),
                                                 metadata=grpc_stubs.admin)
    assert (audit.session_id, audit.count) == (session.id, len(audit.records))
    assert audit.records[0].action == "session.created"
    calls = [r for r in audit.records if r.action.startswith("proxy.")]
    assert [(r.method, r.decision) for r in calls] == [("GET", "Allow"), ("DELETE", "Deny"), ("PUT", "Hitl"),
                                                       ("GET", "Allow")]
    assert all(json_format.MessageToDict(r.details)["sessionId"] == session.id for r in calls)
    assert [r.id for r in audit.records] == sorted(r.id for r in audit.records)  # oldest first

    by_filter = grpc_stubs.audit.ListAudit(audit_pb2.ListAuditRequest(session_id=session.id, page_size=100),
                                           metadata=grpc_stubs.admin)
    assert sorted(r.id for r in by_filter.items) == [r.id for r in audit.records]


def test_an_interrupted_session_refuses_its_calls_without_reaching_the_upstream(
    grpc_stubs: Stubs, new_agent: Callable[..., GovernedAgent], upstream: UpstreamServer
) -> None:
    agent = new_agent()
    session = start(grpc_stubs, agent)

    stopped = grpc_stubs.sessions.InterruptSession(
        sessions_pb2.InterruptSessionRequest(session_id=session.id, reason="loops on the same page"),
        metadata=grpc_stubs.admin)
    assert (stopped.status, stopped.end_reason, stopped.ended_by) == \
        (sessions_pb2.SESSION_STATUS_INTERRUPTED, "loops on the same page", "operator")
    assert stopped.HasField("ended_at")

    again = refused(lambda: grpc_stubs.sessions.InterruptSession(
        sessions_pb2.InterruptSessionRequest(session_id=session.id, reason="twice"), metadata=grpc_stubs.admin))
    assert again.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert refused(lambda: grpc_stubs.sessions.CompleteSession(
        sessions_pb2.CompleteSessionRequest(session_id=session.id), metadata=agent.auth)).code() == \
        grpc.StatusCode.FAILED_PRECONDITION

    reached = len(upstream.requests)
    forwarded = refused(lambda: forward(grpc_stubs, agent, "GET", f"{upstream.base}/echo", session.id))
    assert forwarded.code() == grpc.StatusCode.PERMISSION_DENIED
    assert forwarded.details() == f"session {session.id} is interrupted: loops on the same page"
    checked = refused(lambda: grpc_stubs.proxy.Check(
        proxy_pb2.CheckRequest(method="GET", url=f"{upstream.base}/echo", session_id=session.id),
        metadata=agent.auth))
    assert checked.code() == grpc.StatusCode.PERMISSION_DENIED
    assert len(upstream.requests) == reached

    refusals = grpc_stubs.audit.ListAudit(audit_pb2.ListAuditRequest(agent_id=agent.id, decision="SessionRefused"),
                                          metadata=grpc_stubs.admin)
    assert refusals.total_count == 2
    assert session_of(grpc_stubs, session.id).status == sessions_pb2.SESSION_STATUS_INTERRUPTED


def test_check_stream_items_carry_their_session_and_an_ended_one_is_refused_alone(
    grpc_stubs: Stubs, new_agent: Callable[..., GovernedAgent], upstream: UpstreamServer
) -> None:
    agent = new_agent()
    session, ended = start(grpc_stubs, agent), start(grpc_stubs, agent)
    grpc_stubs.sessions.CompleteSession(sessions_pb2.CompleteSessionRequest(session_id=ended.id), metadata=agent.auth)

    def batch(*session_ids: str) -> proxy_pb2.CheckBatch:
        return proxy_pb2.CheckBatch(checks=[proxy_pb2.CheckRequest(method="GET", url=f"{upstream.base}/echo",
                                                                   session_id=named) for named in session_ids])

    answers = list(grpc_stubs.proxy.CheckStream(iter([batch(session.id, session.id, "")]), metadata=agent.auth))
    assert [r.decision.effect for r in answers[0].results] == ["Allow"] * 3
    assert session_of(grpc_stubs, session.id).counts.governed == 2

    mixed = list(grpc_stubs.proxy.CheckStream(iter([batch(ended.id, session.id, "vs_bad")]), metadata=agent.auth))
    assert [(r.decision.effect, r.decision.reason.split(":")[0]) for r in mixed[0].results] == [
        ("SessionRefused", f"session {ended.id} is completed"), ("Allow", ""),
        ("Invalid", "Vectra-Session must be a session id (vs_ and 32 hexadecimal digits)")]
    assert session_of(grpc_stubs, session.id).counts.governed == 3


def test_a_completed_session_and_another_agents_session_are_refused(
    grpc_stubs: Stubs, new_agent: Callable[..., GovernedAgent], upstream: UpstreamServer
) -> None:
    agent, stranger = new_agent(), new_agent()
    session = start(grpc_stubs, agent)

    theirs = refused(lambda: forward(grpc_stubs, stranger, "GET", f"{upstream.base}/echo", session.id))
    assert (theirs.code(), theirs.details()) == \
        (grpc.StatusCode.PERMISSION_DENIED, f"session {session.id} is not a session of this agent")

    done = grpc_stubs.sessions.CompleteSession(sessions_pb2.CompleteSessionRequest(session_id=session.id),
                                               metadata=agent.auth)
    assert (done.status, done.ended_by) == (sessions_pb2.SESSION_STATUS_COMPLETED, agent.id)
    after = refused(lambda: forward(grpc_stubs, agent, "GET", f"{upstream.base}/echo", session.id))
    assert after.code() == grpc.StatusCode.PERMISSION_DENIED
    assert after.details().startswith(f"session {session.id} is completed")

    listed = grpc_stubs.sessions.ListSessions(
        sessions_pb2.ListSessionsRequest(agent_id=agent.id, status=sessions_pb2.SESSION_STATUS_ACTIVE),
        metadata=grpc_stubs.admin)
    assert listed.total_count == 0


_TIMES = ("createdAt", "expiresAt", "endedAt", "since", "lastSeenAt")
_INT64 = ("policyVersion", "governed", "allowed", "denied", "pending", "approved")


def _comparable(name: str, value: Any) -> Any:
    """A JSON value of either surface as the other would give it: times parsed, int64 (a JSON string in proto3's
    mapping) as numbers, enum names as REST's words."""
    if isinstance(value, dict):
        return {key: _comparable(key, item) for key, item in value.items() if item is not None}
    if name in _TIMES and value is not None:
        return datetime.fromisoformat(value)
    if name == "status" and isinstance(value, str):
        return value.removeprefix("SESSION_STATUS_").lower()
    if name in _INT64 and isinstance(value, str):
        return int(value)
    return value


def _grpc_json(message: Any) -> Any:
    return _comparable("", json_format.MessageToDict(message, always_print_fields_with_no_presence=True))


def test_rest_and_grpc_show_the_same_session_and_limits(
    admin: httpx.Client, grpc_stubs: Stubs, new_agent: Callable[..., GovernedAgent], upstream: UpstreamServer
) -> None:
    agent = new_agent(max_session_hours=3, max_daily_sessions=9)
    session = start(grpc_stubs, agent, run="nightly")
    assert forward(grpc_stubs, agent, "GET", f"{upstream.base}/echo", session.id).status == 200
    grpc_stubs.sessions.InterruptSession(sessions_pb2.InterruptSessionRequest(session_id=session.id, reason="stop"),
                                         metadata=grpc_stubs.admin)

    rest = _comparable("", admin.get(f"/sessions/{session.id}").json())
    assert _grpc_json(session_of(grpc_stubs, session.id)) == rest
    assert rest["status"] == "interrupted" and rest["counts"]["governed"] == 1

    shown = _grpc_json(grpc_stubs.agents.GetAgent(agents_pb2.GetAgentRequest(agent_id=agent.id),
                                                  metadata=grpc_stubs.admin))
    rest_agent = admin.get(f"/agents/{agent.id}").json()
    limits = ("maxSessionHours", "maxDailySessions", "maxConcurrentSessions", "maxDelegationDepth")
    assert {key: shown[key] for key in limits} == {key: rest_agent[key] for key in limits} == \
        {"maxSessionHours": 3, "maxDailySessions": 9, "maxConcurrentSessions": 10, "maxDelegationDepth": 0}


def test_bad_session_input_is_invalid_argument_and_changes_nothing(
    grpc_stubs: Stubs, new_agent: Callable[..., GovernedAgent], upstream: UpstreamServer
) -> None:
    agent = new_agent()
    session = start(grpc_stubs, agent)
    admin = grpc_stubs.admin
    bad: list[Callable[[], object]] = [
        lambda: grpc_stubs.sessions.CreateSession(sessions_pb2.CreateSessionRequest(agent_id="not-a-uuid"),
                                                  metadata=admin),
        lambda: grpc_stubs.sessions.InterruptSession(
            sessions_pb2.InterruptSessionRequest(session_id=session.id, reason=""), metadata=admin),
        lambda: grpc_stubs.sessions.InterruptSession(
            sessions_pb2.InterruptSessionRequest(session_id=session.id, reason="r" * 1001), metadata=admin),
        lambda: grpc_stubs.sessions.ListSessionAudit(
            sessions_pb2.ListSessionAuditRequest(session_id=session.id, limit=1001), metadata=admin),
        lambda: grpc_stubs.sessions.ListSessions(sessions_pb2.ListSessionsRequest(page_size=101), metadata=admin),
        lambda: grpc_stubs.sessions.ListSessions(sessions_pb2.ListSessionsRequest(status=99), metadata=admin),
        lambda: forward(grpc_stubs, agent, "GET", f"{upstream.base}/echo", "vs_NOT-A-SESSION"),
        lambda: grpc_stubs.proxy.Check(proxy_pb2.CheckRequest(method="GET", url=f"{upstream.base}/echo",
                                                              session_id=session.id.upper()), metadata=agent.auth),
    ]
    reached = len(upstream.requests)
    for call in bad:
        assert refused(call).code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(upstream.requests) == reached
    assert session_of(grpc_stubs, session.id) == session
    listed = grpc_stubs.sessions.ListSessions(sessions_pb2.ListSessionsRequest(agent_id=agent.id), metadata=admin)
    assert listed.total_count == 1


# shadow, replay, compliance --------------------------------------------------------------------------------------
def _deny_gets(name: str) -> dict[str, Any]:
    return governed(name) | {"default": "Allow", "rules": [
        {"name": "no-gets", "priority": 100, "effect": "Deny", "reason": "reads are off",
         "conditions": [{"field": "input.method", "operator": "eq", "value": "GET"}]}]}


def test_a_shadow_policy_judges_calls_and_counts_its_disagreements(
    admin: httpx.Client, grpc_stubs: Stubs, new_agent: Callable[..., GovernedAgent], upstream: UpstreamServer
) -> None:
    agent = new_agent()
    candidate = f"shadow-{uuid.uuid4().hex[:8]}"
    assert admin.put(f"/policies/{candidate}", json=_deny_gets(candidate)).status_code == 201

    attached = grpc_stubs.agents.PutShadowPolicy(
        agents_pb2.PutShadowPolicyRequest(agent_id=agent.id, policy_name=candidate), metadata=grpc_stubs.admin)
    assert (attached.agent_id, attached.policy_name, attached.policy_version, attached.judged) == \
        (agent.id, candidate, 1, 0)
    shown = grpc_stubs.agents.GetAgent(agents_pb2.GetAgentRequest(agent_id=agent.id), metadata=grpc_stubs.admin)
    assert (shown.shadow_policy.policy_name, shown.shadow_policy.policy_version) == (candidate, 1)

    session = start(grpc_stubs, agent)
    assert forward(grpc_stubs, agent, "GET", f"{upstream.base}/echo", session.id).status == 200  # decided by live
    assert forward(grpc_stubs, agent, "POST", f"{upstream.base}/echo", session.id).status == 200

    status = grpc_stubs.agents.GetShadowPolicy(agents_pb2.GetShadowPolicyRequest(agent_id=agent.id),
                                               metadata=grpc_stubs.admin)
    assert (status.judged, status.agreed, status.disagreed) == (2, 1, 1)
    disagreed = grpc_stubs.audit.ListAudit(audit_pb2.ListAuditRequest(agent_id=agent.id, shadow="disagreed"),
                                           metadata=grpc_stubs.admin)
    assert [(r.method, json_format.MessageToDict(r.details)["shadow"]["effect"]) for r in disagreed.items] == \
        [("GET", "Deny")]

    grpc_stubs.agents.DeleteShadowPolicy(agents_pb2.DeleteShadowPolicyRequest(agent_id=agent.id),
                                         metadata=grpc_stubs.admin)
    gone = refused(lambda: grpc_stubs.agents.GetShadowPolicy(agents_pb2.GetShadowPolicyRequest(agent_id=agent.id),
                                                             metadata=grpc_stubs.admin))
    assert gone.code() == grpc.StatusCode.NOT_FOUND
    unknown = refused(lambda: grpc_stubs.agents.PutShadowPolicy(
        agents_pb2.PutShadowPolicyRequest(agent_id=agent.id, policy_name="no-such-policy"), metadata=grpc_stubs.admin))
    assert unknown.code() == grpc.StatusCode.NOT_FOUND


def test_replay_shows_what_a_candidate_would_change(
    admin: httpx.Client, grpc_stubs: Stubs, new_agent: Callable[..., GovernedAgent], upstream: UpstreamServer
) -> None:
    agent = new_agent()
    session = start(grpc_stubs, agent)
    for method in ("GET", "POST", "GET"):
        assert forward(grpc_stubs, agent, method, f"{upstream.base}/echo", session.id).status == 200
    candidate = f"cand-{uuid.uuid4().hex[:8]}"
    assert admin.put(f"/policies/{candidate}", json=_deny_gets(candidate)).status_code == 201

    # the request is POST /replay's body, field for field
    by_session = {"sessionId": session.id, "policy": {"name": candidate, "version": 1}}
    request = json_format.ParseDict(by_session, replay_pb2.ReplayRequest())
    assert json_format.MessageToDict(request) == by_session
    report = grpc_stubs.replay.Replay(request, metadata=grpc_stubs.admin)
    assert (report.total_replayed, report.consistent, report.changed, report.incomplete) == (3, 1, 2, 0)
    assert (report.policy.name, report.policy.version) == (candidate, 1)
    assert [(c.method, c.original_decision, c.replayed_decision, c.rule) for c in report.changes] == \
        [("GET", "Allow", "Deny", "no-gets")] * 2

    by_period = {"agentId": agent.id, "from": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
                 "to": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
                 "policy": {"document": {"name": "draft", "default": "Deny"}}}
    drafted = grpc_stubs.replay.Replay(json_format.ParseDict(by_period, replay_pb2.ReplayRequest()),
                                       metadata=grpc_stubs.admin)
    assert (drafted.total_replayed, drafted.changed) == (3, 3)
    assert not drafted.policy.HasField("version")
    over_rest = admin.post("/replay", json=by_period).json()  # the same body, the same answer
    assert (over_rest["totalReplayed"], over_rest["changed"], [c["auditId"] for c in over_rest["changes"]]) == \
        (drafted.total_replayed, drafted.changed, [c.audit_id for c in drafted.changes])

    no_scope = refused(lambda: grpc_stubs.replay.Replay(
        replay_pb2.ReplayRequest(policy=replay_pb2.ReplayPolicy(name=candidate)), metadata=grpc_stubs.admin))
    assert no_scope.code() == grpc.StatusCode.INVALID_ARGUMENT
    by_agent = refused(lambda: grpc_stubs.replay.Replay(request, metadata=agent.auth))
    assert by_agent.code() == grpc.StatusCode.PERMISSION_DENIED


def test_the_compliance_export_is_the_json_document_or_the_html_page(
    admin: httpx.Client, grpc_stubs: Stubs, new_agent: Callable[..., GovernedAgent], upstream: UpstreamServer
) -> None:
    agent = new_agent()
    session = start(grpc_stubs, agent)
    assert forward(grpc_stubs, agent, "GET", f"{upstream.base}/echo", session.id).status == 200
    assert refused(lambda: forward(grpc_stubs, agent, "DELETE", f"{upstream.base}/x", session.id)).code() == \
        grpc.StatusCode.PERMISSION_DENIED

    export = grpc_stubs.compliance.GetSessionCompliance(
        compliance_pb2.GetSessionComplianceRequest(session_id=session.id), metadata=grpc_stubs.admin)
    assert export.content_type == "application/json"
    document = json.loads(export.document)
    assert (document["kind"], document["scope"], document["agent"]["id"]) == \
        ("vectra.compliance/v1", {"sessionId": session.id}, agent.id)
    assert (document["summary"]["governed"], document["summary"]["denied"]) == (2, 1)
    assert document["chain"]["verified"] is True
    served = admin.get(f"/sessions/{session.id}/compliance")
    assert served.headers["content-type"].startswith(export.content_type)
    assert {**served.json(), "generatedAt": None} == {**document, "generatedAt": None}  # REST's very document

    page = grpc_stubs.compliance.GetSessionCompliance(
        compliance_pb2.GetSessionComplianceRequest(session_id=session.id, format="html"), metadata=grpc_stubs.admin)
    assert page.content_type.startswith("text/html") and session.id in page.document.decode()

    period = grpc_stubs.compliance.GetCompliance(compliance_pb2.GetComplianceRequest(
        agent_id=agent.id, from_time=(datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        to_time=(datetime.now(UTC) + timedelta(minutes=1)).isoformat()), metadata=grpc_stubs.admin)
    assert json.loads(period.document)["scope"]["agentId"] == agent.id

    pdf = compliance_pb2.GetSessionComplianceRequest(session_id=session.id, format="pdf")
    assert refused(lambda: grpc_stubs.compliance.GetSessionCompliance(pdf, metadata=grpc_stubs.admin)).code() \
        == grpc.StatusCode.INVALID_ARGUMENT
    for times in ({"from_time": "yesterday", "to_time": "2026-01-01T00:00:00Z"},
                  {"from_time": "2026-01-02T00:00:00Z", "to_time": "2026-01-01T00:00:00Z"}, {}):
        bad = compliance_pb2.GetComplianceRequest(agent_id=agent.id, **times)
        assert refused(functools.partial(grpc_stubs.compliance.GetCompliance, bad, metadata=grpc_stubs.admin)
                       ).code() == grpc.StatusCode.INVALID_ARGUMENT
    by_agent = refused(lambda: grpc_stubs.compliance.GetSessionCompliance(
        compliance_pb2.GetSessionComplianceRequest(session_id=session.id), metadata=agent.auth))
    assert by_agent.code() == grpc.StatusCode.PERMISSION_DENIED
