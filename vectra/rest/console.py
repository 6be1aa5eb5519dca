"""``GET /console``: the reviewer console's static files, a raw ASGI endpoint in front of Connexion.

The page is not API (it is not in ``openapi.yaml``): :class:`vectra.rest.middleware.RequestMiddleware` hands
``/console`` and everything under ``/console/`` to this endpoint. The files shipped in ``vectra/console/`` are read
once, at start; a request names one of them exactly (no path is ever built from it), and gets it with a strict
Content-Security-Policy: scripts, styles and requests only from this origin, no inline script, no framing. The page
itself holds no secret: it asks for a token and calls the HITL API with it.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import PurePosixPath
from typing import Any

from vectra.rest.problems import problem_parts

__all__ = ["CONSOLE_PATH", "ConsoleEndpoint", "is_console_path"]

CONSOLE_PATH = "/console"
_INDEX = "index.html"
_CONTENT_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
}
_SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
                                 b"object-src 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
]


def is_console_path(path: str) -> bool:
    return path == CONSOLE_PATH or path.startswith(CONSOLE_PATH + "/")


class _File:
    def __init__(self, body: bytes, content_type: bytes) -> None:
        self.body = body
        self.content_type = content_type
        self.etag = b'"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"'


def _shipped_files() -> dict[str, _File]:
    folder = resources.files("vectra") / "console"
    return {
        entry.name: _File(entry.read_bytes(), _CONTENT_TYPES[suffix])
        for entry in folder.iterdir()
        if entry.is_file() and (suffix := PurePosixPath(entry.name).suffix) in _CONTENT_TYPES
    }


class ConsoleEndpoint:
    """Answers ``GET`` and ``HEAD`` of ``/console``, ``/console/`` (the page) and ``/console/<file>``; an unknown
    file is a 404 problem, another method a 405."""

    def __init__(self) -> None:
        self._files = _shipped_files()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        name = scope["path"].removeprefix(CONSOLE_PATH).removeprefix("/") or _INDEX
        found = self._files.get(name)
        if scope["method"] not in ("GET", "HEAD"):  # uvicorn sends no body to a HEAD
            await _send_problem(send, 405, "Method not allowed", "the console is only read",
                                [(b"allow", b"GET, HEAD")])
        elif found is None:
            await _send_problem(send, 404, "Not found", "the console has no such file")
        elif (b"if-none-match", found.etag) in scope["headers"]:
            await _send(send, 304, [(b"etag", found.etag)], b"")
        else:
            headers = [(b"content-type", found.content_type), (b"content-length", str(len(found.body)).encode()),
                       (b"etag", found.etag)]
            await _send(send, 200, headers, found.body)


async def _send_problem(send: Any, status: int, title: str, detail: str,
                        headers: list[tuple[bytes, bytes]] | None = None) -> None:
    document, _ = problem_parts(status, title, detail, slug="http-" + str(status))
    body = json.dumps(document).encode()
    await _send(send, status, [(b"content-type", b"application/problem+json"),
                               (b"content-length", str(len(body)).encode()), *(headers or [])], body)


async def _send(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *_SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})
