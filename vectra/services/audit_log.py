"""The daemon's one audit writer: serialised appends, group-committed, durable before they return.

One task owns the chain head, so concurrent callers can't fork the chain. Entries that arrive while a
transaction is being committed wait and go together into the next one, so throughput does not pay one
transaction per record. The SQLite work (canonical JSON, hashing, the transaction) runs in the log's
own thread, off the event loop. If a transaction fails, every caller in it gets :class:`Unavailable` and the head stays
where the database has it: the caller refuses whatever it was about to do (Vectra fails closed).

A change to the store can travel with its record (:meth:`AuditLog.apply`): it runs inside the same transaction,
under a savepoint, so the change and its record commit together or not at all. That is how a management change
can't stand without its record, and how a proxied call's trust update costs no transaction of its own.

Each record of a session (``details.sessionId``) is also sealed with ``details.sessionPrevHash``, the hash of the
session's previous record (null for its first): a chain of the session inside the chain of the log, which shows a
record of the session left out of its compliance export (docs/audit.md, "The session chain").
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, NamedTuple, TypeVar

from vectra.domain.audit import (
    GENESIS_HASH,
    AuditEntry,
    AuditRecord,
    AuditSource,
    SealedRecord,
    record_time,
    seal,
)
from vectra.domain.errors import InvalidInput, Unavailable, VectraError
from vectra.store.base import Store

__all__ = ["MAX_BATCH", "SESSION_PREV_HASH", "Applied", "AuditLog", "Change", "session_of"]

log = logging.getLogger("vectra.audit")
MAX_BATCH = 1024
_PROBE = "the write probe"  # what :meth:`AuditLog.probe` commits, as its log lines name it
_RESUMED = "audit.resumed"  # the record that ends a failure of records (:meth:`AuditLog.probe`)
#: the detail linking a session's record to the session's previous one (its hash; null for the first): the session
#: chain, inside the hash, so that a record of the session can't be left out of its export unseen (docs/audit.md)
SESSION_PREV_HASH = "sessionPrevHash"
R = TypeVar("R")


class Applied(NamedTuple, Generic[R]):
    """What a change did (``result``, for its caller) and the entries that record it, in chain order: usually
    the entry it was given, perhaps amended with what the change found, and any that follow from it; none when
    the change found nothing to do."""

    result: R
    entries: Sequence[AuditEntry]


#: A store change made in the audit writer's transaction, given the entry that records it. It runs in the
#: writer's thread: it may call the store's methods and must not touch the event loop. A domain error it raises
#: refuses its own entry alone (the savepoint is rolled back); the rest of the batch commits.
Change = Callable[[AuditEntry], Applied[Any]]


@dataclass
class _Pending:
    entry: AuditEntry
    change: Change | None
    done: asyncio.Future[tuple[AuditRecord | None, Any]]


class AuditLog:
    """Append records to the store's hash chain. ``commits`` counts the transactions that succeeded; ``failing``
    is true from a failed transaction (or :meth:`probe`) until the next one that succeeds (the proxy refuses to
    forward meanwhile, and health says Unhealthy). A probe that succeeds clears only a failure a probe found: its
    one-row write may pass where appending records fails (a disk with room for a page, not for a batch), and
    clearing that failure would let calls be forwarded whose records then fail; a failure of records ends with a
    record (:meth:`probe`)."""

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
        self._failed_by: str | None = None  # what found the log failing: "the write probe" or records

    @property
    def failing(self) -> bool:
        return self._failed_by is not None

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
        record, _ = await self._submit(entry, None)
        assert record is not None
        return record

    async def apply(self, entry: AuditEntry, change: Change) -> tuple[AuditRecord | None, Any]:
        """Make ``change`` and record it with ``entry``, in one transaction; once both are committed, returns the
        (first) record, None when the change recorded nothing, and the change's result. The change's own domain
        error is raised as it is; Unavailable if the transaction fails (then nothing of it was made)."""
        return await self._submit(entry, change)

    async def _submit(self, entry: AuditEntry, change: Change | None) -> tuple[AuditRecord | None, Any]:
        if self._stopped:
            raise Unavailable("the audit log is stopped; nothing can be recorded")
        self._ensure_writer()
        done: asyncio.Future[tuple[AuditRecord | None, Any]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(entry, change, done))
        return await done

    async def probe(self) -> bool:
        """Commit a write outside the chain (the store's probe), in the writer's thread, and set ``failing`` from
        its outcome as a commit of records would: so that a database that stopped taking writes is known before a
        call is forwarded, and one that takes them again is known without a call refused to find out.

        When it was records that failed, the probe's one-row write passing proves too little (a disk may have room
        for a page but not for a batch): the log then appends one ``audit.resumed`` record, and only that record
        committing clears the failure."""
        try:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._store.probe_write,
                                                             datetime.now(UTC))
        except Exception as exc:
            self._committed(exc, _PROBE)
            return False
        if self._failed_by not in (None, _PROBE):
            with contextlib.suppress(Unavailable):  # still failing: the next probe tries again
                await self.append(AuditEntry(actor="vectra", source=AuditSource.CONTROL_PLANE, action=_RESUMED,
                                             reason="the database takes records again"))
            return not self.failing
        self._committed(None, _PROBE)
        return True

    def _committed(self, error: Exception | None, what: str) -> None:
        """Set ``failing`` from a commit's outcome, logging only its changes: while it fails, each refused call
        tries a record of its own, and the log must not become a flood. A probe's success clears only a probe's
        failure (:meth:`probe`)."""
        if error is not None:
            report = log.debug if self.failing else log.error
            report(f"{what} could not be committed: the database refuses writes; refusing calls",
                   extra={"error": repr(error)})
            if self._failed_by is None or what != _PROBE:  # a record's failure outranks the probe's
                self._failed_by = what
            return
        if self._failed_by is None or (what == _PROBE and self._failed_by != _PROBE):
            return
        log.info(f"{what} was committed: the database takes writes again")
        self._failed_by = None

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
                self._thread, _seal_and_append, self._store, [(p.entry, p.change) for p in batch]
            )
        except Exception as exc:
            self._committed(exc, "audit records")
            for pending in batch:
                _settle(pending.done, Unavailable("the audit log can't be written; the call was refused"))
            return
        self._committed(None, "audit records")
        last = next((o.sealed[-1] for o in reversed(outcomes) if isinstance(o, _Committed) and o.sealed), None)
        if last is not None:
            self.commits += 1
            self._head = (last.record.id, last.record.hash)
        for pending, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, _Committed):
                _settle(pending.done, (outcome.sealed[0].record if outcome.sealed else None, outcome.result))
            else:
                _settle(pending.done, outcome)


class _Committed(NamedTuple):
    sealed: list[SealedRecord]
    result: Any


def _seal_and_append(
    store: Store, items: Sequence[tuple[AuditEntry, Change | None]]
) -> list[_Committed | VectraError]:
    """Make each item's change, chain its entries after the log's head, and commit it all in one transaction (in
    the writer's thread).

    The store reads the head inside the write transaction, so another daemon appending to the same database
    in between moves the chain on rather than colliding with it. An item whose change raises a domain error, or
    whose entry JSON can't hold exactly (NaN, integers past 2**53, objects that aren't JSON), is refused alone:
    its savepoint is rolled back and it takes no place in the chain.
    """
    outcomes: list[_Committed | VectraError] = []

    def chain(head: tuple[int, str] | None) -> list[SealedRecord]:
        last_id, last_hash = head or (0, GENESIS_HASH)
        sessions = _SessionHeads(store)
        for entry, change in items:
            try:
                sealing = functools.partial(_sealed, entry, change, last_id, last_hash, sessions)
                committed = sealing() if change is None else store.atomically(sealing)
            except VectraError as exc:
                outcomes.append(exc)
                continue
            except (ValueError, TypeError) as exc:
                outcomes.append(InvalidInput(f"audit entry can't be canonicalised: {exc}"))
                continue
            if committed.sealed:
                last_id, last_hash = committed.sealed[-1].record.id, committed.sealed[-1].record.hash
            sessions.kept(committed.sealed)
            outcomes.append(committed)
        return [sealed for o in outcomes if isinstance(o, _Committed) for sealed in o.sealed]

    store.append_audit(chain)
    return outcomes


def _sealed(entry: AuditEntry, change: Change | None, last_id: int, last_hash: str,
            sessions: _SessionHeads) -> _Committed:
    """``change`` made (inside the caller's savepoint) and its entries sealed after ``(last_id, last_hash)``, each
    entry of a session linked to the session's previous record (``details.sessionPrevHash``)."""
    applied = change(entry) if change is not None else Applied(None, (entry,))
    sealed: list[SealedRecord] = []
    time = record_time(datetime.now(UTC))
    moved: dict[str, str] = {}  # the sessions of this item's own records: kept once its savepoint is
    for item in applied.entries:
        session_id = session_of(item)
        if session_id is not None:
            previous = moved[session_id] if session_id in moved else sessions.last(session_id)
            item = dataclasses.replace(item, details={**item.details, SESSION_PREV_HASH: previous})
        sealed.append(seal(item, record_id=last_id + 1, time=time, prev_hash=last_hash))
        last_id, last_hash = sealed[-1].record.id, sealed[-1].record.hash
        if session_id is not None:
            moved[session_id] = last_hash
    return _Committed(sealed, applied.result)


def session_of(entry: AuditEntry) -> str | None:
    """The session a record belongs to: its ``details.sessionId`` (what the store's ``session_id`` column copies)."""
    session_id = entry.details.get("sessionId")
    return session_id if isinstance(session_id, str) else None


class _SessionHeads:
    """Each session's last record hash as the open transaction has it: read from the store once per session (the
    records sealed in this transaction are inserted only at its end), then moved on by each record kept."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._last: dict[str, str | None] = {}

    def last(self, session_id: str) -> str | None:
        if session_id not in self._last:
            self._last[session_id] = self._store.session_audit_head(session_id)
        return self._last[session_id]

    def kept(self, sealed: Sequence[SealedRecord]) -> None:
        """Move the sessions of ``sealed`` (committed with the transaction) to their records."""
        for record in (s.record for s in sealed):
            session_id = session_of(record.entry)
            if session_id is not None:
                self._last[session_id] = record.hash


def _settle(done: asyncio.Future[tuple[AuditRecord | None, Any]],
            outcome: tuple[AuditRecord | None, Any] | Exception) -> None:
    """Resolve a caller's future unless the caller has gone (cancelled); its record stays committed."""
    if done.done():
        return
    if isinstance(outcome, Exception):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
