"""Field names: resolution of ``input.*`` names and aliases to accessor codes.

A field name is resolved once, when the policy loads, to a :class:`FieldRef`: an integer code the evaluators
switch on, an argument (header name, query parameter, JSON path, agent key) and the canonical spelling.

Names:

=========================  ==========  ====================================================================
field                      kind        value
=========================  ==========  ====================================================================
input.method               string      upper-cased request method
input.url                  string      the URL as given
input.scheme               string      lower-cased scheme (``https``)
input.host                 string      lower-cased host, without port or brackets (IPv6)
input.port                 number      explicit port, else 80 (http, ws) / 443 (https, wss)
input.path                 string      raw path (not percent-decoded), ``/`` when empty
input.query                string      raw query string (after ``?``, before ``#``)
input.query.<param>        multi       decoded values of the parameter (case-sensitive name)
input.headers.<name>       multi       values of the header (case-insensitive name)
input.body                 string      body text (UTF-8, invalid bytes replaced)
input.json[.<path>]        any         the parsed JSON body; path segments split on ``.``; a segment of
                                       ASCII digits indexes a list
input.bodySize             number      body length in bytes (0 without a body)
input.agent.id|name|       string      the agent's id, name, owner (``ownerId`` or ``owner_id``)
  ownerId
input.agent.trustScore     number      ``trustScore`` or ``trust_score`` of the agent
input.agent.roles          list        the agent's roles
input.agent.<key>          any         any other key of the agent mapping (capabilities, realm, ...)
input.risk.score           number      the request's ``risk`` (a number, or a mapping with ``score``)
input.time.hour            number      0..23, UTC, of the request's ``time`` (default: now)
input.time.weekday         number      0..6, UTC, 0 = Monday ... 6 = Sunday
input.mcp.method           string      the JSON-RPC method when the JSON body is a JSON-RPC 2.0 request or
                                       notification (an object with ``"jsonrpc": "2.0"`` and a string
                                       ``method``)
input.mcp.tool             string      ``params.name`` (a string) when the method is ``tools/call``
input.mcp.arguments        any         ``params.arguments`` when the method is ``tools/call``; a path
  [.<path>]                            walks it like ``input.json``
input.mcp.batch            number      the number of messages when the JSON body is an array holding at least
                                       one JSON-RPC 2.0 object (a batch: method, tool and arguments are then
                                       missing)
=========================  ==========  ====================================================================

The ``input.`` prefix is optional. The fixed names are matched case-insensitively (``input.bodysize`` works);
the part after ``headers.`` is lower-cased; query parameters, JSON paths (of ``input.json`` and
``input.mcp.arguments``) and agent keys are case-sensitive.
Aliases: ``input.agentId`` → ``input.agent.id``, ``input.trustScore`` and ``input.agent.trust_score`` →
``input.agent.trustScore``, ``input.targetUrl`` → ``input.url``, ``input.agent.owner_id`` →
``input.agent.ownerId``, ``input.risk`` → ``input.risk.score``.

"multi" fields can have several values (a repeated header or parameter): a positive operator (``eq``,
``contains``, ...) holds when any value satisfies it, and a negated one (``ne``, ``notContains``, ``notIn``)
when no value satisfies the positive form.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "BODY_CODES",
    "FIELD_NAMES",
    "KIND_ANY",
    "KIND_LIST",
    "KIND_MULTI",
    "KIND_NUMBER",
    "KIND_STRING",
    "FieldRef",
    "resolve_field",
]

# Accessor codes, shared by both evaluators (the .pyx mirrors these numbers).
F_METHOD = 1
F_URL = 2
F_SCHEME = 3
F_HOST = 4
F_PORT = 5
F_PATH = 6
F_QUERY = 7
F_QUERY_PARAM = 8
F_HEADER = 9
F_BODY = 10
F_JSON = 11
F_BODY_SIZE = 12
F_AGENT_ID = 13
F_AGENT_NAME = 14
F_AGENT_OWNER = 15
F_AGENT_TRUST = 16
F_AGENT_ROLES = 17
F_AGENT_KEY = 18
F_RISK = 19
F_TIME_HOUR = 20
F_TIME_WEEKDAY = 21
F_MCP_METHOD = 22
F_MCP_TOOL = 23
F_MCP_ARGUMENTS = 24
F_MCP_BATCH = 25

#: The codes of the fields read from the body: a policy testing one must see the whole body before deciding.
BODY_CODES = frozenset({F_BODY, F_JSON, F_BODY_SIZE, F_MCP_METHOD, F_MCP_TOOL, F_MCP_ARGUMENTS, F_MCP_BATCH})

#: The fields whose argument is a JSON path (the empty path: the whole value).
_PATH_CODES = (F_JSON, F_MCP_ARGUMENTS)

KIND_STRING = "string"
KIND_NUMBER = "number"
KIND_LIST = "list"
KIND_MULTI = "multi"
KIND_ANY = "any"

MAX_JSON_PATH_SEGMENTS = 64


class FieldRef(NamedTuple):
    """A resolved field: accessor ``code``, its ``arg`` (or ``None``), ``canonical`` name and value ``kind``."""

    code: int
    arg: object
    canonical: str
    kind: str


_FIXED: dict[str, tuple[int, str, str]] = {
    "method": (F_METHOD, "input.method", KIND_STRING),
    "url": (F_URL, "input.url", KIND_STRING),
    "targeturl": (F_URL, "input.url", KIND_STRING),
    "scheme": (F_SCHEME, "input.scheme", KIND_STRING),
    "host": (F_HOST, "input.host", KIND_STRING),
    "port": (F_PORT, "input.port", KIND_NUMBER),
    "path": (F_PATH, "input.path", KIND_STRING),
    "query": (F_QUERY, "input.query", KIND_STRING),
    "body": (F_BODY, "input.body", KIND_STRING),
    "bodysize": (F_BODY_SIZE, "input.bodySize", KIND_NUMBER),
    "json": (F_JSON, "input.json", KIND_ANY),
    "agent.id": (F_AGENT_ID, "input.agent.id", KIND_STRING),
    "agentid": (F_AGENT_ID, "input.agent.id", KIND_STRING),
    "agent.name": (F_AGENT_NAME, "input.agent.name", KIND_STRING),
    "agent.ownerid": (F_AGENT_OWNER, "input.agent.ownerId", KIND_STRING),
    "agent.owner_id": (F_AGENT_OWNER, "input.agent.ownerId", KIND_STRING),
    "agent.trustscore": (F_AGENT_TRUST, "input.agent.trustScore", KIND_NUMBER),
    "agent.trust_score": (F_AGENT_TRUST, "input.agent.trustScore", KIND_NUMBER),
    "trustscore": (F_AGENT_TRUST, "input.agent.trustScore", KIND_NUMBER),
    "agent.roles": (F_AGENT_ROLES, "input.agent.roles", KIND_LIST),
    "risk": (F_RISK, "input.risk.score", KIND_NUMBER),
    "risk.score": (F_RISK, "input.risk.score", KIND_NUMBER),
    "time.hour": (F_TIME_HOUR, "input.time.hour", KIND_NUMBER),
    "time.weekday": (F_TIME_WEEKDAY, "input.time.weekday", KIND_NUMBER),
    "mcp.method": (F_MCP_METHOD, "input.mcp.method", KIND_STRING),
    "mcp.tool": (F_MCP_TOOL, "input.mcp.tool", KIND_STRING),
    "mcp.arguments": (F_MCP_ARGUMENTS, "input.mcp.arguments", KIND_ANY),
    "mcp.batch": (F_MCP_BATCH, "input.mcp.batch", KIND_NUMBER),
}

_MCP_ARGUMENTS = "mcp.arguments."

#: The canonical names of the fixed fields (the prefixed families are ``input.headers.<name>``,
#: ``input.query.<param>``, ``input.json.<path>``, ``input.mcp.arguments.<path>`` and ``input.agent.<key>``).
FIELD_NAMES: tuple[str, ...] = tuple(sorted({canonical for _, canonical, _ in _FIXED.values()}))


def resolve_field(name: object) -> FieldRef:
    """Resolve a field name; ``ValueError`` with a one-line message when it names no field."""
    if not isinstance(name, str) or not name:
        raise ValueError("field must be a non-empty string")
    rest = name[6:] if name[:6].lower() == "input." else name
    fixed = _FIXED.get(rest.lower())
    if fixed is not None:
        code, canonical, kind = fixed
        return FieldRef(code, () if code in _PATH_CODES else None, canonical, kind)
    if rest[: len(_MCP_ARGUMENTS)].lower() == _MCP_ARGUMENTS:
        tail = rest[len(_MCP_ARGUMENTS) :]
        if not tail:
            raise ValueError(f"field {name!r} needs a path after 'mcp.arguments.'")
        return FieldRef(F_MCP_ARGUMENTS, _json_path(tail), f"input.mcp.arguments.{tail}", KIND_ANY)
    head, dot, tail = rest.partition(".")
    family = head.lower()
    if dot and tail:
        if family == "headers":
            return FieldRef(F_HEADER, tail.lower(), f"input.headers.{tail.lower()}", KIND_MULTI)
        if family == "query":
            return FieldRef(F_QUERY_PARAM, tail, f"input.query.{tail}", KIND_MULTI)
        if family == "json":
            return FieldRef(F_JSON, _json_path(tail), f"input.json.{tail}", KIND_ANY)
        if family == "agent":
            return FieldRef(F_AGENT_KEY, tail, f"input.agent.{tail}", KIND_ANY)
    if family in ("headers", "query", "json", "agent") and dot:
        raise ValueError(f"field {name!r} needs a name after '{head}.'")
    raise ValueError(f"unknown field {name!r}")


def _json_path(tail: str) -> tuple[tuple[str, int | None], ...]:
    segments = tail.split(".")
    if len(segments) > MAX_JSON_PATH_SEGMENTS:
        raise ValueError(f"JSON path has more than {MAX_JSON_PATH_SEGMENTS} segments")
    if any(not segment for segment in segments):
        raise ValueError(f"JSON path {tail!r} has an empty segment")
    return tuple(
        (segment, int(segment) if segment.isascii() and segment.isdigit() else None) for segment in segments
    )
