"""The upstream URL of a proxied call, rebuilt from the raw request path so that encoded characters survive.

``/proxy/https://api.example.com/a%2Fb?x=1`` names ``https://api.example.com/a%2Fb?x=1``: the path and query are
kept byte for byte as the agent sent them (``%2F`` stays ``%2F``). Clients that collapse ``//`` turn ``https://``
into ``https:/``; that is repaired. Anything that is not an absolute http(s) URL with a plain host is refused with
InvalidInput, before anything is resolved or sent. The URL handed to the client is rebuilt from the parsed parts,
so what is checked and what is connected to can't differ.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from vectra.domain.errors import InvalidInput

__all__ = ["DEFAULT_PORTS", "Target", "parse_target", "target_from_raw_path"]

DEFAULT_PORTS = {"http": 80, "https": 443}

_SCHEME = re.compile(r"(?i)(https?):/{1,2}")
# A registered name (letters, digits, '-', '.', '_') or a bracketed IPv6 literal, then an optional port.
_AUTHORITY = re.compile(r"(?:(?P<name>[A-Za-z0-9._-]+)|\[(?P<ipv6>[0-9A-Fa-f:.]+)\])(?::(?P<port>[0-9]{1,5}))?")
_AUTHORITY_END = re.compile(r"[/?]")
# Bytes that may not appear in a request target: controls, space, DEL and anything outside ASCII.
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\U0010ffff]")


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
    return Target(scheme=lowered, host=host, port=port, path=path or "/", query=query)
