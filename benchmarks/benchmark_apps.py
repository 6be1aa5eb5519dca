"""The two ASGI apps the proxy benchmark serves with uvicorn (``--app-dir benchmarks``).

``hello`` is the upstream when nginx is missing: a raw ASGI app answering ``hello world`` (11 bytes) to anything.
``forwarder`` is the reference forwarder, the floor any Python proxy starts from: Starlette on uvicorn, one
aiohttp ``ClientSession`` (keep-alive pool) calling ``BENCH_UPSTREAM`` with the request's method, path, query and
body, and the upstream's status, content type and body sent back. No authentication, policy, audit or header
hygiene: everything Vectra does on top of forwarding is what the benchmark compares against this.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["BODY", "forwarder", "hello"]

BODY = b"hello world"
_HELLO_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", str(len(BODY)).encode())]
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def hello(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": _HELLO_HEADERS})
    await send({"type": "http.response.body", "body": BODY})


@asynccontextmanager
async def _upstream_session(app: Starlette) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=False) as session:
        app.state.session = session
        yield


async def _forward(request: Request) -> Response:
    url = os.environ["BENCH_UPSTREAM"].rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    body = await request.body()
    session: aiohttp.ClientSession = request.app.state.session
    async with session.request(request.method, url, data=body or None, allow_redirects=False) as answer:
        content = await answer.read()
        media_type = answer.headers.get("content-type")
        return Response(content, status_code=answer.status, media_type=media_type)


forwarder = Starlette(routes=[Route("/{path:path}", _forward, methods=_METHODS)], lifespan=_upstream_session)
