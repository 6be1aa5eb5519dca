"""Kept-alive upstream connections, per origin and bounded in number.

Idle connections wait per origin (scheme, host, port) and are reused last in, first out, so the connections a burst
added age out while the busy ones stay warm. At most ``limit`` connections are open at once, busy or idle: a new
one first closes the longest-idle connection of any origin, else waits for a connection to close or come back.
Waiting and opening share the connect timeout. An idle connection is not reused after ``KEEPALIVE`` seconds and is
closed within twice that; one the upstream closes is dropped as soon as the upstream says so.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from vectra.domain.errors import UpstreamTimeout
from vectra.forward.http1 import Connection, Origin

__all__ = ["KEEPALIVE", "Opener", "Pool"]

#: Seconds an idle connection may wait for its next exchange (aiohttp's default too).
KEEPALIVE = 15.0

#: Opens a connection to an origin, the pool's callback for when it closes given; raises domain errors.
Opener = Callable[[Origin, Callable[[Connection], None]], Awaitable[Connection]]


class Pool:
    """The connections of one client; ``acquire`` one, then ``release`` it or close it yourself."""

    def __init__(self, loop: asyncio.AbstractEventLoop, opener: Opener, *, limit: int,
                 connect_timeout: float) -> None:
        self._loop = loop
        self._opener = opener
        self._limit = limit
        self._connect_timeout = connect_timeout
        self._idle: dict[Origin, list[Connection]] = {}
        self._open: set[Connection] = set()
        self._opening = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False

    async def acquire(self, origin: Origin, *, fresh: bool = False) -> Connection:
        """An idle connection to ``origin`` (unless ``fresh``), else a new one. Raises UpstreamTimeout when none
        could be had within the connect timeout, and what the opener raises."""
        if not fresh:
            conn = self._take(origin)
            if conn is not None:
                return conn
        try:
            async with asyncio.timeout(self._connect_timeout):
                while len(self._open) + self._opening >= self._limit:
                    conn = None if fresh else self._take(origin)
                    if conn is not None:
                        return conn
                    if not self._evict():
                        await self._wait_for_room()
                self._opening += 1
                try:
                    conn = await self._opener(origin, self._gone)
                finally:
                    self._opening -= 1
        except TimeoutError:
            self._wake_one()
            raise UpstreamTimeout("connecting to the upstream timed out") from None
        except BaseException:
            self._wake_one()
            raise
        if not conn.closed:
            self._open.add(conn)
        return conn

    def release(self, conn: Connection) -> None:
        """Keep ``conn`` for the next exchange with its origin if it can carry one, else close it."""
        if self._closed or not conn.reusable:
            conn.close()
            return
        conn.active = False
        conn.reused = True
        conn.idle_since = self._loop.time()
        self._idle.setdefault(conn.origin, []).append(conn)
        if self._sweeper is None:
            self._sweeper = self._loop.call_later(KEEPALIVE, self._sweep)
        if self._waiters:
            self._wake_one()

    async def close(self) -> None:
        """Drop every connection, busy or idle; one released afterwards is closed."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._open):
            conn.abort()
        await asyncio.sleep(0)  # the transports finish closing on the next turn of the loop

    def _take(self, origin: Origin) -> Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        now = self._loop.time()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < KEEPALIVE:
                if not idle:
                    del self._idle[origin]
                conn.active = True
                return conn
            conn.close()
        self._idle.pop(origin, None)
        return None

    def _evict(self) -> bool:
        """Close the longest-idle connection, if there is one."""
        oldest = min((idle[0] for idle in self._idle.values() if idle), key=lambda conn: conn.idle_since,
                     default=None)
        if oldest is None:
            return False
        oldest.close()
        return True

    async def _wait_for_room(self) -> None:
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._wake_one()  # woken, but leaving: the room goes to the next waiter
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _gone(self, conn: Connection) -> None:
        """Called by a connection once it is closed: its room is free."""
        self._open.discard(conn)
        idle = self._idle.get(conn.origin)
        if idle and conn in idle:
            idle.remove(conn)
            if not idle:
                del self._idle[conn.origin]
        if self._waiters:
            self._wake_one()

    def _sweep(self) -> None:
        self._sweeper = None
        now = self._loop.time()
        for idle in list(self._idle.values()):
            for conn in [conn for conn in idle if now - conn.idle_since >= KEEPALIVE]:
                conn.close()
        if self._idle:
            self._sweeper = self._loop.call_later(KEEPALIVE, self._sweep)
