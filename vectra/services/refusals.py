"""Refused access, on the record: every 401 and 403 of who is calling or what they may do appends an
``auth.refused`` audit record, on both surfaces (docs/audit.md, "Refused access"); a REST request refused before
it could be authenticated (its head, its declared body, its proxy target) an ``http.refused`` one.

The surfaces call :meth:`Refusals.record` where they turn an :class:`AccessRefused` into their answer. The record
names the check that refused (the error's ``cause``), the route or RPC, the peer's address and the subject the
caller claimed, never the token. The answer itself says no more than it did.

An unauthenticated caller can make these records, so they are bounded: the first refusal of a kind (same surface,
peer, outcome, cause, route and claimed subject) is recorded at once, and identical ones within the next
``audit_refusal_window_seconds`` are only counted; when the window closes, one more record carries the count
(``details.repeated``). At most :data:`MAX_OPEN_WINDOWS` kinds are open at a time; past that, every further kind
of the window counts into one overflow record per source, surface and outcome. So a flood costs at most two records
per kind and window, whatever its rate, and every refused call is still in the log, alone or in a count.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from typing import TypeGuard

import jwt

from vectra.domain.audit import AuditEntry, AuditSource
from vectra.domain.errors import AccessRefused, Unauthenticated, VectraError
from vectra.services.audit_log import AuditLog
from vectra.services.credentials import bearer_token

__all__ = ["ACTION", "HTTP_ACTION", "MAX_OPEN_WINDOWS", "Attempt", "Refusals", "http_refusal", "is_access_refusal"]

log = logging.getLogger("vectra.audit")

ACTION = "auth.refused"
HTTP_ACTION = "http.refused"
#: Kinds of refusal counted at a time before the overflow record takes the rest of a window.
MAX_OPEN_WINDOWS = 1000
# the caller's text, kept to so many characters
_MAX_SUBJECT = 256
_MAX_ROUTE = 2048
_ANONYMOUS = "anonymous"
_MAX_CREDENTIALS = 16 * 1024  # longer than any token Vectra accepts (tokens.MAX_TOKEN_CHARS): not read for a subject


def is_access_refusal(exc: BaseException) -> TypeGuard[AccessRefused]:
    """A refusal of the caller's credentials or rights (not a decision its service has recorded already)."""
    return isinstance(exc, AccessRefused) and exc.cause is not None


@dataclass(frozen=True, slots=True)
class Attempt:
    """A refused call as its surface saw it. ``credentials`` (the ``Authorization`` value) is read for the subject
    it claims and never kept."""

    source: AuditSource
    surface: str  # "rest" or "grpc"
    route: str  # the REST path, or the RPC as ``AgentService.GetAgent``
    peer: str  # the client's address, without its port
    method: str | None = None
    credentials: str | None = None


@dataclass
class _Window:
    entry: AuditEntry
    repeated: int = 0


