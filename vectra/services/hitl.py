"""The human-in-the-loop use cases: the review queue, its decisions, the replay of what was approved, expiry.

A parked request (see :mod:`vectra.services.parking`) is ``Pending`` until a reviewer approves or denies it or its
expiry comes. Each decision is a compare-and-set in the store made with its audit record and the agent's trust move,
in one transaction: of two reviewers deciding at once, one wins and the other gets 409. An approval is bound to the
request's digest (keyed; over method, URL, headers, body, agent, policy version): a reviewer may send the digest
they were shown, and the request as read in the approving transaction must still match the digest it was parked
with, or nothing is replayed. That very request is then replayed once, through the proxy's own forwarder (SSRF guard
and breaker included), in a task of its own that the reviewer going away does not stop; the answer goes back to the
reviewer and is kept, a bounded copy, for the agent. A replay cut short by a crash leaves the request ``Approved``
without an answer; it is never replayed again (at most once).

Secret headers of the upstream's answer go to the request's own agent only: reviewers see them redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from vectra.domain.audit import AuditEntry, AuditSource
from vectra.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    UpstreamCircuitOpen,
    UpstreamNotAllowed,
    UpstreamTimeout,
    UpstreamUnreachable,
    VectraError,
)
from vectra.domain.models import Agent, AgentStatus, Page, Principal, Role
from vectra.domain.pending import PendingFilter, PendingRequest, PendingStatus, ReplayOutcome, redacted, redacted_url
from vectra.domain.sessions import SessionStatus
from vectra.forward import UpstreamResponse, parse_target
from vectra.services import input_errors
from vectra.services.audit_log import Applied
from vectra.services.auth import require, require_reader
from vectra.services.context import ServiceContext
from vectra.services.hitl_json import pending_summary
from vectra.services.inputs import check_page, optional_string, parse_agent_id, parse_uuid
from vectra.services.lineage import inactive_parent
from vectra.services.pending_watch import RECHECK_SECONDS
from vectra.services.trust import SYSTEM_ACTOR, show_agent, trust_moved

__all__ = [
    "MAX_COMMENT_LENGTH", "Approval", "approve", "deny", "expire", "expire_due", "get_request", "list_requests",
    "sweep_expired", "watch",
]

log = logging.getLogger("vectra.hitl")
MAX_COMMENT_LENGTH = 1000
_MAX_DIGEST_LENGTH = 100
_MAX_WAIT_SECONDS = 3600
_SWEEP_BATCH = 100
#: How often, and how long apart, a replay's record is tried again while the audit log fails.
_RECORD_ATTEMPTS = 5
_RECORD_BACKOFF_SECONDS = 0.5
#: A replay's failures that are answers about the upstream, not defects: recorded, then raised to the reviewer.
_UPSTREAM_ERRORS = (UpstreamCircuitOpen, UpstreamNotAllowed, UpstreamUnreachable, UpstreamTimeout, PayloadTooLarge,
                    InvalidInput)


@dataclass(frozen=True, slots=True)
class Approval:
    """``pending`` as it now is (Approved, with the kept copy of the answer); ``answer`` the upstream's answer (its
    body up to the proxy's body limit) as the reviewer may see it: without its secret headers."""

    pending: PendingRequest
    answer: ReplayOutcome


class _Altered(Conflict):
    """The request read in the approving transaction is not the one whose digest was reviewed or parked."""


async def list_requests(
    ctx: ServiceContext, actor: Principal, *, agent_id: str | None = None,
    statuses: Sequence[str] | None = None, page: int = 1, page_size: int = 25,
) -> Page[PendingRequest]:
    """Requests in ``statuses`` (Pending when none is given), newest first (reviewers and admins)."""
    require_reader(actor, "listing HITL requests")
    check_page(page, page_size)
    query = PendingFilter(agent_id=parse_agent_id(agent_id) if agent_id else None, statuses=_statuses(statuses),
                          realm_scope=actor.scope)
    return await asyncio.to_thread(ctx.store.list_pending, query, page, page_size)


