"""The Agents use cases: register, list and read, change the profile, assign a policy, delete, revoke, lift a
quarantine. An admin or reviewer limited to some realms finds no other agent: those answer 404 (docs/registry.md)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from vectra.domain.errors import Conflict, Forbidden, NotFound
from vectra.domain.keys import did_of
from vectra.domain.models import (
    Agent,
    AgentFilter,
    AgentPage,
    AgentSort,
    AgentStatus,
    Governance,
    NewAgent,
    Principal,
    Realm,
    Role,
    is_overseer,
)
from vectra.services import audit, input_errors, profiles
from vectra.services.auth import require, require_reader
from vectra.services.context import ServiceContext
from vectra.services.governance import GOVERNANCE_FIELDS, check_governance, check_sub_agent
from vectra.services.inputs import (
    bounded_string,
    check_page,
    check_policy_name,
    optional_string,
    parse_agent_id,
    parse_uuid,
)
from vectra.services.realms import find_visible_realm, resolve_realms
from vectra.services.secrets import CHOSEN_SECRET_RULE, hash_secret, is_acceptable, new_secret

__all__ = [
    "DEFAULT_TRUST",
    "MAX_SUB_AGENTS",
    "PROFILE_FIELDS",
    "AgentQuery",
    "ProfileChange",
    "agent_change",
    "assign_policy",
    "delete_agent",
    "found_agent",
    "get_agent",
    "lift_quarantine",
    "list_agents",
    "new_agent",
    "online_since",
    "realm_for",
    "register_agent",
    "required_text",
    "revoke_agent",
    "update_agent",
    "visible_agent",
]

R = TypeVar("R")
DEFAULT_TRUST = 0.5
#: the most sub-agents one agent may have (each is a further agent's rate and session limits)
MAX_SUB_AGENTS = 100
MAX_NAME_LENGTH = 200


MAX_QUERY_LENGTH = 200
MAX_FILTER_CAPABILITIES = 64
#: the filter's rule in the words openapi.yaml's ``x-refusal`` gives it
CAPABILITY_FILTER_RULE = "must be names of the capability vocabulary, comma-separated"
_UNSET: Any = object()


@dataclasses.dataclass(frozen=True, slots=True)
class AgentQuery:
    """``GET /agents``'s filters and order as the caller gave them (checked by :func:`list_agents`)."""

    q: str | None = None
    status: str | None = None
    online: bool | None = None
    realm: str | None = None
    capabilities: str | Sequence[str] | None = None
    owner_id: str | None = None
    sort_by: str | None = None
    sort_dir: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ProfileChange:
    """``PATCH /agents/{id}``: the fields given change, the others (left ``_UNSET``) keep their value. A realm of
    ``None`` takes the agent out of every realm."""

    name: Any = _UNSET
    capabilities: Any = _UNSET
    realm: Any = _UNSET
    version: Any = _UNSET
    description: Any = _UNSET
    metadata: Any = _UNSET
    scope_realms: Any = _UNSET
    max_session_hours: Any = _UNSET
    max_daily_sessions: Any = _UNSET
    max_concurrent_sessions: Any = _UNSET
    max_delegation_depth: Any = _UNSET


def online_since(ctx: ServiceContext) -> datetime:
    """Agents seen since this moment are online."""
    return datetime.now(UTC) - timedelta(seconds=ctx.settings.online_window_seconds)


async def list_agents(ctx: ServiceContext, actor: Principal, page: int = 1, page_size: int = 25,
                      query: AgentQuery | None = None) -> AgentPage:
    require_reader(actor, "listing agents")
    check_page(page, page_size)
    return ctx.store.list_agents(_filters(ctx, actor, query or AgentQuery()), page, page_size)


