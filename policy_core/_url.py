"""Splitting a request URL into the parts policies test (the reference for the compiled splitter).

``split_url(url) -> (scheme, host, port, path, query)``; a part that is absent is ``None``.

- The scheme is what precedes ``://`` when it is a valid RFC 3986 scheme; it is lower-cased. Without one,
  the URL is treated as a path (``scheme``, ``host``, ``port`` are ``None``).
- The authority ends at the first ``/``, ``?`` or ``#``; user info (up to the last ``@``) is dropped; the host
  is lower-cased, brackets of an IPv6 literal removed; an empty host is ``None``.
- ``port``: an explicit port of 1-5 ASCII digits up to 65535; else 80 for http/ws, 443 for https/wss when no
  port is written; an invalid explicit port (``:abc``) is ``None``.
- The fragment is dropped; ``query`` is the raw text after ``?`` (``""`` for a bare ``?``; ``None`` without);
  ``path`` the raw text before it, ``/`` when empty. Nothing is percent-decoded.
"""

from __future__ import annotations

__all__ = ["DEFAULT_PORTS", "split_url"]

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")


def _is_scheme(text: str) -> bool:
    return bool(text) and text[0].isascii() and text[0].isalpha() and all(c in _SCHEME_CHARS for c in text)


def split_url(url: str) -> tuple[str | None, str | None, int | None, str, str | None]:
    scheme = host = port = None
    rest = url
    i = url.find("://")
    if i > 0 and _is_scheme(url[:i]):
        scheme = url[:i].lower()
        rest = url[i + 3 :]
        end = len(rest)
        for stop in "/?#":
            j = rest.find(stop)
            if 0 <= j < end:
                end = j
        authority = rest[:end]
        rest = rest[end:]
        at = authority.rfind("@")
        if at >= 0:
            authority = authority[at + 1 :]
        port_text = None
        if authority.startswith("["):
            close = authority.find("]")
            if close < 0:
                host = authority[1:]
            else:
                host = authority[1:close]
                after = authority[close + 1 :]
                if after.startswith(":"):
                    port_text = after[1:]
        else:
            colon = authority.rfind(":")
            if colon >= 0:
                host = authority[:colon]
                port_text = authority[colon + 1 :]
            else:
                host = authority
        host = host.lower() or None
        if not port_text:
            port = DEFAULT_PORTS.get(scheme)
        elif len(port_text) <= 5 and port_text.isascii() and port_text.isdigit():
            port = int(port_text)
            if port > 65535:
                port = None
    hash_at = rest.find("#")
    if hash_at >= 0:
        rest = rest[:hash_at]
    q = rest.find("?")
    if q >= 0:
        path, query = rest[:q], rest[q + 1 :]
    else:
        path, query = rest, None
    return scheme, host, port, path or "/", query