async def get_request(ctx: ServiceContext, actor: Principal, pending_id: str,
                      wait_seconds: float | None = None) -> PendingRequest:
    """The request (its agent, or a reviewer). With ``wait_seconds``, a long poll: the answer comes once the request
    is settled (denied, expired, or approved and replayed) or when the wait is over, at most
    ``VECTRA_HITL_MAX_WAIT_SECONDS``."""
    pending_id = parse_uuid("id", pending_id)
    wait = _wait_seconds(ctx, wait_seconds)
    pending = await _readable(ctx, actor, pending_id)
    if wait and not _settled(ctx, pending):
        with ctx.pending_watch.watching(pending_id, actor.subject) as changed:
            deadline = time.monotonic() + wait
            while not _settled(ctx, pending) and (remaining := deadline - time.monotonic()) > 0:
                pending = await _next_state(ctx, pending, changed, min(remaining, RECHECK_SECONDS))
    return _as_seen_by(actor, pending)


async def watch(ctx: ServiceContext, actor: Principal, pending_id: str) -> AsyncIterator[PendingRequest]:
    """The request now, then again each time its status changes or its answer arrives, until it is settled."""
    pending_id = parse_uuid("id", pending_id)
    pending = await _readable(ctx, actor, pending_id)
    with ctx.pending_watch.watching(pending_id, actor.subject) as changed:
        yield _as_seen_by(actor, pending)
        while not _settled(ctx, pending):
            before = _state(pending)
            pending = await _next_state(ctx, pending, changed, RECHECK_SECONDS)
            if _state(pending) != before:
                yield _as_seen_by(actor, pending)


async def approve(ctx: ServiceContext, actor: Principal, pending_id: str, comment: str | None = None,
                  digest: str | None = None) -> Approval:
    """Approve and replay (reviewers and admins, never the agent itself). NotFound when unknown or expired, Conflict
    when already decided, when ``digest`` is not the request's, when the stored request no longer matches its own
    digest, or when its agent is no longer active; the upstream errors of the replay (502, 503, 504, 403) once it
    is recorded."""
    require(actor, Role.REVIEWER)
    comment = optional_string("comment", comment, MAX_COMMENT_LENGTH)
    digest = optional_string("digest", digest, _MAX_DIGEST_LENGTH)
    pending = await _decidable(ctx, actor, pending_id)
    if digest is not None and digest != pending.digest:
        raise Conflict(f"this is not the request that was reviewed: its digest is {pending.digest}",
                       digest=pending.digest)
    agent = await asyncio.to_thread(ctx.agents.get, ctx.store, pending.agent_id)
    if agent is None or agent.status is not AgentStatus.ACTIVE:
        state = "deleted" if agent is None else agent.status.value.lower()
        raise Conflict(f"the request's agent is {state}: its request can't be replayed (deny it, or let it expire)")
    if (why := inactive_parent(ctx, agent)) is not None:
        raise Conflict(f"the request's agent's {why}: its request can't be replayed (deny it, or let it expire)")
    try:
        approved = await _settle(ctx, actor.subject, pending, PendingStatus.APPROVED, comment, "hitl_approved",
                                 digest=pending.digest, guard=lambda: _refuse_if_session_interrupted(ctx, pending))
    except _Altered:
        await ctx.audit.append(_entry(actor.subject, pending, "hitl.replay_refused", "Refused",
                                      reason="the stored request no longer matches its digest"))
        raise Conflict("the stored request no longer matches the digest it was parked with; "
                       "it will not be replayed") from None
    answer = await asyncio.shield(ctx.pending_watch.replay(approved.id, _replay(ctx, actor.subject, approved)))
    replayed = await _reread(ctx, approved.id)
    return Approval(_as_seen_by(actor, replayed),
                    dataclasses.replace(answer, headers=_without_secrets(answer.headers)))


def _refuse_if_session_interrupted(ctx: ServiceContext, pending: PendingRequest) -> None:
    """An interrupted session is an emergency stop: nothing parked in it goes out afterwards, even approved (a
    completed or expired session's requests were made while it was open, and may be). Checked in the approval's
    transaction, which the audit writer serialises with the interrupt's."""
    if pending.session_id is None:
        return
    session = ctx.store.get_session(pending.session_id, with_counts=False)
    if session is not None and session.stored_status is SessionStatus.INTERRUPTED:
        raise Conflict(f"the request's session {session.id} was interrupted: its request can't be replayed "
                       "(deny it, or let it expire)")


