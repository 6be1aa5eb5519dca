"""gRPC servicer of the governed proxy: ``Forward``, ``Check`` and ``CheckStream`` (batches of checks) over the one
pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from vectra.domain.audit import AuditSource
from vectra.domain.errors import InvalidInput, PayloadTooLarge
from vectra.domain.policies import GatewayDecision
from vectra.forward import parse_target
from vectra.grpc.generated.vectra.v1 import proxy_pb2, proxy_pb2_grpc
from vectra.grpc.status import abort_for, rpc
from vectra.services import proxy
from vectra.services.context import ServiceContext

__all__ = ["MAX_CHECKS_PER_BATCH", "ProxyServicer"]

#: The most checks one ``CheckBatch`` may carry; a larger one ends the stream with INVALID_ARGUMENT (proxy.proto).
MAX_CHECKS_PER_BATCH = 1000

Envelope = proxy_pb2.ForwardRequest | proxy_pb2.CheckRequest


class ProxyServicer(proxy_pb2_grpc.ProxyServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @rpc
    async def Forward(self, request: proxy_pb2.ForwardRequest, context: grpc.aio.ServicerContext):
        outcome = await proxy.proxy(self.ctx, _call(request, _token(context)))
        if isinstance(outcome, proxy.Parked):
            pending = outcome.pending
            return proxy_pb2.ForwardResponse(
                decision=_decision(outcome.decision), status=202, gateway_headers=_headers(outcome.headers),
                pending=proxy_pb2.PendingRequest(id=pending.id, status=pending.status.value, reason=pending.reason,
                                                 expires_at=pending.expires_at.isoformat(), location=outcome.location),
            )
        response = outcome.response
        try:
            body = await proxy.read_body(response.body(), self.ctx.settings.max_proxy_body_bytes)
        except PayloadTooLarge:
            raise PayloadTooLarge("the upstream's answer is larger than the gateway's body limit") from None
        finally:
            await response.close()
        return proxy_pb2.ForwardResponse(decision=_decision(outcome.decision), status=response.status,
                                         headers=_headers(response.headers), body=body,
                                         gateway_headers=_headers(outcome.headers))

    @rpc
    async def Check(self, request: proxy_pb2.CheckRequest, context: grpc.aio.ServicerContext):
        checked = await proxy.check(self.ctx, _call(request, _token(context)))
        if checked.decision is None:
            checked.rate.raise_if_denied()
        return _check_response(checked)

    async def CheckStream(self, batches: AsyncIterator[proxy_pb2.CheckBatch],
                          context: grpc.aio.ServicerContext) -> AsyncIterator[proxy_pb2.CheckBatchResult]:
        token = _token(context)
        async for batch in batches:  # one batch at a time: the stream is answered in order
            try:
                results = await self._check_batch(batch, token)
            except Exception as exc:
                await abort_for(context, exc, "ProxyService.CheckStream")
            yield proxy_pb2.CheckBatchResult(results=results)

    async def _check_batch(self, batch: proxy_pb2.CheckBatch, token: str) -> list[proxy_pb2.CheckResponse]:
        """The batch's results in order. Its checks run together, so that their audit records are committed
        together. An invalid check is a result; any other error is raised, and ends the stream."""
        if len(batch.checks) > MAX_CHECKS_PER_BATCH:
            raise InvalidInput(f"a batch holds at most {MAX_CHECKS_PER_BATCH} checks, this one {len(batch.checks)}")
        outcomes = await asyncio.gather(*(self._check(request, token) for request in batch.checks),
                                        return_exceptions=True)
        return [_stream_result(outcome) for outcome in outcomes]

    async def _check(self, request: proxy_pb2.CheckRequest, token: str) -> proxy.Checked:
        return await proxy.check(self.ctx, _call(request, token))  # a bad URL is this check's error, not the batch's


def _token(context: grpc.aio.ServicerContext) -> str:
    """The gateway token, from the metadata (``vectra-authorization``, else ``authorization``)."""
    metadata = dict(context.invocation_metadata() or ())
    return metadata.get("vectra-authorization") or metadata.get("authorization") or ""


def _call(request: Envelope, token: str) -> proxy.ProxyCall:
    """The gateway token comes from the metadata; the envelope's headers are the upstream's."""
    headers = [(h.name, h.value) for h in request.headers if h.name.lower() != "vectra-authorization"]
    return proxy.ProxyCall(
        method=request.method.upper() or "GET",
        target=parse_target(request.url),
        headers=[("Vectra-Authorization", token), *headers],
        body=bytes(request.body),
        source=AuditSource.GRPC,
    )


def _decision(decision: GatewayDecision) -> proxy_pb2.Decision:
    return proxy_pb2.Decision(
        effect=decision.effect, rule=decision.rule or "", reason=decision.reason or "", risk=decision.risk_score,
        trust=decision.trust_score, hitl_threshold=decision.hitl_threshold, policy_name=decision.policy_name or "",
        policy_version=decision.policy_version,
    )


def _check_response(checked: proxy.Checked) -> proxy_pb2.CheckResponse:
    if checked.decision is None:
        return proxy_pb2.CheckResponse(decision=proxy_pb2.Decision(effect="RateLimited", reason="rate limit exceeded"),
                                       retry_after_seconds=checked.rate.retry_after_seconds)
    return proxy_pb2.CheckResponse(decision=_decision(checked.decision))


def _stream_result(outcome: proxy.Checked | BaseException) -> proxy_pb2.CheckResponse:
    """One check's result on ``CheckStream``: its answer, "Invalid" for a bad check, else its error raised."""
    if isinstance(outcome, InvalidInput):
        return proxy_pb2.CheckResponse(decision=proxy_pb2.Decision(effect="Invalid", reason=outcome.detail))
    if isinstance(outcome, BaseException):
        raise outcome
    return _check_response(outcome)


def _headers(pairs: list[tuple[str, str]]) -> list[proxy_pb2.Header]:
    return [proxy_pb2.Header(name=name, value=value) for name, value in pairs]
