"""Policy replay: what a candidate policy would have decided about calls already made, judged from their audit
records by the one rule live calls are judged by (:func:`vectra.services.decide.judge`).

A record of a governed call (``proxy.request``, ``proxy.check``) holds what its decision saw: the request (headers
redacted, the body up to ``VECTRA_AUDIT_BODY_BYTES``), the agent's facts, its trust, the risk score and the time.
Replay rebuilds the call from them and judges it again; it does not score risk again, since the agent's history at
that moment can't be rebuilt (docs/replay.md). Nothing is forwarded, recorded or changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from policy_core import CompiledPolicy, PolicyError, compile_policy
from vectra.config import Settings
from vectra.domain.audit import AuditFilter, AuditRecord
from vectra.domain.errors import InvalidInput
from vectra.domain.models import Principal
from vectra.services import input_errors
from vectra.services.agents import visible_agent
from vectra.services.audit import parse_period
from vectra.services.auth import require_reader
from vectra.services.context import ServiceContext
from vectra.services.decide import judge
from vectra.services.inputs import parse_agent_id, parse_session_id
from vectra.services.policies import PolicySource, get_policy, parse_draft
from vectra.services.recorded_call import recorded_call
from vectra.services.sessions import session_and_agent

__all__ = [
    "MAX_RECORDS",
    "ReplayCandidate",
    "ReplayChange",
    "ReplayReport",
    "ReplayScope",
    "replay",
    "replay_records",
]

#: The most records one replay reads; a scope holding more is refused, asking for a narrower one.
MAX_RECORDS = 100_000
#: the most changes a report lists (``changed`` counts them all): an answer stays a few megabytes at most
MAX_LISTED_CHANGES = 10_000


@dataclass(frozen=True, slots=True)
class ReplayScope:
    """The calls to replay: a session's (``session_id``), or an agent's from ``time_from`` to ``time_to``
    (inclusive RFC 3339 date-times with an offset, as the caller wrote them)."""

    session_id: str | None = None
    agent_id: str | None = None
    time_from: str | None = None
    time_to: str | None = None


@dataclass(frozen=True, slots=True)
class ReplayCandidate:
    """The policy to judge them by: a stored one (``policy_name``, its current ``version`` when omitted), or an
    inline ``document`` (JSON or YAML text, or a decoded mapping) that is not stored."""

    policy_name: str | None = None
    version: int | None = None
    document: PolicySource = None


@dataclass(frozen=True, slots=True)
class ReplayChange:
    """A call the candidate decides otherwise. ``rule`` and ``reason`` are the candidate's; ``body_truncated``:
    the record kept only the body's first bytes, so a rule on the body may have judged otherwise on all of it."""

    audit_id: int
    time: str
    method: str
    url: str
    tool: str | None
    original_decision: str
    replayed_decision: str
    original_rule: str | None
    rule: str | None
    reason: str | None
    body_truncated: bool


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """``consistent + changed == total_replayed``; ``incomplete`` counts the replayed calls (changed or not) whose
    recorded body was truncated."""

    total_replayed: int
    consistent: int
    changed: int
    incomplete: int
    policy_name: str
    policy_version: int | None
    changes: tuple[ReplayChange, ...]


async def replay(ctx: ServiceContext, principal: Principal, scope: ReplayScope,
                 candidate: ReplayCandidate) -> ReplayReport:
    """Judge the scope's recorded calls by the candidate (admin or reviewer, of the agent's realm)."""
    require_reader(principal, "replaying calls")
    filters = _checked_scope(scope)
    draft = _checked_candidate(candidate)
    filters = _overseen(ctx, principal, filters)
    if draft is not None:
        compiled, version = draft, None
    else:
        compiled, version = await _stored(ctx, principal, candidate)

    def run() -> ReplayReport:
        records = ctx.store.iter_audit_matching(filters, MAX_RECORDS + 1)
        return replay_records(ctx.settings, compiled, records, version=version)

    return await asyncio.to_thread(run)


