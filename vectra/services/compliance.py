"""Compliance exports: one document an auditor can take away, for a session or for an agent over a period, holding
what governed the agent, what happened (the records' timeline), which controls were in effect, and the inclusion
proof that ties those records to the audit chain (docs/compliance.md).

Admins and reviewers export what they oversee; an agent they don't oversee, or its session, is not found. The
document is built from the store in a worker thread: the proof may walk up to a million records.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vectra.domain.audit import AuditFilter, AuditRecord
from vectra.domain.errors import InvalidInput
from vectra.domain.models import Agent, Governance, Principal
from vectra.domain.pending import PendingStatus
from vectra.domain.sessions import DENIED_DECISIONS, GOVERNED_ACTIONS, Session
from vectra.domain.times import rfc3339
from vectra.services import input_errors
from vectra.services.agents import visible_agent
from vectra.services.audit import parse_period
from vectra.services.audit_proof import ChainProof, inclusion_proof
from vectra.services.auth import require_reader
from vectra.services.compliance_html import render_html
from vectra.services.context import ServiceContext
from vectra.services.governance import effective_limits, limits_document
from vectra.services.inputs import parse_agent_id
from vectra.services.recorded_call import recorded_tool
from vectra.services.sessions import session_and_agent, session_document
from vectra.services.shadow import shadow_policy_document
from vectra.store.base import Store

__all__ = ["FORMATS", "KIND", "MAX_RECORDS", "Export", "ParkedOutcomes", "build_export", "export_format",
           "period_export", "session_export"]

KIND = "vectra.compliance/v1"
#: the most records one export shows (its timeline); past it, a narrower period
MAX_RECORDS = 100_000


#: each format an export is served in, and its content type
FORMATS = {"json": "application/json", "html": "text/html; charset=utf-8"}


def export_format(name: str | None) -> str:
    """The format asked for ("json" when none is); InvalidInput for any other than :data:`FORMATS`. A surface
    may check it before the export is made."""
    chosen = name or "json"
    if chosen not in FORMATS:
        raise input_errors.not_one_of("format", FORMATS)
    return chosen


@dataclass(frozen=True, slots=True)
class Export:
    """The document (JSON values only), and its two renderings: the bytes both surfaces serve."""

    document: Mapping[str, Any]

    async def rendered(self, format_name: str | None = None) -> tuple[str, bytes]:
        """:meth:`render`, off the event loop (a page of 100,000 records takes a while)."""
        return await asyncio.to_thread(self.render, format_name)

    def render(self, format_name: str | None = None) -> tuple[str, bytes]:
        """The content type and bytes of the export in ``format_name`` (:func:`export_format`)."""
        chosen = export_format(format_name)
        return FORMATS[chosen], self.html().encode() if chosen == "html" else self.json_bytes()

    def json_bytes(self) -> bytes:
        return json.dumps(self.document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def html(self) -> str:
        return render_html(self.document)


@dataclass(frozen=True, slots=True)
class ParkedOutcomes:
    """What became of the requests the records parked for review (``Hitl``), read when the export is made."""

    pending: int = 0
    approved: int = 0


async def session_export(ctx: ServiceContext, principal: Principal, session_id: str) -> Export:
    """The export of one session: its records are the ones that carry its id."""
    require_reader(principal, "exporting a compliance document")
    session, agent = await asyncio.to_thread(session_and_agent, ctx, principal, session_id)
    policy = (session.policy_name, session.policy_version)
    parked = ParkedOutcomes(pending=session.counts.pending, approved=session.counts.approved)
    return await asyncio.to_thread(_export, ctx, {"sessionId": session.id}, session, agent, policy,
                                   AuditFilter(session_id=session.id), lambda _: parked)


async def period_export(ctx: ServiceContext, principal: Principal, agent_id: str, time_from: str | None,
                        time_to: str | None) -> Export:
    """The export of an agent's records from ``time_from`` to ``time_to`` (inclusive RFC 3339 date-times)."""
    require_reader(principal, "exporting a compliance document")
    agent = visible_agent(ctx, principal, parse_agent_id(agent_id))
    start, end = parse_period(time_from, time_to)
    scope = {"agentId": agent.id, "from": start, "to": end}
    head = ctx.store.policy_head(agent.policy_name) if agent.policy_name else None
    policy = (agent.policy_name, head.version if head is not None else None)
    return await asyncio.to_thread(_export, ctx, scope, None, agent, policy,
                                   AuditFilter(agent_id=agent.id, time_from=start, time_to=end),
                                   functools.partial(_parked_outcomes, ctx.store))


def _export(ctx: ServiceContext, scope: Mapping[str, str], session: Session | None, agent: Agent,
            policy: tuple[str | None, int | None], filters: AuditFilter,
            parked: Callable[[Sequence[AuditRecord]], ParkedOutcomes]) -> Export:
    head = ctx.store.audit_head()  # the proof ends here: a record sealed after it is not this export's
    records = [r for r in ctx.store.iter_audit_matching(filters, MAX_RECORDS + 1) if head and r.id <= head[0]]
    if len(records) > MAX_RECORDS:
        raise InvalidInput(f"the export would hold more than {MAX_RECORDS:,} records: ask for a narrower period "
                           "(GET /compliance?agentId&from&to)")
    return build_export(
        scope=scope, session=session, agent=agent, policy=policy,
        limits=effective_limits(ctx, agent),
        records=records, proof=inclusion_proof(ctx.store, (r.id for r in records), scope, head),
        parked=parked(records), generated_at=datetime.now(UTC),
    )


