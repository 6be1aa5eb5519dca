"""What this daemon knows of parked requests in motion: who waits on one (a long poll, a Watch stream), to wake them
when it changes, and which approved ones are being replayed.

Changes made by another daemon sharing the database are not announced here; waiters also look again every
:data:`RECHECK_SECONDS`, which bounds how late they see those.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from vectra.domain.errors import RateLimited

__all__ = ["MAX_WAITS_PER_CALLER", "RECHECK_SECONDS", "PendingWatch"]

RECHECK_SECONDS = 1.0
#: Long polls and Watch streams one caller may hold open at once.
MAX_WAITS_PER_CALLER = 16
T = TypeVar("T")


class PendingWatch:
    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Event]] = {}
        self._waits_by_caller: Counter[str] = Counter()
        self._replays: dict[str, asyncio.Task[Any]] = {}

    def changed(self, pending_id: str) -> None:
        for event in self._waiting.get(pending_id, ()):
            event.set()

    @contextlib.contextmanager
    def watching(self, pending_id: str, caller: str) -> Iterator[asyncio.Event]:
        """An event set on each change of the request, for as long as the block runs; RateLimited when ``caller``
        already holds :data:`MAX_WAITS_PER_CALLER`."""
        if self._waits_by_caller[caller] >= MAX_WAITS_PER_CALLER:
            raise RateLimited(f"at most {MAX_WAITS_PER_CALLER} waits for HITL decisions may be open at once")
        self._waits_by_caller[caller] += 1
        event = asyncio.Event()
        self._waiting.setdefault(pending_id, set()).add(event)
        try:
            yield event
        finally:
            self._waits_by_caller[caller] -= 1
            if not self._waits_by_caller[caller]:
                del self._waits_by_caller[caller]
            waiting = self._waiting.get(pending_id)
            if waiting is not None:
                waiting.discard(event)
                if not waiting:
                    del self._waiting[pending_id]

    def replay(self, pending_id: str, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``work`` (an approved request's replay and its record) as a task of its own: the caller may give up
        waiting for it, it carries on."""
        task = asyncio.get_running_loop().create_task(work, name=f"vectra-hitl-replay-{pending_id}")
        self._replays[pending_id] = task
        task.add_done_callback(lambda _: self._replays.pop(pending_id, None))
        return task

    def replaying(self, pending_id: str) -> bool:
        return pending_id in self._replays
