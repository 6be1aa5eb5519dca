"""An agent's governance limits, and the one rule of delegation (docs/sessions.md).

The limits bound an agent's sessions (``maxSessionHours``, ``maxDailySessions``, ``maxConcurrentSessions``) and
how deep a tree of sub-agents may grow below it (``maxDelegationDepth``); an unset limit follows the daemon's
default. A sub-agent is registered by its parent, or by an admin on its behalf, and only within what the parent
has: the parent must be allowed a depth of one at least, the child gets none of the capabilities the parent
lacks, a depth at most one less than the parent's, the parent's realm, and the agent role alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from vectra.config import MAX_DELEGATION_DEPTH, MAX_SESSION_HOURS
from vectra.domain.errors import Forbidden, InvalidInput
from vectra.domain.models import Agent, Governance, Realm, Role
from vectra.services import input_errors
from vectra.services.context import ServiceContext

__all__ = ["GOVERNANCE_FIELDS", "check_governance", "check_sub_agent", "effective_limits", "limits_document"]

#: each limit by the contract's name: its Governance field and its bounds
GOVERNANCE_FIELDS: dict[str, tuple[str, float, float]] = {
    "maxSessionHours": ("max_session_hours", 0.1, float(MAX_SESSION_HOURS)),
    "maxDailySessions": ("max_daily_sessions", 1, 1000),
    "maxConcurrentSessions": ("max_concurrent_sessions", 1, 1000),
    "maxDelegationDepth": ("max_delegation_depth", 0, MAX_DELEGATION_DEPTH),
}


def check_governance(governance: Governance) -> Governance:
    """``governance`` as given, each limit set checked against its bounds (InvalidInput naming it)."""
    for pointer, (name, low, high) in GOVERNANCE_FIELDS.items():
        value = getattr(governance, name)
        if value is None:
            continue
        if name == "max_session_hours":
            # a range check alone: NaN and infinities fail it, and a huge integer compares without overflowing
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise InvalidInput(f"{pointer} must be a number of hours from {low:g} to {high:g}", pointer=pointer)
        elif isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise input_errors.out_of_range(pointer, int(low), int(high))
    return governance


def effective_limits(ctx: ServiceContext, agent: Agent) -> Governance:
    """Every limit of ``agent``: its own, else the daemon's default."""
    return agent.governance.resolved(ctx.settings.session_defaults())


def limits_document(limits: Governance) -> dict[str, Any]:
    """The limits as JSON values by the contract's names: on an agent and in a compliance export."""
    return {pointer: getattr(limits, name) for pointer, (name, *_) in GOVERNANCE_FIELDS.items()}


def check_sub_agent(ctx: ServiceContext, parent: Agent, *, capabilities: Sequence[str], governance: Governance,
                    realm: Realm | None, roles: Sequence[Role]) -> Governance:
    """The child's limits, once it is within its parent's reach (Forbidden when the parent may not delegate at
    all, InvalidInput naming what goes past it): each at most the parent's, which an unset one takes; its depth at
    most one less than the parent's, and that when unset."""
    reach = effective_limits(ctx, parent)
    depth = reach.max_delegation_depth
    if depth < 1:
        raise Forbidden(f"agent {parent.id} may not register sub-agents: its maxDelegationDepth is 0",
                        cause="delegation")
    missing = [c for c in capabilities if c not in parent.capabilities]
    if missing:
        raise input_errors.ruled("capabilities", f"may hold only the parent's capabilities: it lacks {missing[0]!r}")
    child_depth = governance.max_delegation_depth
    if child_depth is not None and child_depth > depth - 1:
        raise input_errors.ruled("maxDelegationDepth", f"may be at most {depth - 1}, one less than the parent's")
    if (realm.id if realm else None) != (parent.realm.id if parent.realm else None):
        raise input_errors.ruled("realm", "of a sub-agent is its parent's")
    if tuple(roles) != (Role.AGENT,):
        raise input_errors.ruled("roles", "of a sub-agent are [agent]")
    bounded = {"max_delegation_depth": depth - 1 if child_depth is None else child_depth}
    for pointer, (name, *_) in GOVERNANCE_FIELDS.items():
        if name == "max_delegation_depth":
            continue
        mine, ceiling = getattr(governance, name), getattr(reach, name)
        if mine is not None and mine > ceiling:
            raise input_errors.ruled(pointer, f"may be at most {ceiling:g}, the parent's")
        bounded[name] = ceiling if mine is None else mine
    return replace(governance, **bounded)
