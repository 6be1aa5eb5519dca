"""``ANY /proxy/{url}``: a raw ASGI endpoint in front of Connexion's routing and validation.

Bodies stream both ways without being buffered or parsed, and the upstream URL is rebuilt from the raw request
path (so ``%2F`` stays ``%2F``). The route is documented in ``openapi.yaml`` like any other, but Connexion never
sees a call to it: the request middleware hands every request under ``/proxy/`` to this endpoint. Decode, call the one
service (:func:`vectra.services.proxy.proxy`), encode: the problems come from the same table as every other
REST answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from vectra.domain.audit import AuditSource
from vectra.domain.errors import InvalidInput, Unavailable, VectraError
from vectra.domain.times import rfc3339
from vectra.forward import UpstreamResponse, target_from_raw_path
from vectra.rest.problems import domain_problem, problem_parts
from vectra.rest.refusals import record_early_refusal, record_refusal
from vectra.services import proxy
from vectra.services.context import ServiceContext
from vectra.services.refusals import is_access_refusal

__all__ = [
    "PROXY_PREFIX", "ProxyEndpoint", "proxy_delete", "proxy_get", "proxy_head", "proxy_options", "proxy_patch",
    "proxy_post", "proxy_put", "proxy_request",
]

log = logging.getLogger("vectra.proxy")
PROXY_PREFIX = "/proxy/"


class ProxyEndpoint:
    """Answers every HTTP request under ``/proxy/``; :class:`vectra.rest.middleware.RequestMiddleware` sends them
    here before Connexion's own middleware (none of which a proxied call needs) sees them."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        body = _AgentBody(receive)
        raw_path = scope.get("raw_path") or scope["path"].encode()
        try:
            target = target_from_raw_path(raw_path, scope["query_string"])
        except InvalidInput as exc:  # before there is a caller
            record_early_refusal(self.ctx, scope, 400, "bad_target")
            await _send_problem(send, exc)
            return
        try:
            call = proxy.ProxyCall(
                method=scope["method"],
                target=target,
                headers=[(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]],
                body=body.chunks(),
                source=AuditSource.PROXY,
            )
            outcome = await proxy.proxy(self.ctx, call)
        except VectraError as exc:
            if is_access_refusal(exc):
                await record_refusal(self.ctx, scope, exc, AuditSource.PROXY)
            await _send_problem(send, exc)
            return
        except Exception:
            log.exception("unhandled error in the proxy", extra={"path": scope["path"]})
            await _send_document(send, 500, *problem_parts(500, "Internal error", "the call failed; it has been logged",
                                                           slug="internal"))
            return
        if isinstance(outcome, proxy.Parked):
            await _send_parked(send, outcome)
        else:
            await _send_forwarded(send, outcome, receive if body.settled else None)


async def proxy_request(url: str) -> None:
    """The operation Connexion would route ``/proxy/{url}`` to; :class:`ProxyEndpoint` answers first, always."""
    raise Unavailable("the proxy endpoint is not installed")


class _AgentBody:
    """The agent's body as it streams up. ``settled``: it was read to its end or never read at all, so that what
    ``receive`` gives from now on can only be the agent going away."""

    def __init__(self, receive: Any) -> None:
        self._receive = receive
        self._started = False
        self._ended = False

    @property
    def settled(self) -> bool:
        return self._ended or not self._started

    async def chunks(self) -> AsyncIterator[bytes]:
        self._started = True
        while True:
            message = await self._receive()
            if message["type"] != "http.request":  # the agent went away: the upload must not pass for a whole one
                raise InvalidInput("the agent went away before its request body ended")
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                self._ended = True
                return


async def _close_when_gone(receive: Any, response: UpstreamResponse) -> None:
    """Close the upstream's answer once the agent has gone away (after its body, ``receive`` gives nothing else)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    await response.close()


async def _send_forwarded(send: Any, outcome: proxy.Forwarded, receive: Any | None) -> None:
    """Stream the upstream's answer to the agent. From its second chunk on, ``receive`` (when given) is watched, so
    that an agent gone mid-answer stops the upstream's being read (an endless stream would hold its connection and
    run up the upstream's costs); a one-chunk answer, the usual, pays nothing for that."""
    response = outcome.response
    watcher: asyncio.Future[None] | None = None
    try:
        headers = [*response.raw_headers, *_raw(outcome.headers)]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        # each chunk as it arrives: an agent may be reading a stream; the one that completes a declared length is
        # sent as the last, which spares the usual empty closing message
        remaining = _declared_length(headers)
        async for chunk in response.body():  # read to its end, so that the connection goes back to the pool
            remaining = None if remaining is None else remaining - len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": remaining != 0})
            if watcher is None and receive is not None and remaining != 0:
                watcher = asyncio.ensure_future(_close_when_gone(receive, response))
        if remaining != 0:
            await send({"type": "http.response.body", "body": b""})
    except VectraError as exc:  # the upstream failed mid-body: the status is sent; all we can do is stop short
        if watcher is None or not watcher.done():  # not the agent's going away, which closed the answer itself
            log.warning("upstream failed while its body was streamed", extra={"error": exc.detail})
    finally:
        if watcher is not None:
            watcher.cancel()
        await response.close()


async def _send_parked(send: Any, parked: proxy.Parked) -> None:
    pending = parked.pending
    body = json.dumps({"id": pending.id, "status": pending.status.value, "reason": pending.reason,
                       "expiresAt": rfc3339(pending.expires_at)}).encode()
    headers = [("Location", parked.location), ("Content-Type", "application/json"),
               ("Content-Length", str(len(body))), *parked.headers]
    await send({"type": "http.response.start", "status": 202, "headers": _raw(headers)})
    await send({"type": "http.response.body", "body": body})


async def _send_problem(send: Any, exc: VectraError) -> None:
    await _send_document(send, *domain_problem(exc))


async def _send_document(send: Any, status: int, document: dict[str, Any], headers: dict[str, str]) -> None:
    body = json.dumps(document).encode()
    all_headers = [("Content-Type", "application/problem+json"), ("Content-Length", str(len(body))),
                   *headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": _raw(all_headers)})
    await send({"type": "http.response.body", "body": body})


def _declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The answer's Content-Length when it has exactly one, of digits; else None (chunked, or to the close)."""
    values = [value for name, value in headers if name.lower() == b"content-length"]
    return int(values[0]) if len(values) == 1 and values[0].isdigit() else None


def _raw(pairs: list[tuple[str, str]] | Any) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs]


# Every method of the documented route resolves to the same stand-in.
proxy_get = proxy_put = proxy_post = proxy_delete = proxy_patch = proxy_head = proxy_options = proxy_request
