"""gRPC servicer of the governed proxy: ``Forward``, ``Check`` and ``CheckStream`` (batches of checks) over the one
pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from vectra.domain.audit import AuditSource
from vectra.domain.errors import InvalidInput, PayloadTooLarge, SessionRefused
from vectra.domain.policies import GatewayDecision
from vectra.domain.times import rfc3339
from vectra.forward import parse_target
from vectra.grpc.generated.vectra.v1 import proxy_pb2, proxy_pb2_grpc
from vectra.grpc.status import abort_for, rpc
from vectra.services import proxy
from vectra.services.context import ServiceContext

__all__ = ["ProxyServicer"]

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
                                                 expires_at=rfc3339(pending.expires_at), location=outcome.location),
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
        try:  # before the first batch, so that a stream of empty batches is no way around the token
            proxy.calling_agent(self.ctx, [("Vectra-Authorization", token)])
        except Exception as exc:
            await abort_for(self.ctx, context, exc, "ProxyService.CheckStream")
        async for batch in batches:  # one batch at a time: the stream is answered in order
            try:
                outcomes = await proxy.check_batch(self.ctx, [_decoded(request, token) for request in batch.checks])
            except Exception as exc:
                await abort_for(self.ctx, context, exc, "ProxyService.CheckStream")
            yield proxy_pb2.CheckBatchResult(results=[_stream_result(outcome) for outcome in outcomes])


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
        session_id=request.session_id or None,
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


def _decoded(request: proxy_pb2.CheckRequest, token: str) -> proxy.ProxyCall | InvalidInput:
    """One check of a batch as a call, or why it can't be one (a bad URL is that check's answer, not the batch's)."""
    try:
        return _call(request, token)
    except InvalidInput as exc:
        return exc


def _stream_result(outcome: proxy.Checked | InvalidInput | SessionRefused) -> proxy_pb2.CheckResponse:
    """One check's result on ``CheckStream``: its answer, "Invalid" or "SessionRefused" with the reason."""
    if isinstance(outcome, (InvalidInput, SessionRefused)):
        effect = "Invalid" if isinstance(outcome, InvalidInput) else "SessionRefused"
        return proxy_pb2.CheckResponse(decision=proxy_pb2.Decision(effect=effect, reason=outcome.detail))
    return _check_response(outcome)


def _headers(pairs: list[tuple[str, str]]) -> list[proxy_pb2.Header]:
    return [proxy_pb2.Header(name=name, value=value) for name, value in pairs]
