"""The one table from domain errors to gRPC status codes, and the wrapper that applies it."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from vectra.domain import errors

__all__ = ["CODE_BY_ERROR", "rpc"]

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


def rpc(method: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """Turn domain errors into their status codes; a defect becomes INTERNAL without its traceback."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> R:
        try:
            return await method(self, request, context)
        except errors.VectraError as exc:
            code = next(c for kind, c in CODE_BY_ERROR.items() if isinstance(exc, kind))
            await context.abort(code, exc.detail)
        except grpc.aio.AbortError:
            raise
        except Exception:
            log.exception("unhandled error in %s", method.__qualname__)
            await context.abort(grpc.StatusCode.INTERNAL, "the request failed; it has been logged")
        raise AssertionError("unreachable")  # context.abort always raises

    return wrapper
