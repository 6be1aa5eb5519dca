"""The one table from domain errors to gRPC status codes, and the wrapper that applies it."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc

from vectra.domain import errors
from vectra.grpc.refusals import record_refusal
from vectra.services.context import ServiceContext
from vectra.services.refusals import is_access_refusal

__all__ = ["CODE_BY_ERROR", "abort_for", "rpc"]

log = logging.getLogger("vectra.grpc")

CODE_BY_ERROR: dict[type[errors.VectraError], grpc.StatusCode] = {
    errors.InvalidInput: grpc.StatusCode.INVALID_ARGUMENT,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.Forbidden: grpc.StatusCode.PERMISSION_DENIED,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.Conflict: grpc.StatusCode.FAILED_PRECONDITION,
    errors.RateLimited: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    # 413: gRPC's own code for a message over the size limit.
    errors.PayloadTooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.UpstreamUnreachable: grpc.StatusCode.UNAVAILABLE,
    errors.UpstreamTimeout: grpc.StatusCode.DEADLINE_EXCEEDED,
}

R = TypeVar("R")


async def abort_for(ctx: ServiceContext, context: grpc.aio.ServicerContext, exc: Exception, where: str) -> NoReturn:
    """End the call with ``exc``'s status code: a domain error's from the table, INTERNAL (logged, without its
    traceback) for a defect of ours; a refused access is recorded first. ``where`` names the RPC
    (``HitlService.Watch``). Unary calls get it from :func:`rpc`; streams call it themselves."""
    if isinstance(exc, grpc.aio.AbortError):
        raise exc
    if isinstance(exc, errors.VectraError):
        if is_access_refusal(exc):
            await record_refusal(ctx, context, exc, where)
        await context.abort(next(c for kind, c in CODE_BY_ERROR.items() if isinstance(exc, kind)), exc.detail)
    log.error("unhandled error in %s", where, exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, "the request failed; it has been logged")
    raise AssertionError("unreachable")  # context.abort always raises


def rpc(method: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """Turn domain errors into their status codes; a defect becomes INTERNAL without its traceback."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        try:
            return await method(self, request, context)
        except Exception as exc:
            await abort_for(self.ctx, context, exc, f"{_service_name(type(self))}.{method.__name__}")

    return wrapper


def _service_name(servicer: type) -> str:
    """``AgentService`` for a subclass of the generated ``agents_pb2_grpc.AgentServiceServicer``."""
    base = next(b for b in servicer.__mro__ if b.__module__.endswith("_pb2_grpc"))
    return base.__name__.removesuffix("Servicer")