async def deny(ctx: ServiceContext, actor: Principal, pending_id: str, comment: str | None = None) -> PendingRequest:
    """Deny (reviewers and admins, never the agent itself); refused like :func:`approve`."""
    require(actor, Role.REVIEWER)
    comment = optional_string("comment", comment, MAX_COMMENT_LENGTH)
    pending = await _decidable(ctx, actor, pending_id)
    return await _settle(ctx, actor.subject, pending, PendingStatus.DENIED, comment, "hitl_denied")


async def expire(ctx: ServiceContext, pending_id: str) -> PendingRequest | None:
    """Mark the request Expired if it is Pending and due (audited, a little trust lost); None if it is not."""
    pending = await asyncio.to_thread(ctx.store.get_pending, pending_id)
    if pending is None:
        return None
    with contextlib.suppress(Conflict, NotFound):  # decided or expired meanwhile, or not yet due
        return await _settle(ctx, SYSTEM_ACTOR, pending, PendingStatus.EXPIRED, None, "hitl_expired")
    return None


async def expire_due(ctx: ServiceContext) -> int:
    """Expire what is due now, a batch at a time; how many were expired. One request that can't be expired (a
    damaged row) is logged and left; the others still are."""
    expired = 0
    failed: set[str] = set()
    while True:
        due = [i for i in await asyncio.to_thread(ctx.store.due_pending, datetime.now(UTC), _SWEEP_BATCH + len(failed))
               if i not in failed]
        for pending_id in due:
            try:
                expired += await expire(ctx, pending_id) is not None
            except Exception:
                log.exception("a HITL request could not be expired", extra={"pending_id": pending_id})
                failed.add(pending_id)
        if len(due) < _SWEEP_BATCH:
            return expired


async def sweep_expired(ctx: ServiceContext) -> None:
    """Run until cancelled: every ``VECTRA_HITL_SWEEP_SECONDS``, expire what is due."""
    while True:
        try:
            await expire_due(ctx)
        except VectraError as exc:  # the database or the audit log failing: try again at the next sweep
            log.warning("expiring HITL requests failed", extra={"error": exc.detail})
        except Exception:
            log.exception("expiring HITL requests failed")
        await asyncio.sleep(ctx.settings.hitl_sweep_seconds)


# -- reading and waiting -----------------------------------------------------------------------------------------

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
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= _MAX_WAIT_SECONDS:
        raise input_errors.malformed("wait", f"a number of seconds from 0 to {_MAX_WAIT_SECONDS}")
    return min(float(wait), ctx.settings.hitl_max_wait_seconds)


def _settled(ctx: ServiceContext, pending: PendingRequest) -> bool:
    """Nothing more will happen to it: denied, expired, or approved and its replay recorded (or, for a replay not
    running here, given up on once any replay would have ended)."""
    if pending.status is PendingStatus.PENDING:
        return False
    if pending.status is not PendingStatus.APPROVED or pending.outcome is not None:
        return True
    if ctx.pending_watch.replaying(pending.id) or pending.decided_at is None:
        return False
    settings = ctx.settings
    longest = settings.upstream_connect_timeout + settings.upstream_read_timeout \
        + _RECORD_BACKOFF_SECONDS * 2 ** _RECORD_ATTEMPTS
    return datetime.now(UTC) > pending.decided_at + timedelta(seconds=longest)


def _state(pending: PendingRequest) -> tuple[PendingStatus, bool]:
    return pending.status, pending.outcome is not None


