"""The governed proxy: one pipeline for REST ``ANY /proxy/{url}`` and gRPC ``ProxyService`` (DESIGN.md).

authenticate (401/403) → rate limit (429) → decide (policy, risk with the agent's history, trust-adjusted HITL
threshold) → ``Deny``: 403 naming the rule and reason | ``Hitl``: park, 202 | ``Allow``: forward (503 breaker,
403 SSRF, 413, 502, 504) → trust update → audit. The audit record is committed before the caller sees anything
of the answer: for a forwarded call, once the upstream's status and headers arrived, before they are passed on.
If the audit log can't commit, the call is refused with 503 (fail closed).

:func:`proxy` returns :class:`Forwarded` or :class:`Parked`, or raises the domain error the caller answers with
(its ``extra["headers"]`` holds headers such as ``Retry-After``). :func:`check` runs the same steps without
forwarding, for ``ProxyService.Check``: it rate-limits and audits (action ``proxy.check``) but leaves trust as it
is, since a check is a question, not a call the agent made (the caller enforces the answer itself);
:func:`check_batch` runs many together, for ``ProxyService.CheckStream``.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from policy_core import PolicyError
from vectra.domain.audit import AuditEntry, AuditSource
from vectra.domain.errors import (
    Denied,
    Forbidden,
    InvalidInput,
    PayloadTooLarge,
    RateLimited,
    SessionRefused,
    Unavailable,
    UpstreamCircuitOpen,
    UpstreamNotAllowed,
    UpstreamTimeout,
    UpstreamUnreachable,
    VectraError,
)
from vectra.domain.models import Agent
from vectra.domain.pending import PendingRequest, redacted_url
from vectra.domain.policies import GatewayDecision
from vectra.forward import RateDecision, RateLimit, Target, UpstreamResponse
from vectra.forward.headers import announces_body, request_headers
from vectra.services.auth import authenticate
from vectra.services.context import ServiceContext
from vectra.services.decide import AgentFacts, OutboundRequest, decide
from vectra.services.parking import new_pending, park
from vectra.services.policy_cache import CurrentPolicy
from vectra.services.recorded_call import BodyCopy, judged_details
from vectra.services.sessions import open_session_for, own_session, session_named
from vectra.services.trust import move_trust

__all__ = [
    "MAX_CHECKS_PER_BATCH", "Checked", "Forwarded", "Parked", "ProxyCall", "calling_agent", "check", "check_batch",
    "decision_header", "proxy", "read_body",
]

Body = AsyncIterable[bytes] | bytes | None
#: The most checks one batch may carry (``CheckStream``); a larger one is refused whole.
MAX_CHECKS_PER_BATCH = 1000
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ProxyCall:
    """One call as a surface received it. ``headers`` are the agent's, as sent (the gateway token among them);
    ``body`` streams or is whole."""

    method: str
    target: Target
    headers: Sequence[tuple[str, str]]
    body: Body
    source: AuditSource
    #: the governed session the call names (gRPC's field); None: the ``Vectra-Session`` header's, if any
    session_id: str | None = None


@dataclass(eq=False)
class Forwarded:
    """Allowed and forwarded: the upstream's answer (stream its body, then close it) and headers to add."""

    response: UpstreamResponse
    decision: GatewayDecision
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Parked:
    """Parked for a human: answer 202 with ``Location: /hitl/{id}``."""

    pending: PendingRequest
    decision: GatewayDecision
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str:
        return f"/hitl/{self.pending.id}"


@dataclass(frozen=True, slots=True)
class Checked:
    """A check's answer: the decision (``effect`` ``Allow``/``Deny``/``Hitl``), or the rate limit's refusal."""

    decision: GatewayDecision | None
    rate: RateDecision


