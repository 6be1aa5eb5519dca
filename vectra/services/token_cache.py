"""Tokens already verified, so that an agent's every call doesn't pay for parsing and checking its JWT again.

PyJWT checks a token in pure Python (base64 alphabet scans, JSON, claim checks): about a third of a proxied call's
time. A token is kept here once it has passed every check, until it expires; a hit compares the whole token string,
so a token that differs in one byte is verified from scratch. What can change about a valid token's owner (deleted,
revoked, quarantined) is checked on every call from the agent, not from the token, so caching the token changes
nothing there. Keys are only ever added while the daemon runs, so no cached token outlives its key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["VerifiedTokens"]


class VerifiedTokens:
    def __init__(self, capacity: int = 50_000, clock: Callable[[], float] = time.time) -> None:
        self._capacity = capacity
        self._clock = clock
        self._entries: dict[str, tuple[float, Mapping[str, Any]]] = {}

    def get(self, token: str) -> Mapping[str, Any] | None:
        """The token's claims if it was verified and has not expired since."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if self._clock() >= entry[0]:
            del self._entries[token]
            return None
        return entry[1]

    def put(self, token: str, claims: Mapping[str, Any], expires_at: float) -> None:
        """Keep ``claims`` until ``expires_at`` (UNIX seconds, the last moment the token is still accepted)."""
        if len(self._entries) >= self._capacity:
            now = self._clock()
            self._entries = {t: e for t, e in self._entries.items() if e[0] > now}
            if len(self._entries) >= self._capacity:
                self._entries.clear()
        self._entries[token] = (expires_at, claims)