def _filters(ctx: ServiceContext, actor: Principal, query: AgentQuery) -> AgentFilter:
    status = None
    if query.status is not None:
        statuses = [s.value for s in AgentStatus]
        if query.status not in statuses:
            raise input_errors.not_one_of("status", statuses)
        status = AgentStatus(query.status)
    sorts = [s.value for s in AgentSort]
    if query.sort_by is not None and query.sort_by not in sorts:
        raise input_errors.not_one_of("sortBy", sorts)
    if query.sort_dir is not None and query.sort_dir not in ("asc", "desc"):
        raise input_errors.not_one_of("sortDir", ["asc", "desc"])
    if query.online is not None and not isinstance(query.online, bool):
        raise input_errors.malformed("online", "true or false")
    capabilities = query.capabilities
    if isinstance(capabilities, str):
        capabilities = capabilities.split(",")
    wanted = list(dict.fromkeys(capabilities or ()))  # naming one twice asks for it once
    if len(wanted) > MAX_FILTER_CAPABILITIES or any(c not in ctx.settings.capabilities for c in wanted):
        raise input_errors.ruled("capabilities", CAPABILITY_FILTER_RULE)
    realm_ids = None
    if query.realm is not None:
        realm = find_visible_realm(ctx, actor, bounded_string("realm", query.realm, MAX_NAME_LENGTH))
        realm_ids = frozenset({realm.id} if realm else ())  # a realm the caller can't see matches nothing
    return AgentFilter(
        online_since=online_since(ctx),
        q=optional_string("q", query.q, MAX_QUERY_LENGTH),
        status=status,
        online=query.online,
        realm_ids=realm_ids,
        capabilities=tuple(wanted),
        owner_id=optional_string("ownerId", query.owner_id, MAX_NAME_LENGTH),
        sort_by=AgentSort(query.sort_by or AgentSort.REGISTERED_AT),
        descending=query.sort_dir == "desc",
        scope=actor.scope,
    )


def visible_agent(ctx: ServiceContext, actor: Principal, agent_id: str) -> Agent:
    """The agent, if it exists for ``actor``: an agent of a realm the caller doesn't oversee is not found, and
    neither is an admin or reviewer whose oversight reaches past the caller's (one of every realm, or of a realm
    the caller doesn't oversee), wherever it lives: a realm's admin can't demote, revoke or delete its overseers."""
    agent = found_agent(agent_id, ctx.store.get_agent(agent_id))
    if not actor.oversees(agent):
        raise NotFound(f"agent {agent_id} not found")
    return agent


async def get_agent(ctx: ServiceContext, actor: Principal, agent_id: str) -> Agent:
    """Admins and reviewers read any agent of their realms; an agent reads itself."""
    agent_id = parse_agent_id(agent_id)
    if actor.subject == agent_id and actor.agent is not None:
        return found_agent(agent_id, ctx.store.get_agent(agent_id))
    if not actor.has(Role.REVIEWER):
        raise Forbidden("an agent may read only its own record", cause="not_own", subject=actor.subject)
    return visible_agent(ctx, actor, agent_id)