async def proxy(ctx: ServiceContext, call: ProxyCall) -> Forwarded | Parked:
    record, current, rate = await _admit(ctx, call, "proxy.request")
    rate.raise_if_denied()
    agent = record.agent
    limit = ctx.settings.max_proxy_body_bytes
    upstream_headers = await record.refusing_bad_input(lambda: request_headers(call.headers, call.target.authority))
    shadow = _shadow_policy(ctx, agent)
    body = call.body
    if any(policy is not None and policy.reads_body for policy in (current, shadow)):
        body = await record.refusing_bad_input(read_body(body, limit))
    elif body is not None and not isinstance(body, bytes) and announces_body(call.headers):
        body = record.copying(body)
    facts = AgentFacts.of(agent)
    decision = decide(ctx, facts, _outbound(call, upstream_headers, body),
                      history=ctx.histories.observe(agent.id), current=current, shadow=shadow)
    record.decided(decision, facts, upstream_headers, body)
    extra_headers = list(rate.headers.items())
    if decision.effect == "Deny":
        ctx.histories.violation(agent.id)
        await record.outcome("Deny", "denied")
        raise Denied(_denial(decision), rule=decision.rule, reason=decision.reason, headers=rate.headers)
    if decision.effect == "Hitl":
        body = await record.refusing_bad_input(read_body(body, limit))
        record.body = body
        expiry = current.compiled.hitl_expiry_seconds if current is not None else None
        pending = new_pending(ctx, agent.id, call.method, call.target, upstream_headers, body, decision, expiry,
                              record.session_id)
        if not await record.park(pending):
            wait = _until_a_place_frees(ctx, agent.id)
            raise RateLimited(f"{ctx.settings.hitl_max_pending_per_agent} requests of this agent are already waiting "
                              "for review", retryAfterSeconds=wait, headers={**rate.headers, "Retry-After": str(wait)})
        return Parked(pending, decision, extra_headers)
    return await _forward(ctx, call, upstream_headers, body, record, extra_headers)


async def check(ctx: ServiceContext, call: ProxyCall) -> Checked:
    """The decision about ``call`` (steps 2-5), nothing forwarded, trust unchanged; audited as ``proxy.check``."""
    record, current, rate = await _admit(ctx, call, "proxy.check", moves_trust=False)
    if not rate.allowed:
        return Checked(None, rate)
    agent = record.agent
    body = call.body if isinstance(call.body, bytes) else None
    upstream_headers = await record.refusing_bad_input(lambda: request_headers(call.headers, call.target.authority))
    outbound = _outbound(call, upstream_headers, body)
    facts = AgentFacts.of(agent)
    decision = decide(ctx, facts, outbound, history=ctx.histories.observe(agent.id), current=current,
                      shadow=_shadow_policy(ctx, agent))
    record.decided(decision, facts, upstream_headers, body)
    if decision.effect == "Deny":
        ctx.histories.violation(agent.id)
    await record.outcome(decision.effect, "")
    return Checked(decision, rate)


async def check_batch(ctx: ServiceContext,
                      calls: Sequence[ProxyCall | InvalidInput]) -> list[Checked | InvalidInput | SessionRefused]:
    """Many checks, answered in order (``CheckStream``). They are judged together, so that their audit records are
    committed in one group rather than one transaction each. An item the surface could not decode (given as its
    InvalidInput), whose check is invalid or names a session it can't be made in (SessionRefused) is answered with that
    error; any other error (authentication, the audit log failing) is raised, once every check of the batch has
    finished."""
    if len(calls) > MAX_CHECKS_PER_BATCH:
        raise InvalidInput(f"a batch holds at most {MAX_CHECKS_PER_BATCH} checks, this one {len(calls)}")
    outcomes = await asyncio.gather(*(_check_or_invalid(ctx, call) for call in calls), return_exceptions=True)
    answered = (InvalidInput, SessionRefused)
    failure = next((o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, answered)), None)
    if failure is not None:
        raise failure
    return outcomes  # type: ignore[return-value]  # only Checked, InvalidInput and SessionRefused remain


async def _check_or_invalid(ctx: ServiceContext, call: ProxyCall | InvalidInput) -> Checked:
    if isinstance(call, InvalidInput):
        raise call
    return await check(ctx, call)


