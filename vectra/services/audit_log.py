"""The daemon's one audit writer: serialised appends, group-committed, durable before they return.

One task owns the chain head, so concurrent callers can't fork the chain. Entries that arrive while a
transaction is being committed wait and go together into the next one, so throughput does not pay one
transaction per record. The SQLite work (canonical JSON, hashing, the transaction) runs in the log's
own thread, off the event loop. If a transaction fails, every caller in it gets :class:`Unavailable` and the head stays
where the database has it: the caller refuses whatever it was about to do (Vectra fails closed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from vectra.domain.audit import GENESIS_HASH, AuditEntry, AuditRecord, SealedRecord, record_time, seal
from vectra.domain.errors import InvalidInput, Unavailable
from vectra.store.base import Store

__all__ = ["MAX_BATCH", "AuditLog"]

log = logging.getLogger("vectra.audit")
MAX_BATCH = 1024


@dataclass
class _Pending:
    entry: AuditEntry
    done: asyncio.Future[AuditRecord]


class AuditLog:
    """Append records to the store's hash chain. ``commits`` counts the transactions that succeeded; ``failing``
    is true from a failed transaction until the next one that succeeds (the proxy refuses to forward meanwhile)."""

    def __init__(self, store: Store, max_batch: int = MAX_BATCH) -> None:
        self._store = store
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._head: tuple[int, str] | None = None  # (last id, its hash); None until read from the store
        self._stopped = False
        # its own thread: the writer is sequential anyway, and never waits behind bcrypt in the default pool
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vectra-audit")
        self.commits = 0
        self.failing = False

    @property
    def head(self) -> tuple[int, str] | None:
        """The last committed record's id and hash, (0, GENESIS_HASH) for an empty log; None if not yet read."""
        return self._head

    async def start(self) -> None:
        """Start writing and read the head from the store, so that a broken database stops the daemon at once.

        Call it before anything appends.
        """
        self._ensure_writer()
        await self._load_head()

    async def append(self, entry: AuditEntry) -> AuditRecord:
        """Add ``entry`` to the chain; returns once its record is committed. Unavailable if it can't be."""
        if self._stopped:
            raise Unavailable("the audit log is stopped; nothing can be recorded")
        self._ensure_writer()
        done: asyncio.Future[AuditRecord] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(entry, done))
        return await done

    async def stop(self) -> None:
        """Commit what is queued, then stop taking entries."""
        if self._stopped:
            return
        self._stopped = True
        if self._writer is not None:
            self._queue.put_nowait(None)
            await self._writer
        self._thread.shutdown(wait=False)

    def _ensure_writer(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None:  # a new event loop (tests run several): what the old one held is gone
                self._queue, self._writer, self._head = asyncio.Queue(), None, None
            self._loop = loop
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write(), name="vectra-audit-writer")

    async def _load_head(self) -> None:
        head = await asyncio.get_running_loop().run_in_executor(self._thread, self._store.audit_head)
        self._head = head or (0, GENESIS_HASH)

    async def _write(self) -> None:
        while True:
            first = await self._queue.get()
            batch: list[_Pending] = [] if first is None else [first]
            finishing = first is None
            while not finishing and len(batch) < self._max_batch and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    finishing = True
                else:
                    batch.append(item)
            if batch:
                await self._commit(batch)
            if finishing:
                return

    async def _commit(self, batch: list[_Pending]) -> None:
        try:
            outcomes = await asyncio.get_running_loop().run_in_executor(
                self._thread, _seal_and_append, self._store, [p.entry for p in batch]
            )
        except Exception as exc:
            log.error("audit records could not be committed; refusing their calls", extra={"error": repr(exc)})
            self.failing = True
            for pending in batch:
                _settle(pending.done, Unavailable("the audit log can't be written; the call was refused"))
            return
        records = [o for o in outcomes if isinstance(o, SealedRecord)]
        self.failing = False
        if records:
            self.commits += 1
            self._head = (records[-1].record.id, records[-1].record.hash)
        for pending, outcome in zip(batch, outcomes, strict=True):
            _settle(pending.done, outcome.record if isinstance(outcome, SealedRecord) else outcome)


def _seal_and_append(store: Store, entries: Sequence[AuditEntry]) -> list[SealedRecord | InvalidInput]:
    """Chain ``entries`` after the log's head and commit them in one transaction (in a worker thread).

    The store reads the head inside the write transaction, so another daemon appending to the same database
    in between moves the chain on rather than colliding with it. An entry that JSON can't hold exactly (NaN,
    integers past 2**53, objects that aren't JSON) is refused alone, without a place in the chain.
    """
    outcomes: list[SealedRecord | InvalidInput] = []

    def chain(head: tuple[int, str] | None) -> list[SealedRecord]:
        last_id, last_hash = head or (0, GENESIS_HASH)
        for entry in entries:
            try:
                sealed = seal(entry, record_id=last_id + 1, time=record_time(datetime.now(UTC)),
                              prev_hash=last_hash)
            except (ValueError, TypeError) as exc:
                outcomes.append(InvalidInput(f"audit entry can't be canonicalised: {exc}"))
                continue
            last_id, last_hash = sealed.record.id, sealed.record.hash
            outcomes.append(sealed)
        return [o for o in outcomes if isinstance(o, SealedRecord)]

    store.append_audit(chain)
    return outcomes


def _settle(done: asyncio.Future[AuditRecord], outcome: AuditRecord | Exception) -> None:
    """Resolve a caller's future unless the caller has gone (cancelled); its record stays committed."""
    if done.done():
        return
    if isinstance(outcome, Exception):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