def replay_records(settings: Settings, compiled: CompiledPolicy, records: Iterable[AuditRecord], *,
                   version: int | None = None) -> ReplayReport:
    """Judge each governed call of ``records`` by ``compiled`` (``version``: the stored version it is, if any);
    other records are skipped. More than :data:`MAX_RECORDS` records is InvalidInput; the report lists the first
    :data:`MAX_LISTED_CHANGES` changes and counts them all."""
    changes: list[ReplayChange] = []
    replayed = consistent = incomplete = changed = 0
    for taken, record in enumerate(records, 1):
        if taken > MAX_RECORDS:
            raise InvalidInput(f"the scope holds more than {MAX_RECORDS:,} records: replay a shorter period "
                               "or a single session", pointer="", limit=MAX_RECORDS)
        call = recorded_call(record)
        if call is None:
            continue
        verdict = judge(settings, compiled, call.facts, call.risk, call.trust)
        replayed += 1
        incomplete += call.body_truncated
        if verdict.effect == call.effect:
            consistent += 1
            continue
        changed += 1
        if changed > MAX_LISTED_CHANGES:
            continue
        entry = record.entry
        changes.append(ReplayChange(
            audit_id=record.id, time=record.time, method=entry.method or "", url=entry.url or "", tool=call.tool,
            original_decision=call.effect, replayed_decision=verdict.effect, original_rule=entry.rule,
            rule=verdict.rule, reason=verdict.reason, body_truncated=call.body_truncated,
        ))
    return ReplayReport(total_replayed=replayed, consistent=consistent, changed=changed,
                        incomplete=incomplete, policy_name=compiled.name, policy_version=version,
                        changes=tuple(changes))


def _checked_scope(scope: ReplayScope) -> AuditFilter:
    """The scope's shape: a session id, or an agent id with both ends of a period (whether the caller oversees
    them is looked up later)."""
    if scope.session_id is not None:
        if scope.agent_id is not None or scope.time_from is not None or scope.time_to is not None:
            raise input_errors.either(["sessionId", "agentId"])
        return AuditFilter(session_id=parse_session_id(scope.session_id))
    if scope.agent_id is None:
        raise input_errors.either(["sessionId", "agentId"])
    agent_id = parse_agent_id(scope.agent_id)
    start, end = parse_period(scope.time_from, scope.time_to)
    return AuditFilter(agent_id=agent_id, time_from=start, time_to=end)


def _checked_candidate(candidate: ReplayCandidate) -> CompiledPolicy | None:
    """The inline document, compiled; None for a stored policy (looked up once the scope is known)."""
    if (candidate.policy_name is None) == (candidate.document is None):
        raise input_errors.either(["policy.name", "policy.document"])
    if candidate.document is None:
        return None
    if candidate.version is not None:
        raise input_errors.either(["policy.version", "policy.document"])
    try:
        return compile_policy(parse_draft(candidate.document))
    except PolicyError as exc:
        pointer = "policy.document" + (f".{exc.pointer}" if exc.pointer else "")
        raise InvalidInput(f"{pointer}: {exc.message}", pointer=pointer) from None


def _overseen(ctx: ServiceContext, principal: Principal, filters: AuditFilter) -> AuditFilter:
    """``filters`` for the agent the caller oversees (a session's: the session's agent), by the rule reading the
    session or the agent follows; NotFound otherwise."""
    if filters.session_id is not None:
        session = session_and_agent(ctx, principal, filters.session_id)[0]
        return AuditFilter(agent_id=session.agent_id, session_id=session.id)
    visible_agent(ctx, principal, filters.agent_id)  # type: ignore[arg-type]
    return filters


async def _stored(ctx: ServiceContext, principal: Principal,
                  candidate: ReplayCandidate) -> tuple[CompiledPolicy, int]:
    """The stored policy version, compiled; its name and version checked as ``GET /policies/{name}`` checks
    them, the pointers put under ``policy``."""
    try:
        record = await get_policy(ctx, principal, candidate.policy_name, candidate.version)  # type: ignore[arg-type]
    except InvalidInput as exc:
        pointer = f"policy.{exc.extra.get('pointer', 'name')}"
        raise InvalidInput(f"policy.{exc.detail}", pointer=pointer) from None
    try:
        return compile_policy(record.document), record.version
    except PolicyError as exc:
        raise InvalidInput(f"policy {record.name!r} version {record.version} can't be compiled: {exc}",
                           pointer="policy.name") from None