def _denial(decision: GatewayDecision) -> str:
    """``denied by rule block-delete: deletes are not allowed`` (the policy's default, or a refusal before it)."""
    by = f"rule {decision.rule}" if decision.rule else f"policy {decision.policy_name}" if decision.policy_name \
        else "the gateway"
    return f"denied by {by}: {decision.reason}" if decision.reason else f"denied by {by}"


def decision_header(decision: GatewayDecision) -> str:
    """``Vectra-Decision: effect=Allow; rule=read-only; risk=0.12`` (no ``rule`` when a default decided)."""
    parts = [f"effect={decision.effect}"]
    if decision.rule:
        parts.append(f"rule={decision.rule}")
    if decision.risk_score is not None:
        parts.append(f"risk={decision.risk_score:.2f}")
    return "; ".join(parts)


async def read_body(body: Body, limit: int) -> bytes:
    """The whole body, refused with PayloadTooLarge past ``limit`` bytes."""
    if body is None:
        return b""
    if isinstance(body, bytes):
        if len(body) > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
        return body
    chunks: list[bytes] = []
    size = 0
    async for chunk in body:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


# -- the steps -------------------------------------------------------------------------------------------------

async def _admit(
    ctx: ServiceContext, call: ProxyCall, action: str, *, moves_trust: bool = True
) -> tuple[_Recorder, CurrentPolicy | None, RateDecision]:
    """Steps shared by calls and checks: authenticate, refuse while the audit log fails, count the rate limit
    (a refusal is recorded here; the caller raises or answers it)."""
    started = time.perf_counter()
    agent = calling_agent(ctx, call.headers)
    record = _Recorder(ctx, agent, call, action, started, moves_trust=moves_trust)
    await _refuse_if_audit_failing(record)
    current = _current_policy(ctx, agent)
    rate = await _rate_limit(ctx, agent, current)
    if not rate.allowed:
        record.session_id = _own_session(ctx, agent, call)
        await record.outcome("RateLimited", "rate_limited", reason="rate limit exceeded")
    else:
        await _enter_session(record, call)
    return record, current, rate


def calling_agent(ctx: ServiceContext, headers: Sequence[tuple[str, str]]) -> Agent:
    """The calling agent, from ``Vectra-Authorization`` if present, else ``Authorization`` (401/403)."""
    gateway = _header(headers, "vectra-authorization")
    principal = authenticate(ctx, gateway if gateway is not None else _header(headers, "authorization"))
    if principal.agent is None:
        raise Forbidden("the proxy is for agents: use an agent's token, not the operator token",
                        cause="operator_token", subject=principal.subject)
    return principal.agent


def _own_session(ctx: ServiceContext, agent: Agent, call: ProxyCall) -> str | None:
    """The session a rate-limited call names, when it is one of the agent's (its refusal counts in it)."""
    try:
        named = session_named(call.session_id, call.headers)
        session = own_session(ctx, agent, named) if named is not None else None
    except InvalidInput:
        return None
    return session.id if session is not None else None


async def _enter_session(record: _Recorder, call: ProxyCall) -> None:
    """Refuse a call naming a session the agent can't make calls in (not its own, ended, past its duration); the
    refusal is recorded in the session when the session is the agent's. Counted by the rate limit first, like any
    call; a malformed id, or two sessions named, is bad input."""
    named = await record.refusing_bad_input(lambda: session_named(call.session_id, call.headers))
    if named is None:
        return
    try:
        record.session_id = (await record.refusing_bad_input(
            lambda: open_session_for(record.ctx, record.agent, named))).id
    except SessionRefused as exc:
        record.session_id = exc.extra.get("sessionId")
        await record.outcome("SessionRefused", "", reason=exc.detail)
        raise


def _shadow_policy(ctx: ServiceContext, agent: Agent) -> CurrentPolicy | None:
    """The compiled shadow policy version of ``agent``, if one is attached and still compiles."""
    if agent.shadow is None:
        return None
    try:
        return ctx.policies.version(ctx.store, agent.shadow.policy_name, agent.shadow.policy_version)
    except PolicyError:
        return None


