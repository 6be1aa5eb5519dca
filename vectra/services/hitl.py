"""The human-in-the-loop use cases: the review queue, its decisions, the replay of what was approved, expiry.

A parked request (see :mod:`vectra.services.parking`) is ``Pending`` until a reviewer approves or denies it or its
expiry comes. Each decision is a compare-and-set in the store made with its audit record and the agent's trust move,
in one transaction: of two reviewers deciding at once, one wins and the other gets 409. An approval is bound to the
request's digest (method, URL, headers, body, agent, policy version): a reviewer may send the digest they were shown,
and the stored request must still match the digest it was parked with, or nothing is replayed. The approved request
is then replayed once, through the proxy's own forwarder (SSRF guard and breaker included), and the upstream's answer
goes back to the reviewer whole and is kept, a bounded copy, for the agent. A replay cut short by a crash leaves the
request ``Approved`` without an answer; it is never replayed again (at most once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from vectra.domain.audit import AuditEntry, AuditSource
from vectra.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    UpstreamCircuitOpen,
    UpstreamNotAllowed,
    UpstreamTimeout,
    UpstreamUnreachable,
    VectraError,
)
from vectra.domain.models import Agent, Page, Principal, Role
from vectra.domain.pending import PendingFilter, PendingRequest, PendingStatus, ReplayOutcome
from vectra.forward import UpstreamResponse, parse_target
from vectra.services import input_errors
from vectra.services.audit_log import Applied
from vectra.services.auth import require, require_reader
from vectra.services.context import ServiceContext
from vectra.services.hitl_json import pending_summary
from vectra.services.inputs import check_page, optional_string, parse_agent_id, parse_uuid
from vectra.services.pending_watch import RECHECK_SECONDS
from vectra.services.trust import SYSTEM_ACTOR, show_agent, trust_moved

__all__ = [
    "MAX_COMMENT_LENGTH", "Approval", "approve", "deny", "expire", "expire_due", "get_request", "list_requests",
    "sweep_expired", "watch",
]

log = logging.getLogger("vectra.hitl")
MAX_COMMENT_LENGTH = 1000
_MAX_DIGEST_LENGTH = 100
_SWEEP_BATCH = 100
#: A replay's failures that are answers about the upstream, not defects: recorded, then raised to the reviewer.
_UPSTREAM_ERRORS = (UpstreamCircuitOpen, UpstreamNotAllowed, UpstreamUnreachable, UpstreamTimeout, PayloadTooLarge,
                    InvalidInput)


@dataclass(frozen=True, slots=True)
class Approval:
    """``pending`` as it now is (Approved, with the kept copy of the answer); ``answer`` the upstream's whole answer
    (its body up to the proxy's body limit)."""

    pending: PendingRequest
    answer: ReplayOutcome


async def list_requests(
    ctx: ServiceContext, actor: Principal, *, agent_id: str | None = None,
    statuses: Sequence[str] | None = None, page: int = 1, page_size: int = 25,
) -> Page[PendingRequest]:
    """Requests in ``statuses`` (Pending when none is given), newest first (reviewers and admins)."""
    require_reader(actor, "listing HITL requests")
    check_page(page, page_size)
    query = PendingFilter(agent_id=parse_agent_id(agent_id) if agent_id else None, statuses=_statuses(statuses))
    return await asyncio.to_thread(ctx.store.list_pending, query, page, page_size)


async def get_request(ctx: ServiceContext, actor: Principal, pending_id: str,
                      wait_seconds: float | None = None) -> PendingRequest:
    """The request (its agent, or a reviewer). With ``wait_seconds``, a long poll: the answer comes once the request
    is settled (denied, expired, or approved and replayed) or when the wait is over, at most
    ``VECTRA_HITL_MAX_WAIT_SECONDS``."""
    pending_id = parse_uuid("id", pending_id)
    wait = _wait_seconds(ctx, wait_seconds)
    with ctx.pending_watch.watching(pending_id) as changed:
        pending = await _readable(ctx, actor, pending_id)
        deadline = time.monotonic() + wait
        while not _settled(pending) and (remaining := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, RECHECK_SECONDS))
            changed.clear()
            pending = await _reread(ctx, pending_id)
    return pending