async def _next_state(ctx: ServiceContext, pending: PendingRequest, changed: asyncio.Event,
                      timeout: float) -> PendingRequest:
    """``pending`` once it changed, or as it is after ``timeout``: the cheap state is read every time, the whole
    request only when that moved."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(changed.wait(), timeout)
    changed.clear()
    state = await asyncio.to_thread(ctx.store.pending_state, pending.id)
    if state is None:
        raise NotFound(f"no HITL request {pending.id}")
    status, replayed, expires_at = state
    if (status, replayed) == _state(pending) and not (status is PendingStatus.PENDING
                                                      and expires_at <= datetime.now(UTC)):
        return pending
    return await _reread(ctx, pending.id)


async def _readable(ctx: ServiceContext, actor: Principal, pending_id: str) -> PendingRequest:
    pending = await asyncio.to_thread(ctx.store.get_pending, pending_id)
    if pending is None:
        raise NotFound(f"no HITL request {pending_id}")
    if actor.subject != pending.agent_id:
        if not actor.has(Role.REVIEWER):
            raise Forbidden("an agent may read only its own HITL requests; others need the reviewer role",
                            cause="not_own", subject=actor.subject)
        _refuse_out_of_scope(ctx, actor, pending)
    return await _expired_if_due(ctx, pending)


def _refuse_out_of_scope(ctx: ServiceContext, actor: Principal, pending: PendingRequest) -> None:
    """A request of an agent outside a realm-scoped reviewer's realms does not exist for it."""
    if actor.scope is not None:
        agent = ctx.agents.get(ctx.store, pending.agent_id)
        if agent is None or not actor.oversees(agent):
            raise NotFound(f"no HITL request {pending.id}")


async def _reread(ctx: ServiceContext, pending_id: str) -> PendingRequest:
    pending = await asyncio.to_thread(ctx.store.get_pending, pending_id)
    if pending is None:
        raise NotFound(f"no HITL request {pending_id}")
    return await _expired_if_due(ctx, pending)


async def _expired_if_due(ctx: ServiceContext, pending: PendingRequest) -> PendingRequest:
    """``pending``, marked Expired first if its time has come and the sweep has not been by yet."""
    if pending.status is PendingStatus.PENDING and pending.expires_at <= datetime.now(UTC):
        return await expire(ctx, pending.id) or await _reread(ctx, pending.id)
    return pending


def _as_seen_by(actor: Principal, pending: PendingRequest) -> PendingRequest:
    """The request's own agent sees the answer's secret headers; anyone else sees them redacted."""
    if pending.outcome is None or actor.subject == pending.agent_id:
        return pending
    outcome = dataclasses.replace(pending.outcome, headers=tuple(redacted(pending.outcome.headers)))
    return dataclasses.replace(pending, outcome=outcome)


