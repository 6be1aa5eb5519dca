"""The REST port's protocol (``vectra/rest/protocol.py``) on a real socket, with an ASGI app that counts what reaches
it: a request that arrives in the same read behind a refused one never reaches the app."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from vectra.rest.protocol import limited_http_protocol

MAX_HEAD = 4096


async def _exchange(data: bytes) -> tuple[bytes, list[str], list[tuple[Any, ...]]]:
    """Send ``data`` in one write to a server with the protocol; what came back, the paths the app saw, and what
    the protocol reported as refused."""
    seen: list[str] = []
    refused: list[tuple[Any, ...]] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    protocol = limited_http_protocol(10, MAX_HEAD, 100, lambda *report: refused.append(report))
    config = Config(app=app, log_config=None, lifespan="off")
    config.load()
    state = ServerState()
    server = await asyncio.get_running_loop().create_server(
        lambda: protocol(config=config, server_state=state, app_state={}), "127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
        writer.write(data)
        answer = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
        await asyncio.sleep(0.1)  # anything the app was given has started by now
    finally:
        server.close()
    return answer, seen, refused


HIDDEN = b"GET /hidden HTTP/1.1\r\nHost: x\r\n\r\n"


def test_a_request_behind_a_whole_head_too_large_never_reaches_the_app() -> None:
    big = b"GET /first HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * MAX_HEAD + b"\r\n\r\n"
    answer, seen, refused = asyncio.run(_exchange(big + HIDDEN))
    assert answer.startswith(b"HTTP/1.1 431 ") and answer.count(b"HTTP/1.1 ") == 1
    assert seen == []
    assert [(status, cause) for status, cause, *_ in refused] == [(431, "head_too_large")]


def test_a_request_behind_one_of_unknown_length_never_reaches_the_app() -> None:
    head = b"POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n"
    answer, seen, refused = asyncio.run(_exchange(head + HIDDEN))
    assert answer.startswith(b"HTTP/1.1 400 ") and answer.count(b"HTTP/1.1 ") == 1
    assert seen == []
    assert [(status, cause) for status, cause, *_ in refused] == [(400, "transfer_encoding")]


def test_a_request_that_is_not_refused_reaches_the_app() -> None:
    answer, seen, refused = asyncio.run(_exchange(b"GET /first HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    assert answer.startswith(b"HTTP/1.1 200 ") and seen == ["/first"] and refused == []
