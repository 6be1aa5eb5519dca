"""Domain objects as the JSON bodies of the REST contract (camelCase, as in the reference)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from inflection import camelize

from vectra.domain.models import Agent, AgentPage, Governance, Page, Realm
from vectra.domain.policies import GatewayDecision, PolicyProblem, PolicyRecord, PolicyVersion
from vectra.domain.sessions import Session
from vectra.domain.times import rfc3339
from vectra.services.governance import limits_document
from vectra.services.sessions import session_document
from vectra.services.shadow import ShadowStatus, shadow_policy_document

if TYPE_CHECKING:
    from vectra.services.policy_replay import ReplayReport

__all__ = [
    "agent_json",
    "agent_page_json",
    "decision_json",
    "page_json",
    "paged_json",
    "policy_json",
    "policy_summary_json",
    "policy_version_json",
    "realm_json",
    "realm_page_json",
    "replay_report_json",
    "session_json",
    "session_page_json",
    "shadow_status_json",
    "validation_json",
]

T = TypeVar("T")


def realm_json(realm: Realm) -> dict[str, Any]:
    return {"id": realm.id, "name": realm.name, "slug": realm.slug, "color": realm.color,
            "createdAt": rfc3339(realm.created_at)}


def agent_json(agent: Agent, online_since: datetime, limits: Governance) -> dict[str, Any]:
    """The agent, with ``limits``: its limits in effect (``governance.effective_limits``)."""
    return {
        "id": agent.id,
        "name": agent.name,
        "ownerId": agent.owner_id,
        "status": agent.status.value,
        "policyName": agent.policy_name,
        "trustScore": agent.trust_score,
        "roles": [r.value for r in agent.roles],
        "createdAt": rfc3339(agent.created_at),
        "lastSeenAt": rfc3339(agent.last_seen_at),
        "registeredAt": rfc3339(agent.created_at),
        "lastSeen": rfc3339(agent.last_seen_at),
        "online": agent.is_online(online_since),
        "capabilities": list(agent.capabilities),
        "realm": realm_json(agent.realm) if agent.realm else None,
        "version": agent.version,
        "description": agent.description,
        "metadata": dict(agent.metadata),
        "publicKey": agent.public_key,
        "did": agent.did,
        "scopeRealms": list(agent.scope_realms),
        **limits_document(limits),
        "parentAgentId": agent.parent_agent_id,
        "shadowPolicy": shadow_policy_document(agent.shadow),
    }


def agent_page_json(page: AgentPage, online_since: datetime,
                    limits_of: Callable[[Agent], Governance]) -> dict[str, Any]:
    return {**paged_json(page, lambda agent: agent_json(agent, online_since, limits_of(agent))),
            "onlineCount": page.online_count}


def shadow_status_json(status: ShadowStatus) -> dict[str, Any]:
    return {"agentId": status.agent_id, "policyName": status.policy_name, "policyVersion": status.policy_version,
            "since": rfc3339(status.since), "judged": status.judged, "agreed": status.agreed,
            "disagreed": status.disagreed}


def session_json(session: Session) -> dict[str, Any]:
    return session_document(session, datetime.now(UTC))


def session_page_json(page: Page[Session]) -> dict[str, Any]:
    return paged_json(page, session_json)


def replay_report_json(report: ReplayReport) -> dict[str, Any]:
    return {
        "totalReplayed": report.total_replayed,
        "consistent": report.consistent,
        "changed": report.changed,
        "incomplete": report.incomplete,
        "policy": {"name": report.policy_name, "version": report.policy_version},
        "changes": [{
            "auditId": change.audit_id,
            "time": change.time,
            "method": change.method,
            "url": change.url,
            "tool": change.tool,
            "originalDecision": change.original_decision,
            "replayedDecision": change.replayed_decision,
            "originalRule": change.original_rule,
            "rule": change.rule,
            "reason": change.reason,
            "bodyTruncated": change.body_truncated,
        } for change in report.changes],
    }


def realm_page_json(page: Page[Realm]) -> dict[str, Any]:
    return paged_json(page, realm_json)


def paged_json(page: Page[T], item: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    """:func:`page_json` with ``totalPages``, for the lists that count their pages."""
    return {**page_json(page, item), "totalPages": page.total_pages}


def page_json(page: Page[T], item: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    return {
        "items": [item(x) for x in page.items],
        "page": page.page,
        "pageSize": page.page_size,
        "totalCount": page.total_count,
    }


def _policy_metadata(policy: PolicyRecord) -> dict[str, Any]:
    return {
        "version": policy.version,
        "current": policy.current,
        "createdAt": rfc3339(policy.created_at),
        "updatedAt": rfc3339(policy.updated_at),
        "updatedBy": policy.updated_by,
    }


def policy_summary_json(policy: PolicyRecord) -> dict[str, Any]:
    """An item of ``GET /policies``: the reference's fields, then the version."""
    document = policy.document
    return {
        "name": policy.name,
        "description": document.get("description", ""),
        "owner": document.get("owner", ""),
        "default": document.get("default", "Deny"),
        "ruleCount": policy.rule_count,
        **_policy_metadata(policy),
    }


def policy_json(policy: PolicyRecord) -> dict[str, Any]:
    """``GET /policies/{name}``: the canonical document (with its rules), then the version."""
    return {**policy.document, "ruleCount": policy.rule_count, **_policy_metadata(policy)}


def policy_version_json(version: PolicyVersion) -> dict[str, Any]:
    return {
        "name": version.name,
        "version": version.version,
        "createdAt": rfc3339(version.created_at),
        "createdBy": version.created_by,
        "ruleCount": version.rule_count,
    }


def validation_json(problems: list[PolicyProblem]) -> dict[str, Any]:
    return {"valid": not problems, "errors": [{"pointer": p.pointer, "message": p.message} for p in problems]}


def decision_json(decision: GatewayDecision) -> dict[str, Any]:
    return {
        "effect": decision.effect,
        "rule": decision.rule,
        "reason": decision.reason,
        "agentId": decision.agent_id,
        "trustScore": decision.trust_score,
        "riskScore": decision.risk_score,
        "riskFactors": {camelize(name, False): share for name, share in decision.risk_factors.items()},
        "hitlThreshold": decision.hitl_threshold,
        "policyName": decision.policy_name,
        "policyVersion": decision.policy_version,
    }