async def register_agent(
    ctx: ServiceContext,
    actor: Principal,
    *,
    name: str,
    owner_id: str | None,
    client_secret: str | None = None,
    roles: Sequence[str] | None = None,
    capabilities: Sequence[str] | None = None,
    realm: str | None = None,
    version: str | None = None,
    description: str | None = None,
    metadata: Mapping[str, str] | None = None,
    public_key: str | None = None,
    scope_realms: Sequence[str] | None = None,
    governance: Governance | None = None,
    parent_agent_id: str | None = None,
) -> NewAgent:
    """An agent with a client secret (given, or generated and shown once) and, optionally, an Ed25519 key it can
    sign token assertions with. A realm-scoped admin registers agents in its own realms only. A sub-agent
    (``parent_agent_id``) is registered by an admin or by its parent itself, within the parent's reach
    (:func:`services.governance.check_sub_agent`); it takes the parent's policy and at most its trust, and, when
    the parent registers it, the parent's owner."""
    parent = _parent(ctx, actor, parent_agent_id)
    name = required_text("name", name)
    if parent is not None and (owner_id is None or not actor.has(Role.ADMIN)):
        if owner_id is not None and owner_id != parent.owner_id:
            raise input_errors.ruled("ownerId", "of a sub-agent its parent registers is the parent's")
        owner_id = parent.owner_id  # None for a parent that registered itself
    else:
        owner_id = required_text("ownerId", owner_id)
    if client_secret is None or client_secret == "":
        client_secret = new_secret()
    elif not isinstance(client_secret, str):
        raise input_errors.malformed("clientSecret", "a string")
    elif not is_acceptable(client_secret):
        raise input_errors.malformed("clientSecret", CHOSEN_SECRET_RULE)
    granted = _roles(roles)
    key = profiles.check_public_key(public_key, required=False)
    granted_capabilities = profiles.check_capabilities("capabilities", capabilities, ctx.settings.capabilities)
    limits = check_governance(governance or Governance())
    if parent is not None:
        realm_of = parent.realm if realm is None else realm_for(ctx, actor, realm)
        limits = check_sub_agent(ctx, parent, capabilities=granted_capabilities, governance=limits,
                                 realm=realm_of, roles=granted)
    else:
        realm_of = realm_for(ctx, actor, realm)
    agent = new_agent(
        name=name,
        owner_id=owner_id,
        roles=granted,
        secret_hash=await hash_secret(client_secret, ctx.settings.bcrypt_rounds),
        policy_name=parent.policy_name if parent is not None else None,
        capabilities=granted_capabilities,
        realm=realm_of,
        version=profiles.optional_version(version),
        description=profiles.optional_description(description),
        metadata=profiles.check_metadata("metadata", metadata),
        public_key=key,
        did=did_of(key) if key else None,
        scope_realms=_scope_for(ctx, actor, granted, scope_realms),
        governance=limits,
        parent_agent_id=parent.id if parent is not None else None,
    )
    if parent is not None:
        agent = dataclasses.replace(agent, trust_score=min(parent.trust_score, DEFAULT_TRUST))
    details = {"name": agent.name, **({"parentAgentId": parent.id} if parent is not None else {})}
    await audit.record_change(ctx, actor, "agent.registered", lambda: create_agent(ctx, agent),
                              agent_id=agent.id, details=details)
    return NewAgent(agent=agent, client_secret=client_secret)


def _parent(ctx: ServiceContext, actor: Principal, parent_agent_id: str | None) -> Agent | None:
    """The parent of an agent being registered: any agent an admin oversees, or the calling agent itself. Without
    a parent, registering needs an admin."""
    if parent_agent_id is None:
        require(actor, Role.ADMIN)
        return None
    parent_id = parse_uuid("parentAgentId", parent_agent_id)
    if actor.has(Role.ADMIN):
        try:
            parent = visible_agent(ctx, actor, parent_id)
        except NotFound:
            raise NotFound(f"agent {parent_id} not found", pointer="parentAgentId") from None
    elif actor.agent is None or actor.subject != parent_id:
        raise Forbidden("an agent registers sub-agents of its own only (parentAgentId is the agent itself)",
                        cause="not_own", subject=actor.subject)
    else:
        parent = actor.agent
    if parent.status is not AgentStatus.ACTIVE:
        raise Forbidden(f"agent {parent.id} is {parent.status.value.lower()}: it can't register sub-agents",
                        cause="agent_status", subject=actor.subject)
    return parent


def new_agent(*, name: str, owner_id: str | None, roles: tuple[Role, ...], secret_hash: bytes,
              policy_name: str | None = None, **profile: Any) -> Agent:
    """A new agent as every registration makes it: a fresh id, Active, the default trust, never seen."""
    return Agent(id=str(uuid.uuid4()), name=name, owner_id=owner_id, status=AgentStatus.ACTIVE,
                 policy_name=policy_name, trust_score=DEFAULT_TRUST, roles=roles, created_at=datetime.now(UTC),
                 last_seen_at=None, secret_hash=secret_hash, **profile)


