"""Request bytes that can't be decoded are INVALID_ARGUMENT, not UNKNOWN.

grpc.aio decodes a request before any servicer runs, and answers UNKNOWN (with a logged
traceback) when the deserializer raises: garbage bytes, or a string field that is not UTF-8.
This interceptor makes every method's deserializer hand over a marker instead, and the method
refuses the marker with the status the one table gives to invalid input.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from vectra.domain.errors import InvalidInput
from vectra.grpc.status import CODE_BY_ERROR

__all__ = ["UndecodableRequests"]

_DETAIL = "the request message could not be decoded"


class _Undecodable:
    """Stands in for a request message whose bytes could not be decoded."""


_UNDECODABLE = _Undecodable()


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def decode(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception:  # any decoding failure is the caller's malformed input
            return _UNDECODABLE

    return decode


async def _check(message: Any, context: grpc.aio.ServicerContext) -> Any:
    if message is _UNDECODABLE:
        await context.abort(CODE_BY_ERROR[InvalidInput], _DETAIL)
    return message


async def _checked_stream(messages: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    async for message in messages:
        yield await _check(message, context)


def _guarded(behavior: Callable[..., Any], streaming_request: bool) -> Callable[..., Any]:
    """``behavior`` receiving only decoded requests; an async generator stays one."""

    async def request(incoming: Any, context: grpc.aio.ServicerContext) -> Any:
        return _checked_stream(incoming, context) if streaming_request else await _check(incoming, context)

    if inspect.isasyncgenfunction(behavior):

        async def guarded_stream(incoming: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async for reply in behavior(await request(incoming, context), context):
                yield reply

        return guarded_stream

    async def guarded(incoming: Any, context: grpc.aio.ServicerContext) -> Any:
        result = behavior(await request(incoming, context), context)
        return await result if inspect.isawaitable(result) else result

    return guarded


class UndecodableRequests(grpc.aio.ServerInterceptor):
    def __init__(self) -> None:
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        if method in self._handlers:
            return self._handlers[method]
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        streams = "stream" if handler.request_streaming else "unary"
        kind = f"{streams}_{'stream' if handler.response_streaming else 'unary'}"
        guarded = handler._replace(
            request_deserializer=_tolerant(handler.request_deserializer),
            **{kind: _guarded(getattr(handler, kind), handler.request_streaming)},
        )
        self._handlers[method] = guarded
        return guarded