async def _refuse_if_audit_failing(record: _Recorder) -> None:
    """While the audit log is failing, refuse before forwarding. The refusal's own record is the probe: once it
    commits, the log works again and the next call goes through."""
    if record.ctx.audit.failing:
        await record.outcome("AuditUnavailable", "", reason="the audit log can't be written")
        raise Unavailable("the audit log can't be written; the call was refused")


def _current_policy(ctx: ServiceContext, agent: Agent) -> CurrentPolicy | None:
    if not agent.policy_name:
        return None
    try:
        return ctx.policies.current(ctx.store, agent.policy_name)
    except PolicyError:
        return None  # decide() refuses the call, naming why


async def _rate_limit(ctx: ServiceContext, agent: Agent, current: CurrentPolicy | None) -> RateDecision:
    configured = current.compiled.rate_limit if current is not None else None
    if configured is not None:
        limit = RateLimit(configured["requests"], configured["perSeconds"])
    else:
        limit = RateLimit(ctx.settings.rate_limit_requests, ctx.settings.rate_limit_per_seconds)
    return await ctx.limiter.acquire(agent.id, limit)


def _outbound(call: ProxyCall, upstream_headers: Sequence[tuple[str, str]], body: Body) -> OutboundRequest:
    """What the policy sees: the headers the upstream would get (never the gateway token), the body if held."""
    return OutboundRequest(call.method, call.target.url, list(upstream_headers),
                           body if isinstance(body, bytes) else None)


async def _forward(
    ctx: ServiceContext, call: ProxyCall, upstream_headers: Sequence[tuple[str, str]], body: Body,
    record: _Recorder, extra_headers: list[tuple[str, str]],
) -> Forwarded:
    try:
        response = await ctx.forwarder.forward(call.method, call.target, call.headers, body,
                                               upstream_headers=list(upstream_headers))
    except UpstreamCircuitOpen:
        await record.outcome("BreakerOpen", "upstream_error")
        raise
    except UpstreamNotAllowed as exc:
        await record.outcome("NotAllowed", "denied", reason=exc.detail)
        raise
    except (UpstreamUnreachable, UpstreamTimeout) as exc:
        await record.outcome("UpstreamError", "upstream_error", reason=exc.detail)
        raise
    except (PayloadTooLarge, InvalidInput) as exc:
        await record.outcome("Invalid", "", reason=exc.detail)
        raise
    decision = record.decision
    assert decision is not None
    try:
        outcome = "upstream_error" if response.status >= 500 else "allowed"
        await record.outcome("Allow", outcome, upstream_status=response.status)
    except BaseException:
        await response.close()
        raise
    return Forwarded(response, decision, [("Vectra-Decision", decision_header(decision)), *extra_headers])


