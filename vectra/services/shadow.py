"""Shadow policies: a policy version attached to an agent beside its live policy, judging every call the agent
makes and deciding nothing (docs/sessions.md, "Shadow mode"). Each call's audit record holds the shadow's verdict
and whether it agreed with the live decision; the counts are read from the audit log, so they are every replica's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vectra.domain.errors import NotFound
from vectra.domain.models import Agent, Principal, Role, ShadowPolicy
from vectra.domain.times import rfc3339
from vectra.services.agents import agent_change, found_agent, visible_agent
from vectra.services.auth import require, require_reader
from vectra.services.context import ServiceContext
from vectra.services.inputs import check_policy_name, check_policy_version, parse_agent_id

__all__ = ["ShadowStatus", "attach_shadow", "detach_shadow", "shadow_policy_document", "shadow_status"]


@dataclass(frozen=True, slots=True)
class ShadowStatus:
    """The agent's shadow policy and how its verdicts compared with the live decisions since it was attached."""

    agent_id: str
    policy_name: str
    policy_version: int
    since: datetime
    judged: int
    agreed: int

    @property
    def disagreed(self) -> int:
        return self.judged - self.agreed


def shadow_policy_document(shadow: ShadowPolicy | None) -> dict[str, Any] | None:
    """The agent's shadow policy as JSON values (None without one): on an agent and in a compliance export."""
    if shadow is None:
        return None
    return {"policyName": shadow.policy_name, "policyVersion": shadow.policy_version, "since": rfc3339(shadow.since)}


async def attach_shadow(ctx: ServiceContext, actor: Principal, agent_id: str, policy_name: str,
                        version: int | None = None) -> ShadowStatus:
    """Attach ``policy_name`` at ``version`` (the current one when omitted, pinned from now on); the counts start
    over. An admin of the agent's realm."""
    require(actor, Role.ADMIN)
    agent_id = parse_agent_id(agent_id)
    check_policy_name(policy_name)
    if version is not None:
        check_policy_version(version)
    visible_agent(ctx, actor, agent_id)

    def attach() -> Agent:
        head = ctx.store.policy_head(policy_name)
        if head is None:
            raise NotFound(f"policy {policy_name!r} not found", pointer="policyName")
        pinned = head.version if version is None else version
        if pinned > head.version:
            raise NotFound(f"policy {policy_name!r} has no version {pinned}", pointer="version")
        shadow = ShadowPolicy(policy_name, pinned, datetime.now(UTC))
        return found_agent(agent_id, ctx.store.set_agent_shadow(agent_id, shadow))

    agent = await agent_change(ctx, actor, "agent.shadow_attached", agent_id, attach,
                               details=_shadow_details)
    return _status(ctx, agent)


def shadow_status(ctx: ServiceContext, actor: Principal, agent_id: str) -> ShadowStatus:
    """The agent's shadow policy with its counts; NotFound when it has none. Admins and reviewers."""
    require_reader(actor, "reading a shadow policy")
    return _status(ctx, visible_agent(ctx, actor, parse_agent_id(agent_id)))


async def detach_shadow(ctx: ServiceContext, actor: Principal, agent_id: str) -> None:
    """Stop judging the agent's calls in shadow (NotFound when no shadow policy is attached)."""
    require(actor, Role.ADMIN)
    agent_id = parse_agent_id(agent_id)
    _status(ctx, visible_agent(ctx, actor, agent_id))

    def detach() -> Agent:
        return found_agent(agent_id, ctx.store.set_agent_shadow(agent_id, None))

    await agent_change(ctx, actor, "agent.shadow_detached", agent_id, detach)


def _status(ctx: ServiceContext, agent: Agent) -> ShadowStatus:
    shadow = agent.shadow
    if shadow is None:
        raise NotFound(f"agent {agent.id} has no shadow policy")
    judged, agreed = ctx.store.shadow_counts(agent.id, shadow.since)
    return ShadowStatus(agent.id, shadow.policy_name, shadow.policy_version, shadow.since, judged, agreed)


def _shadow_details(agent: Agent) -> dict[str, object]:
    assert agent.shadow is not None
    return {"policyName": agent.shadow.policy_name, "policyVersion": agent.shadow.policy_version}