def create_agent(ctx: ServiceContext, agent: Agent) -> None:
    """Store a new agent (inside its audit record's transaction); one agent per key, and at most
    :data:`MAX_SUB_AGENTS` sub-agents per parent."""
    if agent.did is not None and ctx.store.get_agent_by_did(agent.did) is not None:
        raise Conflict("an agent with this public key is already registered", pointer="publicKey")
    if agent.parent_agent_id is not None and ctx.store.count_sub_agents(agent.parent_agent_id) >= MAX_SUB_AGENTS:
        raise Conflict(f"agent {agent.parent_agent_id} already has {MAX_SUB_AGENTS} sub-agents",
                       pointer="parentAgentId")
    ctx.store.insert_agent(agent)


async def update_agent(ctx: ServiceContext, actor: Principal, agent_id: str, change: ProfileChange) -> Agent:
    """Change an agent's name or profile; what is not given keeps its value."""
    require(actor, Role.ADMIN)
    agent_id = parse_agent_id(agent_id)
    current = visible_agent(ctx, actor, agent_id)
    changes: dict[str, Any] = {}
    if change.name is not _UNSET:
        changes["name"] = required_text("name", change.name)
    if change.capabilities is not _UNSET:
        changes["capabilities"] = profiles.check_capabilities("capabilities", change.capabilities,
                                                              ctx.settings.capabilities)
    if change.realm is not _UNSET:
        changes["realm"] = realm_for(ctx, actor, change.realm)
    if change.version is not _UNSET:
        changes["version"] = profiles.optional_version(change.version)
    if change.description is not _UNSET:
        changes["description"] = profiles.optional_description(change.description)
    if change.metadata is not _UNSET:
        changes["metadata"] = profiles.check_metadata("metadata", change.metadata)
    if change.scope_realms is not _UNSET:
        changes["scope_realms"] = _scope_for(ctx, actor, current.roles, change.scope_realms)
    limits = {field: getattr(change, field) for field, *_ in GOVERNANCE_FIELDS.values()
              if getattr(change, field) is not _UNSET}
    changes.update(limits)
    if not changes:
        return current
    profile = {field: value for field, value in changes.items() if field not in limits}
    governance = check_governance(dataclasses.replace(current.governance, **limits))
    updated = dataclasses.replace(current, **profile, governance=governance)
    if current.parent_agent_id is not None and (limits or "capabilities" in changes or "realm" in changes):
        parent = found_agent(current.parent_agent_id, ctx.store.get_agent(current.parent_agent_id))
        governance = check_sub_agent(ctx, parent, capabilities=updated.capabilities, governance=governance,
                                     realm=updated.realm, roles=updated.roles)
        updated = dataclasses.replace(updated, governance=governance)

    details = {camel: _shown(changes[field]) for camel, field in PROFILE_FIELDS.items() if field in changes}
    return await agent_change(ctx, actor, "agent.updated", agent_id,
                               lambda: found_agent(agent_id, ctx.store.set_agent_profile(updated)), details=details)


#: the fields ``PATCH /agents/{id}`` changes, by the contract's name: the :class:`ProfileChange` field of each
PROFILE_FIELDS = {"name": "name", "capabilities": "capabilities", "realm": "realm", "version": "version",
                  "description": "description", "metadata": "metadata", "scopeRealms": "scope_realms",
                  **{camel: field for camel, (field, *_) in GOVERNANCE_FIELDS.items()}}


def _shown(value: object) -> object:
    """A changed value as its audit record names it (a realm by its id)."""
    if isinstance(value, Realm):
        return value.id
    if isinstance(value, tuple):
        return list(value)
    return value


def realm_for(ctx: ServiceContext, actor: Principal, realm: object) -> Realm | None:
    """The realm an agent is put in; a realm-scoped admin must name one of its own."""
    if realm is None or realm == "":
        if actor.scope is not None:
            raise input_errors.ruled("realm", "is required: an admin of some realms puts agents in one of them")
        return None
    found = find_visible_realm(ctx, actor, bounded_string("realm", realm, MAX_NAME_LENGTH))
    if found is None:
        raise NotFound(f"realm {realm!r} not found", pointer="realm")
    return found