class _Recorder:
    """Writes the call's one audit record, after moving the agent's trust (unless ``moves_trust`` is false)."""

    def __init__(self, ctx: ServiceContext, agent: Agent, call: ProxyCall, action: str, started: float,
                 *, moves_trust: bool = True) -> None:
        self.ctx = ctx
        self.agent = agent
        self.call = call
        self.action = action
        self.started = started
        self.moves_trust = moves_trust
        self.decision: GatewayDecision | None = None
        self.session_id: str | None = None
        self.facts: AgentFacts | None = None
        self.upstream_headers: Sequence[tuple[str, str]] = ()
        self.body: bytes | BodyCopy | None = None

    def decided(self, decision: GatewayDecision, facts: AgentFacts, upstream_headers: Sequence[tuple[str, str]],
                body: Body) -> None:
        """The decision taken, on what: the record keeps what a replay needs to judge the call again."""
        self.decision = decision
        self.facts = facts
        self.upstream_headers = upstream_headers
        if isinstance(body, bytes) or not isinstance(self.body, BodyCopy):
            self.body = body if isinstance(body, bytes) else None  # else the copy of the stream (copying) stays

    def copying(self, body: AsyncIterable[bytes]) -> AsyncIterable[bytes]:
        """``body``, passing through a copy of its first bytes that the record keeps."""
        length = _header(self.call.headers, "content-length")
        copy = BodyCopy(self.ctx.settings.audit_body_bytes,
                        int(length) if length is not None and length.isascii() and length.isdigit() else None)
        self.body = copy
        return copy.tee(body)

    async def refusing_bad_input(self, step: Awaitable[T] | Callable[[], T]) -> T:
        """Run ``step``; a bad header or a body over the limit is recorded as ``Invalid`` before it is raised."""
        try:
            return await step if inspect.isawaitable(step) else step()
        except (InvalidInput, PayloadTooLarge) as exc:
            await self.outcome("Invalid", "", reason=exc.detail)
            raise

    async def outcome(self, name: str, trust_outcome: str, *, reason: str | None = None,
                      upstream_status: int | None = None) -> None:
        """Record the call as ``name``; ``trust_outcome`` (``policy_core.OUTCOMES``, or "" for none) moves trust in
        the same transaction.

        Raises Unavailable when the record can't be committed: the caller must not answer with anything else.
        """
        entry = self._entry(name, reason=reason, upstream_status=upstream_status)
        if trust_outcome and self.moves_trust:
            risk = self.decision.risk_score if self.decision is not None else None
            await _committed(move_trust(self.ctx, entry, self.agent.id, trust_outcome, risk or 0.0))
        else:
            await _committed(self.ctx.audit.append(entry))

    async def park(self, pending: PendingRequest) -> bool:
        """Store the call for review with its record (``Hitl``); False, with a ``HitlQueueFull`` record, when the
        agent's queue is full."""
        parked = self._entry("Hitl", details={"pendingId": pending.id, "digest": pending.digest})
        refused = self._entry("HitlQueueFull", reason="too many requests of this agent are waiting for review")
        return await _committed(park(self.ctx, pending, parked, refused))

    def _entry(self, name: str, *, reason: str | None = None, upstream_status: int | None = None,
               details: dict[str, Any] | None = None) -> AuditEntry:
        decision = self.decision
        extra: dict[str, Any] = dict(details or {})
        if self.session_id is not None:
            extra["sessionId"] = self.session_id
        if decision is not None and decision.policy_name is not None:
            extra.update(policyName=decision.policy_name, policyVersion=decision.policy_version)
        if decision is not None and self.facts is not None:
            extra.update(judged_details(decision, self.facts, self.upstream_headers, self.body,
                                        self.ctx.settings.audit_body_bytes))
        return AuditEntry(
            actor=self.agent.id,
            source=self.call.source,
            action=self.action,
            agent_id=self.agent.id,
            method=self.call.method,
            url=redacted_url(self.call.target.url),
            decision=name,
            rule=decision.rule if decision is not None else None,
            reason=reason if reason is not None else (decision.reason if decision is not None else None),
            risk=decision.risk_score if decision is not None else None,
            trust=decision.trust_score if decision is not None else self.agent.trust_score,
            upstream_status=upstream_status,
            latency_ms=round((time.perf_counter() - self.started) * 1000, 3),
            details=extra,
        )


async def _committed(step: Awaitable[T]) -> T:
    """``step``'s result; any failure to commit its record is Unavailable, whatever the store said."""
    try:
        return await step
    except VectraError as exc:
        if isinstance(exc, Unavailable):
            raise
        raise Unavailable(f"the call could not be recorded: {exc.detail}") from None


def _header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)



def _until_a_place_frees(ctx: ServiceContext, agent_id: str) -> int:
    """Seconds until the agent's full HITL queue has room at the latest: when its first waiting request expires (a
    reviewer's decision may free one sooner)."""
    first = ctx.store.first_pending_expiry(agent_id)
    if first is None:
        return 1
    return max(1, math.ceil((first - datetime.now(UTC)).total_seconds()))