async def watch(ctx: ServiceContext, actor: Principal, pending_id: str) -> AsyncIterator[PendingRequest]:
    """The request now, then again each time its status changes or its answer arrives, until it is settled."""
    pending_id = parse_uuid("id", pending_id)
    with ctx.pending_watch.watching(pending_id) as changed:
        pending = await _readable(ctx, actor, pending_id)
        yield pending
        shown = _state(pending)
        while not _settled(pending):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), RECHECK_SECONDS)
            changed.clear()
            pending = await _reread(ctx, pending_id)
            if _state(pending) != shown:
                shown = _state(pending)
                yield pending


async def approve(ctx: ServiceContext, actor: Principal, pending_id: str, comment: str | None = None,
                  digest: str | None = None) -> Approval:
    """Approve and replay (reviewers and admins, never the agent itself). NotFound when unknown or expired, Conflict
    when already decided, when ``digest`` is not the request's, or when the stored request no longer matches its
    own digest; the upstream errors of the replay (502, 503, 504, 403) after it is recorded."""
    require(actor, Role.REVIEWER)
    comment = optional_string("comment", comment, MAX_COMMENT_LENGTH)
    digest = optional_string("digest", digest, _MAX_DIGEST_LENGTH)
    pending = await _decidable(ctx, actor, pending_id)
    if digest is not None and digest != pending.digest:
        raise Conflict(f"this is not the request that was reviewed: its digest is {pending.digest}",
                       digest=pending.digest)
    if not pending.digest or pending.current_digest() != pending.digest:
        await ctx.audit.append(_entry(actor.subject, pending, "hitl.replay_refused", "Refused",
                                      reason="the stored request no longer matches its digest"))
        raise Conflict("the stored request no longer matches the digest it was parked with; it will not be replayed")
    approved = await _settle(ctx, actor.subject, pending, PendingStatus.APPROVED, comment, "hitl_approved")
    answer = await _replay(ctx, actor.subject, approved)
    replayed = ctx.store.get_pending(approved.id)
    assert replayed is not None
    return Approval(replayed, answer)


async def deny(ctx: ServiceContext, actor: Principal, pending_id: str, comment: str | None = None) -> PendingRequest:
    """Deny (reviewers and admins, never the agent itself); the same refusals as :func:`approve`."""
    require(actor, Role.REVIEWER)
    comment = optional_string("comment", comment, MAX_COMMENT_LENGTH)
    pending = await _decidable(ctx, actor, pending_id)
    return await _settle(ctx, actor.subject, pending, PendingStatus.DENIED, comment, "hitl_denied")


async def expire(ctx: ServiceContext, pending_id: str) -> PendingRequest | None:
    """Mark the request Expired if it is Pending and due (audited, a little trust lost); None if it is not."""
    pending = ctx.store.get_pending(pending_id)
    if pending is None:
        return None
    with contextlib.suppress(Conflict, NotFound):  # decided or expired meanwhile, or not yet due
        return await _settle(ctx, SYSTEM_ACTOR, pending, PendingStatus.EXPIRED, None, "hitl_expired")
    return None


async def expire_due(ctx: ServiceContext) -> int:
    """Expire what is due now, a batch at a time; how many were expired."""
    expired = 0
    while True:
        due = await asyncio.to_thread(ctx.store.due_pending, datetime.now(UTC), _SWEEP_BATCH)
        for pending_id in due:
            expired += await expire(ctx, pending_id) is not None
        if len(due) < _SWEEP_BATCH:
            return expired


async def sweep_expired(ctx: ServiceContext) -> None:
    """Run until cancelled: every ``VECTRA_HITL_SWEEP_SECONDS``, expire what is due."""
    while True:
        try:
            await expire_due(ctx)
        except VectraError as exc:  # the database or the audit log failing: try again at the next sweep
            log.warning("expiring HITL requests failed", extra={"error": exc.detail})
        await asyncio.sleep(ctx.settings.hitl_sweep_seconds)


