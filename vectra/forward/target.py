"""The upstream URL of a proxied call, rebuilt from the raw request path so that encoded characters survive.

``/proxy/https://api.example.com/a%2Fb?x=1`` names ``https://api.example.com/a%2Fb?x=1``: the query is kept byte for
byte as the agent sent it, and the path is kept except for its normalisation (:func:`canonical_path`: ``%2F``
stays ``%2F``). Clients that collapse ``//`` turn ``https://`` into ``https:/``; that is repaired. Anything that is
not an absolute http(s) URL with a plain host is refused with InvalidInput, before anything is resolved or sent.
The URL handed to the client is rebuilt from the parsed parts, so what the policy judges, what is checked and what
is connected to can't differ.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from vectra.domain.errors import InvalidInput

__all__ = ["DEFAULT_PORTS", "Target", "canonical_path", "parse_target", "target_from_raw_path"]

DEFAULT_PORTS = {"http": 80, "https": 443}

_SCHEME = re.compile(r"(?i)(https?):/{1,2}")
# A registered name (letters, digits, '-', '.', '_') or a bracketed IPv6 literal, then an optional port.
_AUTHORITY = re.compile(r"(?:(?P<name>[A-Za-z0-9._-]+)|\[(?P<ipv6>[0-9A-Fa-f:.]+)\])(?::(?P<port>[0-9]{1,5}))?")
_AUTHORITY_END = re.compile(r"[/?]")
# Bytes that may not appear in a request target: controls, space, DEL and anything outside ASCII.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\U0010ffff]")
_ESCAPE = re.compile(r"%(?P<hex>[0-9A-Fa-f]{2})|%")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# What some servers also take for a segment's end: a backslash, an encoded slash or backslash, a ';' parameter.
_SEGMENT_END = re.compile(r"/|\\|%2F|%5C|;")


@dataclass(frozen=True, slots=True)
class Target:
    """An upstream URL split into what the guard, the breaker and the client need.

    ``host`` is lower-cased (IPv6 without brackets); ``path`` and ``query`` are raw, still percent-encoded.
    """

    scheme: str
    host: str
    port: int
    path: str
    query: str

    @property
    def authority(self) -> str:
        """``host[:port]`` as the ``Host`` header gives it (the port only when not the scheme's default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"

    @property
    def origin(self) -> str:
        """``scheme://host:port``: what a connection pool and a circuit breaker are kept per."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.authority}{self.path}" + (f"?{self.query}" if self.query else "")


def target_from_raw_path(raw_path: bytes, query_string: bytes = b"", prefix: str = "/proxy/") -> Target:
    """The target of ``/proxy/{url}`` from ASGI's ``raw_path`` and ``query_string`` (never the decoded path)."""
    try:
        path = raw_path.decode("ascii")
        query = query_string.decode("ascii")
    except UnicodeDecodeError:
        raise InvalidInput("the upstream URL must be ASCII (percent-encode other characters)") from None
    if not path.startswith(prefix):
        raise InvalidInput(f"the proxy path must start with {prefix}")
    return _parse(path[len(prefix):], query)


def parse_target(url: str) -> Target:
    """The target from a whole URL string (the gRPC envelope's ``url``); the fragment is dropped."""
    url, _, query = url.partition("#")[0].partition("?")
    return _parse(url, query)


def _parse(url: str, query: str) -> Target:
    if _FORBIDDEN.search(url) or _FORBIDDEN.search(query):
        raise InvalidInput("the upstream URL contains control characters, spaces or non-ASCII characters")
    url = url.partition("#")[0]
    query = query.partition("#")[0]
    scheme = _SCHEME.match(url)
    if scheme is None:
        raise InvalidInput("the upstream URL must be absolute, with an http or https scheme")
    rest = url[scheme.end():]
    end = _AUTHORITY_END.search(rest)
    cut = end.start() if end else len(rest)
    authority, path = rest[:cut], rest[cut:]
    if "?" in path:  # only possible from a whole URL string, whose query was split off already
        raise InvalidInput("the upstream URL has two queries")
    if "@" in authority:
        raise InvalidInput("the upstream URL must not carry credentials (user@host)")
    parts = _AUTHORITY.fullmatch(authority)
    if parts is None:
        raise InvalidInput("the upstream URL has no valid host")
    host = (parts["name"] or parts["ipv6"]).lower()
    if parts["ipv6"] is not None:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidInput("the upstream URL has an invalid IPv6 address") from None
    elif host.strip(".") == "":
        raise InvalidInput("the upstream URL has no valid host")
    lowered = scheme[1].lower()
    port = int(parts["port"]) if parts["port"] else DEFAULT_PORTS[lowered]
    if not 0 < port <= 65535:
        raise InvalidInput("the upstream URL's port is out of range")
    return Target(scheme=lowered, host=host, port=port, path=canonical_path(path), query=query)


def canonical_path(path: str) -> str:
    """The one spelling of a path that the policy judges and the upstream gets, so that no server's own
    normalisation can make a path the policy let through name another one (``/public/../admin``).

    Equivalent spellings are made one (RFC 3986 §6.2.2): percent-encoded unreserved characters are decoded
    (``%2e`` → ``.``, ``%61`` → ``a``) and other escapes upper-cased (``%2f`` → ``%2F``); ``.`` and ``..`` segments
    are removed (§5.2.4) and empty segments merged (``//admin`` → ``/admin``), as most servers do. Refused with
    InvalidInput: an escaped NUL (``%00``, which C servers cut the path at), a ``%`` not followed by two hex
    digits, and a ``.`` or ``..`` left between other separators (``\\``, ``%2F``, ``%5C``, ``;``), which some
    servers resolve and others don't. Letter case is left alone: that is the policy's matter.
    """
    def unescape(match: re.Match[str]) -> str:
        if match["hex"] is None:
            raise InvalidInput("the upstream URL's path has a '%' that is not followed by two hex digits")
        char = chr(int(match["hex"], 16))
        if char == "\0":
            raise InvalidInput("the upstream URL's path has an escaped NUL (%00)")
        return char if char in _UNRESERVED else match[0].upper()

    decoded = _ESCAPE.sub(unescape, path)
    segments: list[str] = []
    for segment in decoded.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    for segment in segments:
        if any(piece in (".", "..") for piece in _SEGMENT_END.split(segment)):
            raise InvalidInput("the upstream URL's path has a '.' or '..' segment behind an encoded or unusual "
                               "separator")
    trailing = "/" if segments and decoded.rsplit("/", 1)[-1] in ("", ".", "..") else ""
    return "/" + "/".join(segments) + trailing
