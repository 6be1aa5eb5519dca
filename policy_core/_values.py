"""Value handling shared by both evaluators: number parsing, JSON equality, CIDR membership, query strings,
headers, bodies and JSON paths.

These are the cold paths (used only when a policy tests such a field); both evaluators call the same code here,
which is what keeps their behaviour identical on the hard cases. The hot paths (method, host, path, string
comparison) are written twice: plainly in ``_evaluator_py`` and typed in ``_evaluator_c``.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import uuid
from collections.abc import Mapping
from urllib.parse import parse_qsl

__all__ = [
    "MAX_JSON_BYTES",
    "MISSING",
    "agent_number",
    "agent_roles",
    "agent_text",
    "body_parts",
    "collect_headers",
    "ip_in_networks",
    "json_equal",
    "parse_json",
    "parse_number",
    "parse_query",
    "request_number",
    "time_parts",
    "walk_json",
]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self):
        return "MISSING"


#: The value of a field the request does not have (``None`` is JSON ``null``, a real value).
MISSING = _Missing()

#: Bodies longer than this are not parsed as JSON (``input.json.*`` is then missing).
MAX_JSON_BYTES = 4 * 1024 * 1024

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")


def parse_number(text: str) -> int | float | None:
    """A decimal number written in ``text`` (``"42"``, ``"-1.5e3"``), or ``None``.

    No whitespace, no ``_``, no ``inf``/``nan``; at most 64 characters. Integers stay ``int`` (exact).
    """
    if len(text) > 64 or _NUMBER.fullmatch(text) is None:
        return None
    if _INTEGER.fullmatch(text) is not None:
        return int(text)
    value = float(text)
    return value if math.isfinite(value) else None


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def request_number(value: object) -> object:
    """A number given in a request (risk, time, trust): numbers as they are, numeric strings parsed."""
    if is_number(value):
        return value
    if isinstance(value, str):
        number = parse_number(value)
        return MISSING if number is None else number
    return MISSING


def json_equal(a: object, b: object) -> bool:
    """Structural equality of JSON values in which ``true`` is not ``1`` and ``1 == 1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if is_number(a) and is_number(b):
        return a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return len(a) == len(b) and all(k in b and json_equal(v, b[k]) for k, v in a.items())
    return False


def ip_in_networks(text: str, networks: tuple) -> int:
    """1 if the address in ``text`` is in one of ``networks``, 0 if not, -1 if ``text`` is no address.

    ``[v6]`` brackets are accepted; an IPv4-mapped IPv6 address (``::ffff:10.0.0.1``) is also tested as IPv4.
    """
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return -1
    mapped = getattr(address, "ipv4_mapped", None)
    for network in networks:
        if address in network or (mapped is not None and mapped in network):
            return 1
    return 0


def parse_query(query: str) -> dict[str, tuple[str, ...]]:
    """Query parameters, percent- and ``+``-decoded, every value of a repeated parameter kept in order."""
    params: dict[str, list[str]] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True)
    except ValueError:
        return {}
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    return {name: tuple(values) for name, values in params.items()}


def _header_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    return None


def collect_headers(headers: object) -> dict[str, tuple[str, ...]]:
    """Headers by lower-cased name, every value of a repeated header kept in order.

    Accepts a mapping (values may be strings, bytes, or lists of them), an object with ``multi_items()``
    (Starlette, multidict) or an iterable of ``(name, value)`` pairs. Anything else is ignored.
    """
    collected: dict[str, list[str]] = {}
    if headers is None or isinstance(headers, (str, bytes, bytearray)):
        return {}
    try:
        if hasattr(headers, "multi_items"):
            pairs = list(headers.multi_items())
        elif isinstance(headers, Mapping):
            pairs = list(headers.items())
        else:
            pairs = list(headers)
    except Exception:
        return {}
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            continue
        name = _header_text(pair[0])
        if name is None:
            continue
        values = pair[1] if isinstance(pair[1], (list, tuple)) else (pair[1],)
        for value in values:
            text = _header_text(value)
            if text is not None:
                collected.setdefault(name.lower(), []).append(text)
    return {name: tuple(values) for name, values in collected.items()}


def body_parts(body: object) -> tuple[object, int]:
    """``(text, size)`` of a body: bytes are decoded as UTF-8 (invalid bytes replaced), size is in bytes.

    ``None`` and any type other than str/bytes/bytearray/memoryview count as no body: ``(MISSING, 0)``.
    """
    if isinstance(body, str):
        return body, len(body.encode("utf-8", "surrogatepass"))
    if isinstance(body, (bytes, bytearray, memoryview)):
        raw = bytes(body)
        return raw.decode("utf-8", "replace"), len(raw)
    return MISSING, 0


def parse_json(text: object, size: int) -> object:
    """The JSON value of a body text, or ``MISSING`` (no body, too large, not JSON). A leading byte order mark is
    skipped, as the JSON parsers of servers skip it: a body the upstream reads as JSON is JSON to the policy."""
    if not isinstance(text, str) or size > MAX_JSON_BYTES:
        return MISSING
    try:
        return json.loads(text.removeprefix("\ufeff"))
    except Exception:  # ValueError, RecursionError on absurd nesting
        return MISSING


def walk_json(document: object, path: tuple) -> object:
    """Follow a resolved JSON path (``((segment, index_or_None), ...)``) into a parsed document."""
    current = document
    for segment, index in path:
        if isinstance(current, Mapping):
            current = current.get(segment, MISSING)
            if current is MISSING:
                return MISSING
        elif isinstance(current, (list, tuple)) and index is not None and index < len(current):
            current = current[index]
        else:
            return MISSING
    return current


def agent_text(agent: Mapping, *keys: str) -> object:
    """A string attribute of the agent under the first key present; a UUID is turned into text."""
    for key in keys:
        value = agent.get(key, MISSING)
        if value is not MISSING:
            if isinstance(value, str):
                return value
            if isinstance(value, uuid.UUID):
                return str(value)
            return MISSING
    return MISSING


def agent_number(agent: Mapping, *keys: str) -> object:
    for key in keys:
        value = agent.get(key, MISSING)
        if value is not MISSING:
            return request_number(value)
    return MISSING


def agent_roles(agent: Mapping) -> object:
    """The agent's roles as a list; a single string is one role."""
    roles = agent.get("roles", MISSING)
    if isinstance(roles, str):
        return [roles]
    if isinstance(roles, (list, tuple)):
        return list(roles)
    return MISSING


def time_parts(value: object) -> tuple[object, object]:
    """``(hour, weekday)`` in UTC of an epoch time (weekday 0 = Monday), or ``(MISSING, MISSING)``."""
    number = request_number(value)
    if number is MISSING or not math.isfinite(number):
        return MISSING, MISSING
    seconds = math.floor(number)
    return (seconds // 3600) % 24, (seconds // 86400 + 3) % 7  # 1970-01-01 was a Thursday