def build_export(*, scope: Mapping[str, str], session: Session | None, agent: Agent,
                 policy: tuple[str | None, int | None], limits: Governance, records: Sequence[AuditRecord],
                 proof: ChainProof, parked: ParkedOutcomes, generated_at: datetime) -> Export:
    """The document from what the store gave: ``records`` oldest first; ``policy`` (name, version) the session's
    when it began, or for a period the agent's now; ``limits`` the agent's effective ones."""
    governed = [r for r in records if r.entry.action in GOVERNED_ACTIONS]
    denied = sum(r.entry.decision in DENIED_DECISIONS for r in governed)
    rate = denied / len(governed) if governed else 0.0
    summary = {
        "totalEvents": len(records),
        "governed": len(governed),
        "allowed": sum(r.entry.decision == "Allow" for r in governed),
        "denied": denied,
        "pending": parked.pending,
        "approvalsUsed": parked.approved,
        "hitl": sum(r.entry.decision == "Hitl" for r in governed),
        "denialRate": round(rate, 4),
        "denialRatePercent": f"{rate * 100:.2f}%",
    }
    return Export({
        "kind": KIND,
        "generatedAt": rfc3339(generated_at),
        "scope": dict(scope),
        "session": None if session is None else session_document(session, generated_at),
        "agent": {"id": agent.id, "name": agent.name, "realm": agent.realm.name if agent.realm else None},
        "governanceProfile": {
            "policyName": policy[0],
            "policyVersion": policy[1],
            "shadowPolicy": shadow_policy_document(agent.shadow),
            "limits": limits_document(limits),
        },
        "summary": summary,
        "timeline": [_event(r) for r in records],
        "chain": proof.document(),
        "controls": _controls(policy, agent, limits, governed, proof, summary),
    })


def _parked_outcomes(store: Store, records: Sequence[AuditRecord]) -> ParkedOutcomes:
    """For a period: the parked requests of the records' ``Hitl`` outcomes, as they stand now. (A session's are
    its own counts, from the parked requests that name it.)"""
    pending = approved = 0
    for record in records:
        pending_id = record.entry.details.get("pendingId")
        if record.entry.decision != "Hitl" or not isinstance(pending_id, str):
            continue
        state = store.pending_state(pending_id)
        pending += state is not None and state[0] is PendingStatus.PENDING
        approved += state is not None and state[0] is PendingStatus.APPROVED
    return ParkedOutcomes(pending=pending, approved=approved)


def _event(record: AuditRecord) -> dict[str, Any]:
    entry = record.entry
    return {"auditId": record.id, "time": record.time, "action": entry.action, "method": entry.method,
            "url": entry.url, "tool": recorded_tool(entry.details), "decision": entry.decision, "rule": entry.rule,
            "reason": entry.reason}


def _controls(policy: tuple[str | None, int | None], agent: Agent, limits: Governance,
              governed: Sequence[AuditRecord], proof: ChainProof, summary: Mapping[str, Any]) -> list[dict[str, str]]:
    """Each control from what the records and the store say, never assumed."""
    judged = sorted({f"{r.entry.details['policyName']} v{r.entry.details.get('policyVersion')}" for r in governed
                     if isinstance(r.entry.details.get("policyName"), str)})
    if judged:
        policy_evidence = "governed calls judged by " + ", ".join(judged)
    elif policy[0]:
        policy_evidence = f"policy {policy[0]} v{policy[1]} was assigned; no call was governed"
    else:
        policy_evidence = "no policy was assigned and none judged a call"
    hitl = summary["hitl"]
    shadow = agent.shadow
    shadowed = sum(isinstance(r.entry.details.get("shadow"), Mapping) for r in governed)
    steps = proof.document()["steps"]
    head = proof.head
    return [
        _control("policy-evaluation", "Policy evaluation active", bool(judged or policy[0]), policy_evidence),
        _control("hash-chain", "Hash-chained audit trail verified", proof.verified and bool(steps),
                 f"{summary['totalEvents']} records proven in {len(steps)} chain steps from {proof.anchor_hash} to "
                 f"{proof.end_hash}; head {head[0] if head else None} {head[1] if head else None}; verified: "
                 f"{str(proof.verified).lower()}" if steps else "no records to prove"),
        _control("approval-routing", "Risky calls routed through human approval", hitl > 0,
                 f"{hitl} calls routed to human review: {summary['approvalsUsed']} approved, {summary['pending']} "
                 "still waiting" if hitl else "no call was routed to human review"),
        _control("session-limits", "Session limits enforced", True,
                 f"maxSessionHours {limits.max_session_hours:g}, maxDailySessions {limits.max_daily_sessions}, "
                 f"maxConcurrentSessions {limits.max_concurrent_sessions}, maxDelegationDepth "
                 f"{limits.max_delegation_depth}"),
        _control("shadow-policy", "Shadow policy attached", shadow is not None,
                 f"{shadow.policy_name} v{shadow.policy_version} since {rfc3339(shadow.since)}; it judged {shadowed} "
                 "governed calls of this export" if shadow else "no shadow policy is attached"),
        _control("secret-redaction", "Secrets redacted in audit records", True,
                 "credential headers (authorization, cookie, x-api-key, and names with token, secret, password or "
                 "key) are recorded as [redacted]"),
    ]


def _control(control_id: str, title: str, in_effect: bool, evidence: str) -> dict[str, str]:
    return {"id": control_id, "title": title, "status": "in effect" if in_effect else "not in effect",
            "evidence": evidence}