# -- the steps -------------------------------------------------------------------------------------------------

def _statuses(statuses: Sequence[str] | None) -> tuple[PendingStatus, ...]:
    if not statuses:
        return (PendingStatus.PENDING,)
    if len(statuses) > len(PendingStatus):
        raise input_errors.too_many("status", len(PendingStatus))
    try:
        return tuple(dict.fromkeys(PendingStatus(status) for status in statuses))
    except ValueError:
        raise input_errors.not_one_of("status", [s.value for s in PendingStatus]) from None


def _wait_seconds(ctx: ServiceContext, wait: float | None) -> float:
    if wait is None:
        return 0.0
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= 3600:
        raise input_errors.out_of_range("wait", 0, 3600)
    return min(float(wait), ctx.settings.hitl_max_wait_seconds)


def _settled(pending: PendingRequest) -> bool:
    """Nothing more will happen to it: denied, expired, or approved and its replay recorded."""
    return pending.status is not PendingStatus.PENDING and (
        pending.status is not PendingStatus.APPROVED or pending.outcome is not None)


def _state(pending: PendingRequest) -> tuple[PendingStatus, bool]:
    return pending.status, pending.outcome is not None


async def _readable(ctx: ServiceContext, actor: Principal, pending_id: str) -> PendingRequest:
    pending = ctx.store.get_pending(pending_id)
    if pending is None:
        raise NotFound(f"no HITL request {pending_id}")
    if not (actor.has(Role.REVIEWER) or actor.subject == pending.agent_id):
        raise Forbidden("an agent may read only its own HITL requests; others need the reviewer role")
    return await _expired_if_due(ctx, pending)


async def _reread(ctx: ServiceContext, pending_id: str) -> PendingRequest:
    pending = ctx.store.get_pending(pending_id)
    assert pending is not None, "parked requests are never deleted"
    return await _expired_if_due(ctx, pending)


async def _expired_if_due(ctx: ServiceContext, pending: PendingRequest) -> PendingRequest:
    """``pending``, marked Expired first if its time has come and the sweep has not been by yet."""
    if pending.status is PendingStatus.PENDING and pending.expires_at <= datetime.now(UTC):
        return await expire(ctx, pending.id) or await _reread(ctx, pending.id)
    return pending


async def _decidable(ctx: ServiceContext, actor: Principal, pending_id: str) -> PendingRequest:
    pending_id = parse_uuid("id", pending_id)
    pending = ctx.store.get_pending(pending_id)
    if pending is None:
        raise NotFound(f"no HITL request {pending_id}")
    if actor.subject == pending.agent_id:
        raise Forbidden("an agent may not decide its own HITL request")
    _refuse_unless_pending(await _expired_if_due(ctx, pending))
    return pending


def _refuse_unless_pending(pending: PendingRequest) -> None:
    if pending.status is PendingStatus.EXPIRED:
        raise NotFound(f"HITL request {pending.id} has expired")
    if pending.status is not PendingStatus.PENDING:
        raise Conflict(f"HITL request {pending.id} was already {pending.status.value.lower()} by "
                       f"{pending.decided_by}", hitlStatus=pending.status.value)


async def _settle(ctx: ServiceContext, actor: str, pending: PendingRequest, status: PendingStatus,
                  comment: str | None, trust_outcome: str) -> PendingRequest:
    """Pending → ``status`` with its record and the agent's trust move; Conflict (or NotFound, once expired) when
    another decision came first."""
    action = f"hitl.{status.value.lower()}"
    entry = _entry(actor, pending, action, status.value, reason=comment)

    def change(recorded: AuditEntry) -> Applied[tuple[PendingRequest, Agent | None]]:
        settled = ctx.store.settle_pending(pending.id, status, by=None if actor == SYSTEM_ACTOR else actor,
                                           at=datetime.now(UTC), comment=comment)
        if settled is None:
            raise Conflict(f"HITL request {pending.id} is no longer pending")
        moved = trust_moved(ctx, recorded, pending.agent_id, trust_outcome, pending.risk or 0.0)
        return Applied((settled, moved.result), moved.entries)

    try:
        _, (settled, agent) = await ctx.audit.apply(entry, change)
    except Conflict:
        _refuse_unless_pending(await _reread(ctx, pending.id))  # decided meanwhile (409), or expired (404)
        raise
    show_agent(ctx, pending.agent_id, agent)
    ctx.pending_watch.changed(pending.id)
    ctx.webhooks.publish(action, pending_summary(settled))
    return settled