class Refusals:
    def __init__(self, audit: AuditLog, window_seconds: float, max_open: int = MAX_OPEN_WINDOWS) -> None:
        self._audit = audit
        self._window_seconds = window_seconds
        self._max_open = max_open
        self._open: dict[tuple[object, ...], _Window] = {}
        self._timers: dict[tuple[object, ...], asyncio.TimerHandle] = {}
        self._writing: set[asyncio.Task[None]] = set()

    async def record(self, exc: AccessRefused, attempt: Attempt) -> None:
        """Record the refusal, or count it in its kind's open window. A record that can't be written is logged: the
        caller is refused either way."""
        first = self._admit(_entry(exc, attempt))
        if first is not None:
            await self._append(first)

    def record_soon(self, entry: AuditEntry) -> None:
        """:meth:`record` for a refusal made where nothing can wait for the record (the HTTP server's own, at a
        request it could not parse): counted at once, written by a task of its own."""
        first = self._admit(entry)
        if first is not None:
            self._write_later(first)

    def _admit(self, entry: AuditEntry) -> AuditEntry | None:
        """The record to write now, if ``entry`` is the first of its kind in the window; else it is only counted."""
        key: tuple[object, ...] = (entry.source, entry.action, entry.decision, entry.reason, entry.method,
                                   entry.url, entry.actor, tuple(sorted(entry.details.items())))
        if key not in self._open and len(self._open) >= self._max_open:
            key = ("overflow", entry.source, entry.action, entry.details["surface"], entry.decision)
            entry = _overflow(entry)
        window = self._open.get(key)
        if window is not None:
            window.repeated += 1
            return None
        self._open[key] = _Window(entry)
        self._timers[key] = asyncio.get_running_loop().call_later(self._window_seconds, self._close, key)
        return entry

    async def flush(self) -> None:
        """Write the counts of every open window now (at shutdown, before the audit log stops)."""
        for key in list(self._open):
            self._timers[key].cancel()
            self._close(key)
        if self._writing:
            await asyncio.gather(*self._writing)

    def _close(self, key: tuple[object, ...]) -> None:
        window = self._open.pop(key)
        self._timers.pop(key)
        if window.repeated:
            self._write_later(dataclasses.replace(window.entry, details={
                **window.entry.details, "repeated": window.repeated, "windowSeconds": self._window_seconds}))

    def _write_later(self, entry: AuditEntry) -> None:
        task = asyncio.get_running_loop().create_task(self._append(entry))
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    async def _append(self, entry: AuditEntry) -> None:
        try:
            await self._audit.append(entry)
        except VectraError as exc:
            log.warning("a refused call could not be recorded", extra={"error": exc.detail, "cause": entry.reason})


def _entry(exc: AccessRefused, attempt: Attempt) -> AuditEntry:
    """401: the actor is ``anonymous`` and the claimed subject, unverified, goes in the details; 403: the caller was
    authenticated, so the subject is the actor (and the agent, unless it is the operator)."""
    details: dict[str, str] = {"surface": attempt.surface, "peer": attempt.peer}
    if isinstance(exc, Unauthenticated):
        actor, agent_id = _ANONYMOUS, None
        claimed = exc.subject or _claimed_subject(attempt.credentials)
        if claimed:
            details["claimedSubject"] = claimed[:_MAX_SUBJECT]
    else:
        actor = exc.subject or _ANONYMOUS
        agent_id = exc.subject if exc.subject and exc.subject != "operator" else None
    return AuditEntry(
        actor=actor, source=attempt.source, action=ACTION, agent_id=agent_id, method=attempt.method,
        url=attempt.route[:_MAX_ROUTE], decision=type(exc).__name__, reason=exc.cause, details=details,
    )


def http_refusal(status: int, cause: str, peer: str, path: str | None) -> AuditEntry:
    """The record of a request the REST port's HTTP server refused before it was a request of the API (a head too
    large, too slow, unparseable, or with a body of unknown length): ``http.refused``, status and cause, the path
    when the head got that far."""
    source = AuditSource.PROXY if path is not None and path.startswith("/proxy/") else AuditSource.CONTROL_PLANE
    return AuditEntry(actor=_ANONYMOUS, source=source, action=HTTP_ACTION, decision="Refused", reason=cause,
                      url=path[:_MAX_ROUTE] if path is not None else None,
                      details={"surface": "rest", "peer": peer, "status": status})


def _overflow(entry: AuditEntry) -> AuditEntry:
    """The record that counts every kind of a window past :data:`MAX_OPEN_WINDOWS`: only what they all share."""
    return AuditEntry(actor=_ANONYMOUS, source=entry.source, action=entry.action, decision=entry.decision,
                      reason="overflow", details={"surface": entry.details["surface"], "peer": "*"})


def _claimed_subject(credentials: str | None) -> str | None:
    """The ``sub`` a bearer token claims, read without verifying it (it was just refused)."""
    if not credentials or len(credentials) > _MAX_CREDENTIALS:
        return None
    try:
        subject = jwt.decode(bearer_token(credentials), options={"verify_signature": False}).get("sub")
    except (Unauthenticated, jwt.PyJWTError, AttributeError):  # no bearer token, no JWT, or no object in it
        return None
    return subject if isinstance(subject, str) else None
