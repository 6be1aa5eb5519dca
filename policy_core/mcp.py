"""What a JSON body says as an MCP (JSON-RPC 2.0) message: the ``input.mcp.*`` fields and the audit's ``mcp``.

MCP's Streamable HTTP transport POSTs one JSON-RPC message per request. A body counts as MCP when its JSON is an
object with ``"jsonrpc": "2.0"`` and a string ``method`` (a request, or a notification when it has no ``id``);
for ``tools/call`` its ``params.name`` is the tool and ``params.arguments`` the tool's arguments. A JSON array
holding at least one JSON-RPC 2.0 object is a batch: only its size is exposed, so that a policy can refuse it
rather than judge one of its messages and let the others through (MCP dropped batching in its 2025-06-18
revision). Anything else of any shape yields missing fields, never an error.

Both evaluators call :func:`mcp_view` (at most once per prepared request); the proxy's audit record calls
:func:`mcp_call`, which reads a raw body by the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from ._values import MISSING, body_parts, parse_json

__all__ = ["TOOLS_CALL", "McpCall", "mcp_call", "mcp_view"]

#: The method whose ``params`` name a tool and hold its arguments.
TOOLS_CALL = "tools/call"

_NOTHING = (MISSING, MISSING, MISSING, MISSING)


class McpCall(NamedTuple):
    """One JSON-RPC 2.0 request or notification: its ``method``, and the ``tool`` of a ``tools/call``."""

    method: str
    tool: str | None


def _is_jsonrpc(message: object) -> bool:
    return isinstance(message, Mapping) and message.get("jsonrpc") == "2.0"


def mcp_view(document: object) -> tuple[object, object, object, object]:
    """``(method, tool, arguments, batch)`` of a parsed JSON body, each ``MISSING`` when it does not apply."""
    if isinstance(document, list):
        if any(_is_jsonrpc(message) for message in document):
            return MISSING, MISSING, MISSING, len(document)
        return _NOTHING
    if not _is_jsonrpc(document):
        return _NOTHING
    method = document.get("method")
    if not isinstance(method, str):
        return _NOTHING
    params = document.get("params")
    if method != TOOLS_CALL or not isinstance(params, Mapping):
        return method, MISSING, MISSING, MISSING
    tool = params.get("name")
    return method, tool if isinstance(tool, str) else MISSING, params.get("arguments", MISSING), MISSING


def mcp_call(body: bytes | bytearray | memoryview | str | None) -> McpCall | None:
    """The MCP call a raw request body holds, for the audit record; ``None`` when it holds none (not JSON,
    not JSON-RPC 2.0, a batch, too large to parse)."""
    text, size = body_parts(body)
    method, tool, _, _ = mcp_view(parse_json(text, size))
    if method is MISSING:
        return None
    return McpCall(method, None if tool is MISSING else tool)
