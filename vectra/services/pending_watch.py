"""Wake-ups for whoever waits on a parked request (a long poll, a Watch stream) when this daemon changes it.

Changes made by another daemon sharing the database are not announced here; waiters also look again every
:data:`RECHECK_SECONDS`, which bounds how late they see those.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

__all__ = ["RECHECK_SECONDS", "PendingWatch"]

RECHECK_SECONDS = 1.0


class PendingWatch:
    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}

    def changed(self, pending_id: str) -> None:
        for event in self._waiting.get(pending_id, ()):
            event.set()

    @contextlib.contextmanager
    def watching(self, pending_id: str) -> Iterator[asyncio.Event]:
        """An event set on each change of the request, for as long as the block runs."""
        event = asyncio.Event()
        self._waiting.setdefault(pending_id, set()).add(event)
        try:
            yield event
        finally:
            waiting = self._waiting.get(pending_id)
            if waiting is not None:
                waiting.discard(event)
                if not waiting:
                    del self._waiting[pending_id]