def _scope_for(ctx: ServiceContext, actor: Principal, roles: Sequence[Role],
               scope_realms: Sequence[str] | None) -> tuple[str, ...]:
    """The realms an admin or reviewer is limited to. One limited itself grants only within its own realms, and
    only limited roles."""
    wanted = resolve_realms(ctx, actor, "scopeRealms", scope_realms)
    overseer = is_overseer(tuple(roles))
    if wanted and not overseer:
        raise input_errors.ruled("scopeRealms", "applies only to an admin or reviewer")
    if overseer and not wanted and actor.scope is not None:
        raise input_errors.ruled("scopeRealms", "is required: an admin of some realms grants only within them")
    return wanted


async def assign_policy(ctx: ServiceContext, actor: Principal, agent_id: str, policy_name: str) -> Agent:
    """Only a policy that exists can be assigned (an agent without a usable policy is denied everything)."""
    require(actor, Role.ADMIN)
    agent_id = parse_agent_id(agent_id)
    check_policy_name(policy_name)

    visible_agent(ctx, actor, agent_id)

    def assign() -> Agent:
        if ctx.store.policy_head(policy_name) is None:
            raise NotFound(f"policy {policy_name!r} not found", pointer="policyName")
        return found_agent(agent_id, ctx.store.set_agent_policy(agent_id, policy_name))

    return await agent_change(ctx, actor, "agent.policy_assigned", agent_id, assign,
                               details={"policyName": policy_name})


async def delete_agent(ctx: ServiceContext, actor: Principal, agent_id: str) -> None:
    require(actor, Role.ADMIN)
    agent_id = parse_agent_id(agent_id)
    visible_agent(ctx, actor, agent_id)

    def delete() -> None:
        if ctx.store.count_sub_agents(agent_id):
            raise Conflict(f"agent {agent_id} has sub-agents: delete them first (revoking it stops them already)")
        if not ctx.store.delete_agent(agent_id):
            raise NotFound(f"agent {agent_id} not found")

    await agent_change(ctx, actor, "agent.deleted", agent_id, delete)


async def revoke_agent(ctx: ServiceContext, actor: Principal, agent_id: str) -> Agent:
    """Block the agent for good; its tokens get 403 from the next request. Revoking twice is harmless."""
    require(actor, Role.ADMIN)
    agent_id = parse_agent_id(agent_id)
    visible_agent(ctx, actor, agent_id)
    return await agent_change(ctx, actor, "agent.revoked", agent_id,
                               lambda: found_agent(agent_id, ctx.store.set_agent_status(agent_id, AgentStatus.REVOKED)))


async def lift_quarantine(ctx: ServiceContext, actor: Principal, agent_id: str) -> Agent:
    """A quarantined agent becomes Active again with the default trust."""
    require(actor, Role.ADMIN)
    agent_id = parse_agent_id(agent_id)
    visible_agent(ctx, actor, agent_id)

    def lift() -> Agent:
        # One conditional update: an agent revoked by another daemon meanwhile is not made Active again.
        agent = ctx.store.set_agent_status(agent_id, AgentStatus.ACTIVE, trust_score=DEFAULT_TRUST,
                                           only_if=AgentStatus.QUARANTINED)
        if agent is None:
            current = found_agent(agent_id, ctx.store.get_agent(agent_id))
            raise Conflict(f"agent {agent_id} is {current.status.value}, not Quarantined")
        return agent

    return await agent_change(ctx, actor, "agent.quarantine_lifted", agent_id, lift)


async def agent_change(ctx: ServiceContext, actor: Principal, action: str, agent_id: str, make: Callable[[], R],
                        details: Mapping[str, Any] | None = None) -> R:
    """A change of one agent, recorded with it; this daemon's cached copy is dropped whatever the outcome."""
    try:
        return await audit.record_change(ctx, actor, action, make, agent_id=agent_id, details=details)
    finally:
        ctx.agents.invalidate(agent_id)


def found_agent(agent_id: str, agent: Agent | None) -> Agent:
    if agent is None:
        raise NotFound(f"agent {agent_id} not found")
    return agent


def required_text(pointer: str, value: object) -> str:
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
