"""The Agents use cases: register, read, assign a policy, delete, revoke, lift a quarantine."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from vectra.domain.errors import Conflict, Forbidden, NotFound
from vectra.domain.models import Agent, AgentStatus, NewAgent, Page, Principal, Role
from vectra.services import audit, input_errors
from vectra.services.auth import require, require_reader
from vectra.services.context import ServiceContext
from vectra.services.inputs import bounded_string, check_page, check_policy_name, parse_agent_id
from vectra.services.secrets import CHOSEN_SECRET_RULE, hash_secret, is_acceptable, new_secret

__all__ = [
    "DEFAULT_TRUST",
    "assign_policy",
    "delete_agent",
    "get_agent",
    "lift_quarantine",
    "list_agents",
    "register_agent",
    "revoke_agent",
]

R = TypeVar("R")
DEFAULT_TRUST = 0.5
MAX_NAME_LENGTH = 200


async def list_agents(ctx: ServiceContext, actor: Principal, page: int = 1, page_size: int = 25) -> Page[Agent]:
    require_reader(actor, "listing agents")
    check_page(page, page_size)
    return ctx.store.list_agents(page, page_size)


async def get_agent(ctx: ServiceContext, actor: Principal, agent_id: str) -> Agent:
    """Admins and reviewers read any agent; an agent reads itself."""
    agent_id = parse_agent_id(agent_id)
    if not (actor.has(Role.REVIEWER) or actor.subject == agent_id):
        raise Forbidden("an agent may read only its own record", cause="not_own", subject=actor.subject)
    return _found(agent_id, ctx.store.get_agent(agent_id))


async def register_agent(
    ctx: ServiceContext,
    actor: Principal,
    *,
    name: str,
    owner_id: str | None,
    client_secret: str | None = None,
    roles: Sequence[str] | None = None,
) -> NewAgent:
    require(actor, Role.ADMIN)
    name = _text("name", name)
    owner_id = _text("ownerId", owner_id)
    if client_secret is None or client_secret == "":
        client_secret = new_secret()
    elif not isinstance(client_secret, str):
        raise input_errors.malformed("clientSecret", "a string")
    elif not is_acceptable(client_secret):
        raise input_errors.malformed("clientSecret", CHOSEN_SECRET_RULE)
    granted = _roles(roles)
    agent = Agent(
        id=str(uuid.uuid4()),
        name=name,
        owner_id=owner_id,
        status=AgentStatus.ACTIVE,
        policy_name=None,
        trust_score=DEFAULT_TRUST,
        roles=granted,
        created_at=datetime.now(UTC),
        last_seen_at=None,
        secret_hash=await hash_secret(client_secret),
    )
    await audit.record_change(ctx, actor, "agent.registered", lambda: ctx.store.insert_agent(agent),
                              agent_id=agent.id, details={"name": agent.name})
    return NewAgent(agent=agent, client_secret=client_secret)


async def assign_policy(ctx: ServiceContext, actor: Principal, agent_id: str, policy_name: str) -> Agent:
    """Only a policy that exists can be assigned (an agent without a usable policy is denied everything)."""
    require(actor, Role.ADMIN)
    agent_id = parse_agent_id(agent_id)
    check_policy_name(policy_name)

    def assign() -> Agent:
        if ctx.store.policy_head(policy_name) is None:
            raise NotFound(f"policy {policy_name!r} not found", pointer="policyName")
        return _found(agent_id, ctx.store.set_agent_policy(agent_id, policy_name))

    return await _agent_change(ctx, actor, "agent.policy_assigned", agent_id, assign,
                               details={"policyName": policy_name})


async def delete_agent(ctx: ServiceContext, actor: Principal, agent_id: str) -> None:
    require(actor, Role.ADMIN)
    agent_id = parse_agent_id(agent_id)

    def delete() -> None:
        if not ctx.store.delete_agent(agent_id):
            raise NotFound(f"agent {agent_id} not found")

    await _agent_change(ctx, actor, "agent.deleted", agent_id, delete)


async def revoke_agent(ctx: ServiceContext, actor: Principal, agent_id: str) -> Agent:
    """Block the agent for good; its tokens get 403 from the next request. Revoking twice is harmless."""
    require(actor, Role.ADMIN)
    agent_id = parse_agent_id(agent_id)
    return await _agent_change(ctx, actor, "agent.revoked", agent_id,
                               lambda: _found(agent_id, ctx.store.set_agent_status(agent_id, AgentStatus.REVOKED)))


async def lift_quarantine(ctx: ServiceContext, actor: Principal, agent_id: str) -> Agent:
    """A quarantined agent becomes Active again with the default trust."""
    require(actor, Role.ADMIN)
    agent_id = parse_agent_id(agent_id)

    def lift() -> Agent:
        # One conditional update: an agent revoked by another daemon meanwhile is not made Active again.
        agent = ctx.store.set_agent_status(agent_id, AgentStatus.ACTIVE, trust_score=DEFAULT_TRUST,
                                           only_if=AgentStatus.QUARANTINED)
        if agent is None:
            current = _found(agent_id, ctx.store.get_agent(agent_id))
            raise Conflict(f"agent {agent_id} is {current.status.value}, not Quarantined")
        return agent

    return await _agent_change(ctx, actor, "agent.quarantine_lifted", agent_id, lift)


async def _agent_change(ctx: ServiceContext, actor: Principal, action: str, agent_id: str, make: Callable[[], R],
                        details: Mapping[str, Any] | None = None) -> R:
    """A change of one agent, recorded with it; this daemon's cached copy is dropped whatever the outcome."""
    try:
        return await audit.record_change(ctx, actor, action, make, agent_id=agent_id, details=details)
    finally:
        ctx.agents.invalidate(agent_id)


def _found(agent_id: str, agent: Agent | None) -> Agent:
    if agent is None:
        raise NotFound(f"agent {agent_id} not found")
    return agent


def _text(pointer: str, value: object) -> str:
    """A required, non-blank string of bounded length."""
    text = bounded_string(pointer, value, MAX_NAME_LENGTH)
    if not text.strip():
        raise input_errors.blank(pointer)
    return text


def _roles(roles: Sequence[str] | None) -> tuple[Role, ...]:
    """At most one of each role; none given means ``agent``."""
    if roles is None or (isinstance(roles, (list, tuple)) and not roles):
        return (Role.AGENT,)
    if not isinstance(roles, (list, tuple)):
        raise input_errors.malformed("roles", "a list")
    if len(roles) > len(Role):
        raise input_errors.too_many("roles", len(Role))
    allowed = [r.value for r in Role]
    for index, role in enumerate(roles):
        if not isinstance(role, str) or role not in allowed:
            raise input_errors.not_one_of(f"roles[{index}]", allowed)
    if len(set(roles)) != len(roles):
        raise input_errors.repeated("roles")
    return tuple(Role(r) for r in roles)