async def _replay(ctx: ServiceContext, actor: str, approved: PendingRequest) -> ReplayOutcome:
    started = time.perf_counter()
    target = parse_target(approved.url)
    headers = [("Host", target.authority), *approved.headers]
    try:
        response = await ctx.forwarder.forward(approved.method, target, headers, approved.body,
                                               upstream_headers=headers)
    except _UPSTREAM_ERRORS as exc:
        await _record_replay(ctx, actor, approved, ReplayOutcome(status=None, error=exc.detail), started)
        raise
    limit = ctx.settings.max_proxy_body_bytes
    try:
        answer = await _read_answer(response, limit)
    finally:
        await response.close()
    await _record_replay(ctx, actor, approved, answer, started)
    if answer.error is not None:
        raise UpstreamUnreachable(answer.error)
    if answer.body_truncated:
        raise UpstreamUnreachable(f"the upstream's answer is larger than the gateway's body limit ({limit} bytes); "
                                  f"its status and first bytes are kept at /hitl/{approved.id}")
    return answer


async def _read_answer(response: UpstreamResponse, limit: int) -> ReplayOutcome:
    """The upstream's answer with its body, up to ``limit`` bytes (past it, ``body_size`` says more came)."""
    chunks: list[bytes] = []
    size = 0
    error = None
    try:
        async for chunk in response.body():
            chunks.append(chunk[:max(0, limit - size)])
            size += len(chunk)
            if size > limit:
                break
    except (UpstreamUnreachable, UpstreamTimeout) as exc:
        error = f"the upstream failed while sending its body: {exc.detail}"
    return ReplayOutcome(status=response.status, headers=tuple(response.headers), body=b"".join(chunks),
                         body_size=size, error=error)


async def _record_replay(ctx: ServiceContext, actor: str, approved: PendingRequest, answer: ReplayOutcome,
                         started: float) -> None:
    copy_bytes = ctx.settings.hitl_response_copy_bytes
    kept = ReplayOutcome(answer.status, answer.headers, answer.body[:copy_bytes], answer.body_size, answer.error)
    entry = _entry(actor, approved, "hitl.replayed", "Replayed" if answer.status is not None else "ReplayFailed",
                   reason=answer.error, upstream_status=answer.status,
                   latency_ms=round((time.perf_counter() - started) * 1000, 3))

    def change(recorded: AuditEntry) -> Applied[None]:
        ctx.store.record_replay(approved.id, kept)
        return Applied(None, (recorded,))

    await ctx.audit.apply(entry, change)
    ctx.pending_watch.changed(approved.id)
    ctx.webhooks.publish("hitl.replayed", {**pending_summary(approved), "upstreamStatus": answer.status,
                                           "error": answer.error})


def _entry(actor: str, pending: PendingRequest, action: str, decision: str, *, reason: str | None = None,
           upstream_status: int | None = None, latency_ms: float | None = None) -> AuditEntry:
    return AuditEntry(
        actor=actor, source=AuditSource.HITL, action=action, agent_id=pending.agent_id, method=pending.method,
        url=pending.url, decision=decision, rule=pending.rule, reason=reason, risk=pending.risk,
        upstream_status=upstream_status, latency_ms=latency_ms,
        details={"pendingId": pending.id, "digest": pending.digest, "policyName": pending.policy_name,
                 "policyVersion": pending.policy_version},
    )
