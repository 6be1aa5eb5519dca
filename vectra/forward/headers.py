"""Which headers cross the gateway, in each direction.

Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are removed both ways, with every header the
``Connection`` header names. The gateway's own credentials never leave: when ``Vectra-Authorization`` is present
it carries the gateway token and the agent's ``Authorization`` is the upstream's; otherwise ``Authorization`` is
the gateway token and is dropped. No other ``Vectra-*`` header is forwarded, and none comes back from the upstream:
those are the gateway's own (an upstream can't pass for it with a ``Vectra-Decision`` of its choosing). The
upstream's ``Date`` gives way to the gateway server's own, which it always sends. Everything else keeps its order and
multiplicity. Headers are (name, value) pairs of latin-1 text; the agent's may be bytes (ASGI's raw headers) and
are checked here (token names; no CR, LF or NUL in values), the upstream's were checked by the client's parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from vectra.domain.errors import InvalidInput

__all__ = ["HOP_BY_HOP", "HeaderPairs", "announces_body", "is_token", "request_headers", "response_headers"]

HeaderPairs = list[tuple[str, str]]

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
    "proxy-authorization", "proxy-authenticate",
})

_DROPPED_FROM_ANSWERS = HOP_BY_HOP | {"date"}
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(r"[\r\n\x00]")


def request_headers(incoming: Iterable[tuple[str | bytes, str | bytes]], authority: str) -> HeaderPairs:
    """The headers to send upstream, with ``Host`` set to the upstream's ``authority``."""
    pairs = _checked(incoming)
    names = {name.lower() for name, _ in pairs}
    drop = HOP_BY_HOP | _named_by_connection(pairs) | {"host"}
    if "vectra-authorization" not in names:
        drop |= {"authorization"}
    kept = [(name, value) for name, value in pairs
            if name.lower() not in drop and not name.lower().startswith("vectra-")]
    return [("Host", authority), *kept]


def response_headers(pairs: HeaderPairs) -> HeaderPairs:
    """The upstream's headers to send back to the agent. They come from the client's parser, which has refused
    an answer whose header names are not tokens or whose values hold CR, LF, NUL or other controls."""
    named = _named_by_connection(pairs)
    return [(name, value) for name, value in pairs
            if (lower := name.lower()) not in _DROPPED_FROM_ANSWERS and lower not in named
            and not lower.startswith("vectra-")]


def announces_body(incoming: Iterable[tuple[str | bytes, str | bytes]]) -> bool:
    """Whether a request has a body: it has one exactly when it sends Content-Length or Transfer-Encoding."""
    return any(_text(name).lower() in ("content-length", "transfer-encoding") for name, _ in incoming)


def is_token(text: str) -> bool:
    """Whether ``text`` is an RFC 9110 token (what header names and methods are made of)."""
    return _TOKEN.fullmatch(text) is not None


def _checked(incoming: Iterable[tuple[str | bytes, str | bytes]]) -> HeaderPairs:
    pairs = [(_text(name), _text(value)) for name, value in incoming]
    for name, value in pairs:
        if not is_token(name):
            raise InvalidInput(f"invalid header name {name[:40]!r}")
        if _BAD_VALUE.search(value):
            raise InvalidInput(f"header {name!r} contains CR, LF or NUL")
    return pairs


def _named_by_connection(pairs: HeaderPairs) -> frozenset[str]:
    return frozenset(
        token.strip().lower()
        for name, value in pairs if name.lower() == "connection"
        for token in value.split(",") if token.strip()
    )


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value
