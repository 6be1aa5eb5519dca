"""The Agents use cases: register, read, assign a policy, delete, revoke, lift a quarantine."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from vectra.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from vectra.domain.models import Agent, AgentStatus, NewAgent, Page, Principal, Role
from vectra.services import audit
from vectra.services.auth import require
from vectra.services.context import ServiceContext
from vectra.services.secrets import MAX_SECRET_BYTES, MIN_SECRET_BYTES, hash_secret, new_secret

__all__ = [
    "DEFAULT_TRUST",
    "MAX_PAGE_SIZE",
    "assign_policy",
    "check_page",
    "delete_agent",
    "get_agent",
    "lift_quarantine",
    "list_agents",
    "register_agent",
    "revoke_agent",
]

DEFAULT_TRUST = 0.5
MAX_PAGE_SIZE = 100
MAX_NAME_LENGTH = 200
POLICY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_page(page: int, page_size: int) -> None:
    """The pagination rules shared by every list."""
    if not isinstance(page, int) or page < 1:
        raise InvalidInput("page must be a whole number from 1", pointer="page")
    if not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidInput(f"pageSize must be from 1 to {MAX_PAGE_SIZE}", pointer="pageSize")


def parse_agent_id(agent_id: str) -> str:
    """A canonical UUID string, or InvalidInput for a malformed id."""
    try:
        return str(uuid.UUID(str(agent_id)))
    except ValueError as exc:
        raise InvalidInput(f"agent id {agent_id!r} is not a UUID", pointer="agentId") from exc


async def list_agents(ctx: ServiceContext, actor: Principal, page: int = 1, page_size: int = 25) -> Page[Agent]:
    if not (actor.has(Role.ADMIN) or actor.has(Role.REVIEWER)):
        raise Forbidden("listing agents needs the admin or reviewer role")
    check_page(page, page_size)
    return ctx.store.list_agents(page, page_size)


async def get_agent(ctx: ServiceContext, actor: Principal, agent_id: str) -> Agent:
    """Admins and reviewers read any agent; an agent reads itself."""
    agent_id = parse_agent_id(agent_id)
    if not (actor.has(Role.ADMIN) or actor.has(Role.REVIEWER) or actor.subject == agent_id):
        raise Forbidden("an agent may read only its own record")
    return _existing(ctx, agent_id)


async def register_agent(
    ctx: ServiceContext,
    actor: Principal,
    *,
    name: str,
    owner_id: str | None,
    client_secret: str | None = None,
    roles: Sequence[str] | None = None,
    policy_name: str | None = None,
) -> NewAgent:
    require(actor, Role.ADMIN)
    name = _text("name", name, required=True)
    owner_id = _text("ownerId", owner_id, required=False)
    if client_secret is None or client_secret == "":
        client_secret = new_secret()
    elif not isinstance(client_secret, str) or not (
        MIN_SECRET_BYTES <= len(client_secret.encode()) <= MAX_SECRET_BYTES
    ):
        raise InvalidInput(
            f"clientSecret must be {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes", pointer="clientSecret"
        )
    granted = _roles(roles)
    if policy_name is not None:
        _policy_name(policy_name)
    agent = Agent(
        id=str(uuid.uuid4()),
        name=name,
        owner_id=owner_id,
        status=AgentStatus.ACTIVE,
        policy_name=policy_name,
        trust_score=DEFAULT_TRUST,
        roles=granted,
        created_at=datetime.now(UTC),
        last_seen_at=None,
        secret_hash=await hash_secret(client_secret),
    )
    ctx.store.insert_agent(agent)
    await audit.record_change(ctx, actor, "agent.registered", agent_id=agent.id, details={"name": agent.name})
    return NewAgent(agent=agent, client_secret=client_secret)


async def assign_policy(ctx: ServiceContext, actor: Principal, agent_id: str, policy_name: str) -> Agent:
    require(actor, Role.ADMIN)
    agent_id = parse_agent_id(agent_id)
    _policy_name(policy_name)
    agent = _changed(ctx, agent_id, ctx.store.set_agent_policy(agent_id, policy_name))
    await audit.record_change(ctx, actor, "agent.policy_assigned", agent_id=agent_id,
                              details={"policyName": policy_name})
    return agent


async def delete_agent(ctx: ServiceContext, actor: Principal, agent_id: str) -> None:
    require(actor, Role.ADMIN)
    agent_id = parse_agent_id(agent_id)
    if not ctx.store.delete_agent(agent_id):
        raise NotFound(f"agent {agent_id} not found")
    ctx.agents.invalidate(agent_id)
    await audit.record_change(ctx, actor, "agent.deleted", agent_id=agent_id)


async def revoke_agent(ctx: ServiceContext, actor: Principal, agent_id: str) -> Agent:
    """Block the agent for good; its tokens get 403 from the next request. Revoking twice is harmless."""
    require(actor, Role.ADMIN)
    agent_id = parse_agent_id(agent_id)
    agent = _changed(ctx, agent_id, ctx.store.set_agent_status(agent_id, AgentStatus.REVOKED))
    await audit.record_change(ctx, actor, "agent.revoked", agent_id=agent_id)
    return agent


async def lift_quarantine(ctx: ServiceContext, actor: Principal, agent_id: str) -> Agent:
    """A quarantined agent becomes Active again with the default trust."""
    require(actor, Role.ADMIN)
    agent_id = parse_agent_id(agent_id)
    current = _existing(ctx, agent_id)
    if current.status is not AgentStatus.QUARANTINED:
        raise Conflict(f"agent {agent_id} is {current.status.value}, not Quarantined")
    agent = _changed(ctx, agent_id, ctx.store.set_agent_status(agent_id, AgentStatus.ACTIVE, trust_score=DEFAULT_TRUST))
    await audit.record_change(ctx, actor, "agent.quarantine_lifted", agent_id=agent_id)
    return agent


def _existing(ctx: ServiceContext, agent_id: str) -> Agent:
    agent = ctx.store.get_agent(agent_id)
    if agent is None:
        raise NotFound(f"agent {agent_id} not found")
    return agent


def _changed(ctx: ServiceContext, agent_id: str, agent: Agent | None) -> Agent:
    ctx.agents.invalidate(agent_id)
    if agent is None:
        raise NotFound(f"agent {agent_id} not found")
    return agent


def _text(pointer: str, value: object, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{pointer} is required", pointer=pointer)
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME_LENGTH or not value.strip():
        raise InvalidInput(f"{pointer} must be a non-blank string of at most {MAX_NAME_LENGTH} characters",
                           pointer=pointer)
    return value


def _roles(roles: Sequence[str] | None) -> tuple[Role, ...]:
    if not roles:
        return (Role.AGENT,)
    try:
        granted = tuple(dict.fromkeys(Role(r) for r in roles))
    except ValueError as exc:
        raise InvalidInput(f"roles must be among {[r.value for r in Role]}", pointer="roles") from exc
    return granted


def _policy_name(name: object) -> None:
    if not isinstance(name, str) or not POLICY_NAME.match(name):
        raise InvalidInput(
            "policyName must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit",
            pointer="policyName",
        )
