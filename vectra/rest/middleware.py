"""The outermost ASGI layer: request ids, one log line a request, the service context, body caps, and the split
between proxied calls (``/proxy/...``, to the proxy endpoint), the reviewer console's files (``/console``, to the
console endpoint) and the management API (to Connexion).

Management bodies are capped at 1 MiB and chunked ones read whole here (Connexion validates them). Proxied calls
(``/proxy/...``) are exempt from both: their cap is ``max_proxy_body_bytes``, checked here against a declared
Content-Length and counted, byte by byte as they stream, by the proxy's own body stream (413 either way).
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from typing import Any

from vectra.domain.errors import PayloadTooLarge
from vectra.logs import info_line
from vectra.rest.console import is_console_path
from vectra.rest.proxy import PROXY_PREFIX
from vectra.rest.refusals import record_early_refusal
from vectra.services.context import ServiceContext

__all__ = ["MAX_MANAGEMENT_BODY", "RequestMiddleware"]

log = logging.getLogger("vectra.access")
MAX_MANAGEMENT_BODY = 1024 * 1024
REQUEST_ID_HEADER = b"x-request-id"
_SAFE_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")


class _BodyTooLarge(Exception):
    pass


class RequestMiddleware:
    def __init__(self, app: Any, ctx: ServiceContext, *, proxy: Any, console: Any,
                 max_body: int = MAX_MANAGEMENT_BODY) -> None:
        self.app = app
        self.proxy = proxy
        self.console = console
        self.ctx = ctx
        self.max_body = max_body

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(REQUEST_ID_HEADER, b"")
        # unique, not secret: no system call for a random UUID on every request
        request_id = incoming.decode() if _SAFE_ID.match(incoming) else f"{random.getrandbits(128):032x}"
        scope.setdefault("state", {})["vectra"] = self.ctx
        scope["state"]["request_id"] = request_id
        started = time.perf_counter()
        status = 0

        proxied = scope["path"].startswith(PROXY_PREFIX)
        limit = self.ctx.settings.max_proxy_body_bytes if proxied else self.max_body
        declared = headers.get(b"content-length")
        try:
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise _BodyTooLarge
            if declared is None and b"transfer-encoding" in headers and not proxied:
                receive = await _buffered(scope, receive, self.max_body)
        except _BodyTooLarge:  # before authentication: on the record as the HTTP server's refusals are
            status = 413
            record_early_refusal(self.ctx, scope, 413, "body_too_large")
            await _send_too_large(send, request_id, limit)
            self._log(scope, status, started, request_id)
            return

        received = 0

        async def counted_receive() -> dict:
            """Defence in depth: the server holds a body to its Content-Length, and chunked ones were capped above.
            Raised inside Connexion, a domain error becomes its 413 problem."""
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise PayloadTooLarge(f"the body exceeds {self.max_body} bytes")
            return message

        async def send_with_id(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        try:
            if proxied:
                await self.proxy(scope, receive, send_with_id)
            elif is_console_path(scope["path"]):
                await self.console(scope, counted_receive, send_with_id)
            else:
                await self.app(scope, counted_receive, send_with_id)
        finally:
            self._log(scope, status, started, request_id)

    @staticmethod
    def _log(scope: dict, status: int, started: float, request_id: str) -> None:
        info_line(log, "request", {
            "request_id": request_id,
            "method": scope.get("method"),
            "path": scope.get("path"),
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "client": (scope.get("client") or ("", 0))[0],
        })


async def _buffered(scope: dict, receive: Any, limit: int) -> Any:
    """Read a chunked body (at most ``limit`` bytes) and give it a Content-Length.

    Connexion takes a request without Content-Length for one without a body; a chunked body is
    read here and replayed whole, so that it is validated and capped like any other.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return _replay(message, receive)
        size += len(message.get("body", b""))
        if size > limit:
            raise _BodyTooLarge
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    scope["headers"] = [
        (name, value) for name, value in scope["headers"] if name != b"transfer-encoding"
    ] + [(b"content-length", str(len(body)).encode())]
    return _replay({"type": "http.request", "body": body, "more_body": False}, receive)


def _replay(first: dict, receive: Any) -> Any:
    """A receive channel that gives ``first`` once, then whatever ``receive`` gives."""
    pending = [first]

    async def replayed() -> dict:
        return pending.pop() if pending else await receive()

    return replayed


async def _send_too_large(send: Any, request_id: str, limit: int) -> None:
    body = json.dumps({
        "type": "urn:vectra:problem:body-too-large",
        "title": "Request body too large",
        "status": 413,
        "detail": f"the body exceeds {limit} bytes",
    }).encode()
    await send({
        "type": "http.response.start",
        "status": 413,
        "headers": [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (REQUEST_ID_HEADER, request_id.encode()),
        ],
    })
    await send({"type": "http.response.body", "body": body})
