"""Governed sessions and delegation, as use cases over a real store: the limits, the end of a session, who may do
what, and the one rule a sub-agent is registered by."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from vectra.config import Settings
from vectra.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, RateLimited, SessionRefused
from vectra.domain.models import Agent, Governance, Principal, Role
from vectra.domain.sessions import SessionStatus
from vectra.services import agents, sessions
from vectra.services.context import ServiceContext
from vectra.services.keyring import Keyring
from vectra.services.lineage import refuse_if_parent_inactive
from vectra.store import SqliteStore

OPERATOR = Principal(subject="operator", roles=frozenset({Role.ADMIN}))


@pytest.fixture
def ctx(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServiceContext]:
    """A service context whose defaults allow 2 concurrent and 3 daily sessions (a test's ``settings`` mark
    changes them)."""
    marker = request.node.get_closest_marker("settings")
    changed = marker.kwargs if marker else {}
    store = SqliteStore(tmp_path / "vectra.db")
    settings = Settings(data_dir=tmp_path, **{"max_concurrent_sessions": 2, "max_daily_sessions": 3, **changed})
    yield ServiceContext(settings=settings, store=store, keyring=Keyring("k", {"k": b"k" * 32}),
                         admin_token="t" * 32, digest_key=b"d" * 32)
    store.close()


def on_a_loop(test: Callable[[ServiceContext], Awaitable[None]]) -> Callable[[ServiceContext], None]:
    """Run the test's use cases on one event loop, with the audit log's writer running."""
    @functools.wraps(test)
    def run(ctx: ServiceContext) -> None:
        async def scenario() -> None:
            await ctx.audit.start()
            try:
                await test(ctx)
            finally:
                await ctx.audit.stop()
        asyncio.run(scenario())
    return run


async def register(ctx: ServiceContext, actor: Principal = OPERATOR, **fields: Any) -> Agent:
    fields.setdefault("owner_id", "team")
    return (await agents.register_agent(ctx, actor, name=str(fields.pop("name", "agent")), **fields)).agent


def as_agent(agent: Agent) -> Principal:
    return Principal(subject=agent.id, roles=frozenset(agent.roles), agent=agent)


@on_a_loop
async def test_the_concurrent_limit_is_named_in_the_refusal_and_an_ended_session_frees_its_place(
        ctx: ServiceContext) -> None:
    agent = await register(ctx)
    first = await sessions.start_session(ctx, as_agent(agent), agent.id, {"task": "research"})
    await sessions.start_session(ctx, OPERATOR, agent.id)
    with pytest.raises(RateLimited, match=r"maxConcurrentSessions \(2\) reached: 2 sessions .* are active"):
        await sessions.start_session(ctx, OPERATOR, agent.id)
    await sessions.complete_session(ctx, as_agent(agent), first.id)
    third = await sessions.start_session(ctx, OPERATOR, agent.id)
    assert (await sessions.get_session(ctx, OPERATOR, third.id)).status(datetime.now(UTC)) is SessionStatus.ACTIVE
    await sessions.complete_session(ctx, OPERATOR, third.id)
    with pytest.raises(RateLimited, match=r"maxDailySessions \(3\) reached: 3 sessions .* last 24 hours"):
        await sessions.start_session(ctx, OPERATOR, agent.id)
    assert [s.stored_status for s in (await sessions.list_sessions(ctx, OPERATOR, agent_id=agent.id)).items].count(
        SessionStatus.ACTIVE) == 1


@on_a_loop
async def test_an_agents_own_limit_overrides_the_default(ctx: ServiceContext) -> None:
    agent = await register(ctx, governance=Governance(max_concurrent_sessions=1))
    await sessions.start_session(ctx, OPERATOR, agent.id)
    with pytest.raises(RateLimited, match=r"maxConcurrentSessions \(1\)"):
        await sessions.start_session(ctx, OPERATOR, agent.id)


@on_a_loop
async def test_interrupt_ends_the_session_once_and_its_calls_are_refused(ctx: ServiceContext) -> None:
    agent = await register(ctx)
    session = await sessions.start_session(ctx, OPERATOR, agent.id)
    assert sessions.open_session_for(ctx, agent, session.id).id == session.id
    stopped = await sessions.interrupt_session(ctx, OPERATOR, session.id, "touched production credentials")
    assert (stopped.stored_status, stopped.end_reason, stopped.ended_by) == (
        SessionStatus.INTERRUPTED, "touched production credentials", "operator")
    with pytest.raises(Conflict, match="already interrupted"):
        await sessions.interrupt_session(ctx, OPERATOR, session.id, "again")
    with pytest.raises(Conflict):
        await sessions.complete_session(ctx, OPERATOR, session.id)
    with pytest.raises(SessionRefused, match="is interrupted: touched production credentials") as refused:
        sessions.open_session_for(ctx, agent, session.id)
    assert refused.value.extra["sessionId"] == session.id


@pytest.mark.settings(max_session_hours=0.0001)
@on_a_loop
async def test_a_session_past_its_duration_reads_expired_and_refuses_calls(ctx: ServiceContext) -> None:
    agent = await register(ctx)
    session = await sessions.start_session(ctx, OPERATOR, agent.id)
    assert sessions.open_session_for(ctx, agent, session.id).id == session.id  # open for 0.36 s
    while datetime.now(UTC) < session.expires_at:
        await asyncio.sleep(0.05)
    assert (await sessions.get_session(ctx, OPERATOR, session.id)).status(datetime.now(UTC)) is SessionStatus.EXPIRED
    with pytest.raises(SessionRefused, match=r"passed its 0\.0001 h limit"):
        sessions.open_session_for(ctx, agent, session.id)
    with pytest.raises(Conflict, match="already expired"):
        await sessions.interrupt_session(ctx, OPERATOR, session.id, "late")
    assert (await sessions.list_sessions(ctx, OPERATOR, status="expired")).total_count == 1
    assert (await sessions.list_sessions(ctx, OPERATOR, status="active")).total_count == 0


@on_a_loop
async def test_another_agents_session_is_not_found_and_not_usable(ctx: ServiceContext) -> None:
    owner, other = await register(ctx, name="owner"), await register(ctx, name="other")
    session = await sessions.start_session(ctx, as_agent(owner), owner.id)
    with pytest.raises(NotFound):
        await sessions.get_session(ctx, as_agent(other), session.id)
    with pytest.raises(NotFound):
        await sessions.complete_session(ctx, as_agent(other), session.id)
    with pytest.raises(Forbidden):
        await sessions.start_session(ctx, as_agent(other), owner.id)
    with pytest.raises(Forbidden):
        await sessions.interrupt_session(ctx, as_agent(owner), session.id, "mine")
    with pytest.raises(SessionRefused, match="not a session of this agent") as refused:
        sessions.open_session_for(ctx, other, session.id)
    assert "sessionId" not in refused.value.extra  # the refusal is not counted in the owner's session
    with pytest.raises(InvalidInput, match="Vectra-Session must be a session id"):
        sessions.open_session_for(ctx, other, "vs_../etc")
    assert (await sessions.list_sessions(ctx, as_agent(other))).total_count == 0
    with pytest.raises(InvalidInput, match="sessionId"):
        await sessions.get_session(ctx, OPERATOR, "nope")


@on_a_loop
async def test_a_sub_agent_gets_no_more_than_its_parent(ctx: ServiceContext) -> None:
    parent = await register(ctx, capabilities=["internet_access", "mail_send"],
                            governance=Governance(max_delegation_depth=2))
    as_parent = as_agent(parent)
    child = await register(ctx, as_parent, name="child", parent_agent_id=parent.id, capabilities=["internet_access"],
                     owner_id=None)
    assert (child.parent_agent_id, child.owner_id, child.governance.max_delegation_depth) == (parent.id, "team", 1)
    with pytest.raises(InvalidInput, match="lacks 'file_access'"):
        await register(ctx, as_parent, parent_agent_id=parent.id, capabilities=["file_access"])
    with pytest.raises(InvalidInput, match="maxDelegationDepth may be at most 1"):
        await register(ctx, as_parent, parent_agent_id=parent.id, governance=Governance(max_delegation_depth=2))
    grandchild = await register(ctx, as_agent(child), parent_agent_id=child.id)
    assert grandchild.governance.max_delegation_depth == 0
    with pytest.raises(Forbidden, match="maxDelegationDepth is 0"):
        await register(ctx, as_agent(grandchild), parent_agent_id=grandchild.id)
    with pytest.raises(Forbidden, match="of its own only"):
        await register(ctx, as_agent(child), parent_agent_id=parent.id)
    with pytest.raises(Forbidden):
        await register(ctx, as_parent)  # no parent named: an admin's registration
    with pytest.raises(NotFound):
        await register(ctx, parent_agent_id="00000000-0000-4000-8000-000000000000")


@on_a_loop
async def test_limits_are_checked_and_patch_keeps_a_sub_agent_within_its_parent(ctx: ServiceContext) -> None:
    parent = await register(ctx, capabilities=["internet_access"], governance=Governance(max_delegation_depth=1))
    child = await register(ctx, parent_agent_id=parent.id)
    with pytest.raises(InvalidInput, match=r"maxSessionHours must be a number of hours from 0\.1 to 24"):
        await register(ctx, governance=Governance(max_session_hours=30))
    with pytest.raises(InvalidInput, match="maxDailySessions must be a whole number from 1 to 1000"):
        await register(ctx, governance=Governance(max_daily_sessions=0))
    with pytest.raises(InvalidInput, match="maxDelegationDepth may be at most 0"):
        await agents.update_agent(ctx, OPERATOR, child.id, agents.ProfileChange(max_delegation_depth=1))
    with pytest.raises(InvalidInput, match="lacks 'mail_send'"):
        await agents.update_agent(ctx, OPERATOR, child.id, agents.ProfileChange(capabilities=["mail_send"]))
    changed = await agents.update_agent(ctx, OPERATOR, parent.id, agents.ProfileChange(max_session_hours=2.5))
    assert changed.governance.max_session_hours == 2.5
    reset = await agents.update_agent(ctx, OPERATOR, parent.id, agents.ProfileChange(max_session_hours=None))
    assert reset.governance.max_session_hours is None
    assert ctx.store.get_agent(parent.id).governance == Governance(max_delegation_depth=1)


@on_a_loop
async def test_a_sub_agent_stops_with_its_parent_and_keeps_within_its_limits(ctx: ServiceContext) -> None:
    parent = await register(ctx, governance=Governance(max_delegation_depth=2, max_session_hours=1,
                                                       max_concurrent_sessions=1))
    child = await register(ctx, as_agent(parent), parent_agent_id=parent.id, owner_id=None)
    grandchild = await register(ctx, as_agent(child), parent_agent_id=child.id)
    assert (child.owner_id, child.governance.max_session_hours, child.governance.max_concurrent_sessions) == (
        "team", 1, 1)
    with pytest.raises(InvalidInput, match="maxSessionHours may be at most 1, the parent's"):
        await register(ctx, as_agent(parent), parent_agent_id=parent.id, governance=Governance(max_session_hours=24))
    with pytest.raises(InvalidInput, match="ownerId of a sub-agent its parent registers is the parent's"):
        await register(ctx, as_agent(parent), parent_agent_id=parent.id, owner_id="finance-admins")
    refuse_if_parent_inactive(ctx, grandchild)  # every agent above it is active

    await agents.revoke_agent(ctx, OPERATOR, parent.id)
    for below in (child, grandchild):
        with pytest.raises(Forbidden, match=f"agent's parent {parent.id} is revoked"):
            refuse_if_parent_inactive(ctx, ctx.store.get_agent(below.id))
    with pytest.raises(Conflict, match="has sub-agents"):
        await agents.delete_agent(ctx, OPERATOR, parent.id)
    reset = await agents.update_agent(ctx, OPERATOR, child.id, agents.ProfileChange(max_delegation_depth=None))
    assert reset.governance.max_delegation_depth == 1  # the parent's less one, not the daemon's default