def _without_secrets(headers: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(pair for pair, shown in zip(headers, redacted(headers), strict=True) if pair == shown)


# -- deciding ----------------------------------------------------------------------------------------------------

async def _decidable(ctx: ServiceContext, actor: Principal, pending_id: str) -> PendingRequest:
    pending_id = parse_uuid("id", pending_id)
    pending = await asyncio.to_thread(ctx.store.get_pending, pending_id)
    if pending is None:
        raise NotFound(f"no HITL request {pending_id}")
    if actor.subject == pending.agent_id:
        raise Forbidden("an agent may not decide its own HITL request", cause="own_request", subject=actor.subject)
    _refuse_out_of_scope(ctx, actor, pending)
    _refuse_unless_pending(await _expired_if_due(ctx, pending))
    return pending


def _refuse_unless_pending(pending: PendingRequest) -> None:
    if pending.status is PendingStatus.EXPIRED:
        raise NotFound(f"HITL request {pending.id} has expired")
    if pending.status is not PendingStatus.PENDING:
        raise Conflict(f"HITL request {pending.id} was already {pending.status.value.lower()} by "
                       f"{pending.decided_by}", hitlStatus=pending.status.value)


async def _settle(ctx: ServiceContext, actor: str, pending: PendingRequest, status: PendingStatus,
                  comment: str | None, trust_outcome: str, *, digest: str | None = None,
                  guard: Callable[[], None] | None = None) -> PendingRequest:
    """Pending → ``status`` with its record and the agent's trust move; Conflict (or NotFound, once expired) when
    another decision came first; _Altered when ``digest`` is given and the request as read in the transaction no
    longer matches it (then nothing is changed). ``guard`` runs first in the transaction and may refuse with
    Conflict."""
    action = f"hitl.{status.value.lower()}"
    entry = _entry(actor, pending, action, status.value, reason=comment)

    def change(recorded: AuditEntry) -> Applied[tuple[PendingRequest, Agent | None]]:
        if guard is not None:
            guard()
        settled = ctx.store.settle_pending(pending.id, status, by=None if actor == SYSTEM_ACTOR else actor,
                                           at=datetime.now(UTC), comment=comment)
        if settled is None:
            raise Conflict(f"HITL request {pending.id} is no longer pending")
        if digest is not None and settled.current_digest(ctx.digest_key) != digest:
            raise _Altered("the stored request no longer matches its digest")
        moved = trust_moved(ctx, recorded, pending.agent_id, trust_outcome, pending.risk or 0.0)
        return Applied((settled, moved.result), moved.entries)

    try:
        _, (settled, agent) = await ctx.audit.apply(entry, change)
    except _Altered:
        raise
    except Conflict:
        _refuse_unless_pending(await _reread(ctx, pending.id))  # decided meanwhile (409), or expired (404)
        raise
    show_agent(ctx, pending.agent_id, agent)
    ctx.pending_watch.changed(pending.id)
    ctx.webhooks.publish(action, pending_summary(settled))
    return settled


# -- replaying ---------------------------------------------------------------------------------------------------

async def _replay(ctx: ServiceContext, actor: str, approved: PendingRequest) -> ReplayOutcome:
    """Send the approved request, read the answer, record it; raise what the reviewer is answered with if the
    upstream could not be reached or its answer not be passed on."""
    started = time.perf_counter()
    target = parse_target(approved.url)
    headers = [("Host", target.authority), *approved.headers]
    try:
        response = await ctx.forwarder.forward(approved.method, target, headers, approved.body,
                                               upstream_headers=headers)
    except _UPSTREAM_ERRORS as exc:
        await _record_replay(ctx, actor, approved, ReplayOutcome(status=None, error=exc.detail), started)
        raise
    except Exception:
        log.exception("the replay of an approved HITL request failed", extra={"pending_id": approved.id})
        failure = UpstreamUnreachable("the replay failed; it has been logged")
        await _record_replay(ctx, actor, approved, ReplayOutcome(status=None, error=failure.detail), started)
        raise failure from None
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
    """Record the replay's outcome; while the audit log fails, try again a few times (the upstream has acted: its
    answer must not be lost), then raise Unavailable."""
    copy_bytes = ctx.settings.hitl_response_copy_bytes
    kept = ReplayOutcome(answer.status, answer.headers, answer.body[:copy_bytes], answer.body_size, answer.error)
    entry = _entry(actor, approved, "hitl.replayed", "Replayed" if answer.status is not None else "ReplayFailed",
                   reason=answer.error, upstream_status=answer.status,
                   latency_ms=round((time.perf_counter() - started) * 1000, 3))

    def change(recorded: AuditEntry) -> Applied[None]:
        ctx.store.record_replay(approved.id, kept)
        return Applied(None, (recorded,))

    for attempt in range(_RECORD_ATTEMPTS):
        try:
            await ctx.audit.apply(entry, change)
            break
        except Unavailable:
            if attempt == _RECORD_ATTEMPTS - 1:
                log.error("the outcome of a replayed HITL request could not be recorded",
                          extra={"pending_id": approved.id, "upstream_status": answer.status})
                raise
            await asyncio.sleep(_RECORD_BACKOFF_SECONDS * 2 ** attempt)
    ctx.pending_watch.changed(approved.id)
    ctx.webhooks.publish("hitl.replayed", {**pending_summary(approved), "upstreamStatus": answer.status,
                                           "error": answer.error})


def _entry(actor: str, pending: PendingRequest, action: str, decision: str, *, reason: str | None = None,
           upstream_status: int | None = None, latency_ms: float | None = None) -> AuditEntry:
    return AuditEntry(
        actor=actor, source=AuditSource.HITL, action=action, agent_id=pending.agent_id, method=pending.method,
        url=redacted_url(pending.url), decision=decision, rule=pending.rule, reason=reason, risk=pending.risk,
        upstream_status=upstream_status, latency_ms=latency_ms,
        details={"pendingId": pending.id, "digest": pending.digest, "policyName": pending.policy_name,
                 "policyVersion": pending.policy_version,
                 **({"sessionId": pending.session_id} if pending.session_id else {})},
    )
