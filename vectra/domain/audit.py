"""The audit record and its hash chain.

A record's canonical form is the RFC 8785 (JCS) JSON of the whole record except ``hash`` itself: every field
of :class:`AuditRecord` and of its :class:`AuditEntry`, found by walking the dataclasses rather than listed by
hand, so a field added later is inside the hash without anyone remembering to put it there (``prevHash``
included). Its content digest is SHA-256 over those bytes.

Schema 2 (records sealed now): ``hash = SHA-256(ascii(prevHash + contentDigest))``. The link is outside the
digest, so a record can be shown by its digest alone and the chain still folds through it: an export proves
the inclusion of one session's records without revealing the records of others that interleave with them.
Schema 1 (records sealed before): ``hash = contentDigest``; they keep verifying so. The first record links to
:data:`GENESIS_HASH` (64 zeros).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from vectra.domain import jcs

__all__ = [
    "GENESIS_HASH",
    "SCHEMA_VERSION",
    "AuditEntry",
    "AuditFilter",
    "AuditRecord",
    "AuditSource",
    "AuditVerification",
    "SealedRecord",
    "StoredAudit",
    "canonical_json",
    "chain_hash",
    "content_digest",
    "record_hash",
    "record_time",
    "seal",
]

SCHEMA_VERSION = 2
GENESIS_HASH = "0" * 64


class AuditSource(enum.StrEnum):
    PROXY = "proxy"
    GRPC = "grpc"
    CONTROL_PLANE = "control_plane"
    HITL = "hitl"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What happened, as a caller reports it; the log adds the id, time and chain links.

    ``actor`` is the subject who acted (an agent id or ``operator``), ``agent_id`` the agent the
    record is about. ``decision`` names the outcome (``Allow``, ``Deny``, ``Hitl``, ``RateLimited``,
    ``BreakerOpen``, ``UpstreamError``, ...). ``details`` holds any further JSON fields.
    """

    actor: str
    source: str
    action: str
    agent_id: str | None = None
    method: str | None = None
    url: str | None = None
    decision: str | None = None
    rule: str | None = None
    reason: str | None = None
    risk: float | None = None
    trust: float | None = None
    upstream_status: int | None = None
    latency_ms: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    time: str  # RFC 3339, UTC, microseconds, "Z"
    entry: AuditEntry
    schema_version: int
    prev_hash: str
    hash: str

    def document(self) -> dict[str, Any]:
        """The record as it is hashed and stored: every field but ``hash``, the entry's inlined, camelCase.

        Built field by field from the dataclasses' own field lists (no deep copy: ``details`` is shared with the
        entry, and like the rest of a record it is read, never changed).
        """
        document = {key: getattr(self, name) for name, key in _RECORD_KEYS}
        entry = self.entry
        document.update((key, getattr(entry, name)) for name, key in _ENTRY_KEYS)
        return document

    @classmethod
    def from_document(cls, document: Mapping[str, Any], hash_: str) -> AuditRecord:
        """The inverse of :meth:`document`; fields the document lacks are left empty."""
        values = {_FIELD_OF.get(key) or _snake(key): value for key, value in document.items()}
        entry = {name: values[name] for name, _ in _ENTRY_KEYS if name in values}
        if not isinstance(entry.get("details"), Mapping):
            entry["details"] = {}
        entry.setdefault("actor", "")
        entry.setdefault("source", "")
        entry.setdefault("action", "")
        return cls(
            id=values.get("id", 0),
            time=values.get("time", ""),
            entry=AuditEntry(**entry),
            schema_version=values.get("schema_version", 0),
            prev_hash=values.get("prev_hash", ""),
            hash=hash_,
        )


class SealedRecord(NamedTuple):
    """A record with the exact canonical bytes its hash was computed over (what the store keeps)."""

    record: AuditRecord
    canonical: bytes


class StoredAudit(NamedTuple):
    """One stored record as it is, for verification: nothing parsed, nothing trusted.

    ``columns`` holds the store's copies of fields it filters on, keyed by the record's field names.
    """

    id: int
    canonical: str
    hash: str
    columns: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which records to list; ``time_from``/``time_to`` are inclusive, in the records' own time format."""

    agent_id: str | None = None
    decision: str | None = None
    time_from: str | None = None
    time_to: str | None = None
    action: str | None = None
    source: str | None = None
    session_id: str | None = None
    #: True: the records whose shadow policy agreed; False: disagreed; None: any record
    shadow: bool | None = None
    #: only the records of agents in these realms (ids); None: every record
    realm_scope: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class AuditVerification:
    valid: bool
    count: int
    head_hash: str
    first_broken_id: int | None


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """RFC 8785 canonical JSON; ValueError for what JSON can't hold exactly (NaN, integers past 2**53)."""
    return jcs.dumps(dict(document))


def record_time(moment: datetime) -> str:
    """The records' time format: RFC 3339 in UTC with microseconds and ``Z``; fixed width, so it sorts as text."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def seal(entry: AuditEntry, *, record_id: int, time: str, prev_hash: str) -> SealedRecord:
    """Give ``entry`` its place in the chain: the record after the one whose hash is ``prev_hash``."""
    unsealed = AuditRecord(
        id=record_id, time=time, entry=entry, schema_version=SCHEMA_VERSION, prev_hash=prev_hash, hash=""
    )
    canonical = jcs.dumps(unsealed.document())  # a fresh dict already: no copy as canonical_json makes
    sealed = AuditRecord(id=record_id, time=time, entry=entry, schema_version=SCHEMA_VERSION, prev_hash=prev_hash,
                         hash=chain_hash(prev_hash, content_digest(canonical)))
    return SealedRecord(sealed, canonical)


def content_digest(canonical: bytes) -> str:
    """A record's content digest: SHA-256 (lower-case hex) of its canonical bytes, as the store keeps them."""
    return hashlib.sha256(canonical).hexdigest()


def chain_hash(prev_hash: str, digest: str) -> str:
    """A schema 2 record's hash: its link to the previous hash folded with its content digest."""
    return hashlib.sha256((prev_hash + digest).encode("ascii")).hexdigest()


def record_hash(schema_version: int, prev_hash: str, canonical: bytes) -> str | None:
    """The hash a record of ``schema_version`` must have after ``prev_hash``; None for a version never sealed."""
    if schema_version == 1:
        return content_digest(canonical)
    if schema_version == SCHEMA_VERSION:
        return chain_hash(prev_hash, content_digest(canonical))
    return None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


# (field, document key) of every field that is hashed: all of a record's but ``entry`` (inlined) and ``hash``, and
# all of its entry's. Read from the dataclasses, so a field added later is hashed without being listed here.
_RECORD_KEYS = tuple(
    (f.name, _camel(f.name)) for f in dataclasses.fields(AuditRecord) if f.name not in ("entry", "hash")
)
_ENTRY_KEYS = tuple((f.name, _camel(f.name)) for f in dataclasses.fields(AuditEntry))
#: document key -> field name, so that reading a record (100,000 of them for a replay) costs no regex per key
_FIELD_OF = {key: name for name, key in (*_RECORD_KEYS, *_ENTRY_KEYS)}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()
