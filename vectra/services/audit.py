"""The Audit use cases: record a management change, list records, verify the chain.

Appending itself is :class:`vectra.services.audit_log.AuditLog` (``ctx.audit``), shared by every caller.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from vectra.domain.audit import (
    GENESIS_HASH,
    AuditEntry,
    AuditFilter,
    AuditRecord,
    AuditSource,
    AuditVerification,
    StoredAudit,
    record_hash,
    record_time,
)
from vectra.domain.errors import InvalidInput
from vectra.domain.models import Page, Principal
from vectra.services import input_errors
from vectra.services.audit_log import Applied
from vectra.services.auth import require_reader
from vectra.services.context import ServiceContext
from vectra.services.inputs import check_page, parse_agent_id, parse_session_id

__all__ = ["list_audit", "parse_period", "parse_record_time", "record_change", "verify_audit", "verify_chain"]

R = TypeVar("R")
_NAME = re.compile(r"^[A-Za-z0-9_.]{1,64}$")


async def record_change(
    ctx: ServiceContext,
    actor: Principal,
    action: str,
    make: Callable[[], R],
    *,
    agent_id: str | None = None,
    details: Mapping[str, Any] | Callable[[R], Mapping[str, Any] | None] | None = None,
) -> R:
    """Make a management change (``make``: store calls, run in the audit writer's thread) and record it, in one
    transaction: the change stands only with its record. ``make``'s domain error (NotFound, Conflict) is raised
    as it is, with nothing changed; Unavailable if the transaction can't be committed.

    ``details`` may be worked out from what ``make`` returned; None from that function means the change found
    nothing to do, and nothing is recorded."""
    entry = AuditEntry(actor=actor.subject, source=AuditSource.CONTROL_PLANE, action=action, agent_id=agent_id)

    def change(recorded: AuditEntry) -> Applied[R]:
        result = make()
        found = details(result) if callable(details) else (details or {})
        if found is None:
            return Applied(result, ())
        return Applied(result, (dataclasses.replace(recorded, details=dict(found)),))

    _, result = await ctx.audit.apply(entry, change)
    return result


async def list_audit(
    ctx: ServiceContext, actor: Principal, filters: AuditFilter, page: int = 1, page_size: int = 25
) -> Page[AuditRecord]:
    """Records matching ``filters`` (admin or reviewer), newest first. Times may carry any UTC offset."""
    require_reader(actor, "reading the audit log")
    check_page(page, page_size)
    query = AuditFilter(
        agent_id=parse_agent_id(filters.agent_id) if filters.agent_id else None,
        decision=_name("decision", filters.decision),
        time_from=parse_record_time("from", filters.time_from),
        time_to=parse_record_time("to", filters.time_to),
        action=_name("action", filters.action),
        source=_source(filters.source),
        session_id=parse_session_id(filters.session_id) if filters.session_id is not None else None,
        shadow=filters.shadow,
        realm_scope=actor.scope,
    )
    return await asyncio.to_thread(ctx.store.list_audit, query, page, page_size)


#: the ``shadow`` filter of a listing: the records whose shadow policy agreed with the live decision, or did not
SHADOW_VERDICTS = {"agreed": True, "disagreed": False}


def shadow_verdict(verdict: str | None) -> bool | None:
    """The ``shadow`` filter as :class:`AuditFilter` takes it (None: any record)."""
    if verdict is None:
        return None
    if verdict not in SHADOW_VERDICTS:
        raise input_errors.not_one_of("shadow", SHADOW_VERDICTS)
    return SHADOW_VERDICTS[verdict]


async def verify_audit(ctx: ServiceContext, actor: Principal) -> AuditVerification:
    """Walk the whole chain (admin or reviewer), streaming it from the store in a worker thread."""
    require_reader(actor, "reading the audit log")
    return await asyncio.to_thread(verify_chain, ctx.store.iter_audit())


def verify_chain(rows: Iterable[StoredAudit]) -> AuditVerification:
    """Recompute every hash and check every link, in id order; name the first record that fails.

    A missing record is named by its id (the ids are a gapless sequence from 1). Removing records from
    the end can't be seen from inside the chain: compare ``count`` and ``headHash`` with a copy kept
    elsewhere. Each record is hashed by the formula of its own ``schemaVersion`` (1, then 2: a version
    never goes back, or a record re-sealed by the older formula would pass).
    """
    count, expected_id, prev_hash, version, first_broken = 0, 1, GENESIS_HASH, 1, None
    for row in rows:
        count += 1
        if first_broken is None:
            if row.id != expected_id:  # records missing before this one (named), or one out of the sequence
                first_broken = min(row.id, expected_id)
            elif (found := _version(row, prev_hash, version)) is None:
                first_broken = row.id
            else:
                version = found
        expected_id, prev_hash = row.id + 1, row.hash
    return AuditVerification(
        valid=first_broken is None, count=count, head_hash=str(prev_hash), first_broken_id=first_broken
    )


def _version(row: StoredAudit, prev_hash: str, last_version: int) -> int | None:
    """The schema version of ``row`` if it holds as the record after ``prev_hash``, else None."""
    try:
        document = json.loads(row.canonical) if isinstance(row.canonical, str) else None
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("id") != row.id or document.get("prevHash") != prev_hash:
        return None
    version = document.get("schemaVersion")
    if type(version) is not int or version < last_version:
        return None
    try:
        if record_hash(version, prev_hash, row.canonical.encode()) != row.hash:
            return None
    except UnicodeEncodeError:  # a hash that is not hex text
        return None
    if any(_copied(document, name) != value for name, value in row.columns.items()):
        return None  # a filter column no longer says what the record says
    return version


def _copied(document: Mapping[str, Any], name: str) -> Any:
    """What a filter column copies of the record: its field ``name``, or a value of its details (``details.a.b``);
    a boolean as the 0 or 1 the column holds, anything else the column doesn't keep as None."""
    if not name.startswith("details."):
        return document.get(name)
    value: Any = document
    for key in name.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return int(value) if isinstance(value, bool) else value if isinstance(value, str) else None


def _name(pointer: str, value: str | None) -> str | None:
    if not value:
        return None
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidInput(f"{pointer} must be 1 to 64 letters, digits, '_' or '.'", pointer=pointer)
    return value


def _source(value: str | None) -> str | None:
    if value and value not in tuple(AuditSource):
        raise input_errors.not_one_of("source", [s.value for s in AuditSource])
    return value or None


def parse_record_time(pointer: str, value: str | None) -> str | None:
    """An RFC 3339 date-time with an offset, in the records' own format (so that text order is time order)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) and len(value) <= 64 else None
    except ValueError:
        moment = None
    if moment is not None and moment.tzinfo is not None:
        try:
            return record_time(moment)
        except OverflowError:  # 9999-12-31T23:59:59-23:59 is past the last representable UTC instant
            pass
    raise InvalidInput(f"{pointer} must be an RFC 3339 date-time with an offset, such as 2026-01-31T12:00:00Z",
                       pointer=pointer)


def parse_period(time_from: str | None, time_to: str | None) -> tuple[str, str]:
    """A period both of whose ends are required (``from``, ``to``: RFC 3339, inclusive), ``from`` not after
    ``to``; in the records' own format."""
    start, end = parse_record_time("from", time_from), parse_record_time("to", time_to)
    if start is None or end is None:
        raise input_errors.required("from" if start is None else "to")
    if start > end:
        raise InvalidInput("from must not be after to", pointer="from")
    return start, end
