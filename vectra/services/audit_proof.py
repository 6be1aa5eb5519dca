"""The inclusion proof of a compliance export: some records of the audit chain shown in full, every other record
from the first shown one to the chain's head by its content digest alone, so that anyone can fold the chain up to
the head without seeing what the records of other agents say (chain v2, ``vectra.domain.audit``), and compare the
head hash it ends at with one they hold (``GET /audit/verify``'s ``headHash``).

``tests/tools/verify_export.py`` is the independent check an auditor runs; the daemon folds the same steps itself
and says so in ``verified``, checking besides what the auditor can't: that no hidden record belongs in the export.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vectra.domain.audit import StoredAudit, content_digest, record_hash
from vectra.domain.errors import InvalidInput
from vectra.store.base import Store

__all__ = ["ALGORITHM", "MAX_STEPS", "ChainProof", "inclusion_proof"]

#: what the verifier folds: h = SHA-256(ASCII(h + contentDigest)) from anchorHash to the head (docs/compliance.md)
ALGORITHM = "vectra-audit-chain-v2"
#: the longest span of the chain one proof walks (the records from the first included one to the head)
MAX_STEPS = 1_000_000


@dataclass(frozen=True, slots=True)
class ChainProof:
    """The ``chain`` object of an export. With no record included, the hashes are None and nothing is proven."""

    anchor_hash: str | None
    steps: tuple[Mapping[str, Any], ...]
    end_hash: str | None
    head: tuple[int, str] | None
    verified: bool

    def document(self) -> dict[str, Any]:
        return {
            "algorithm": ALGORITHM,
            "anchorHash": self.anchor_hash,
            "steps": list(self.steps),
            "endHash": self.end_hash,
            "head": None if self.head is None else {"id": self.head[0], "hash": self.head[1]},
            "verified": self.verified,
        }


def inclusion_proof(store: Store, included_ids: Iterable[int], scope: Mapping[str, str] | None = None,
                    head: tuple[int, str] | None = None) -> ChainProof:
    """The proof that the records ``included_ids`` (any order, any spread) are in the chain, read from the store.

    Every record from the first included id to ``head`` (the chain's head when the records were read; the head now
    when it is None) is a step; a stretch of more than :data:`MAX_STEPS` is InvalidInput. ``verified`` is false when
    any stored record of the stretch doesn't hold (its hash, its link, an id missing, the head's hash), and, given
    the export's ``scope`` (``{sessionId}`` or ``{agentId, from, to}`` in the records' time format), when an
    included record's text is not of the scope or a hidden one's text or filter columns say it is (a column edited
    to take a record out of the export). A record sealed before chain v2 can't be shown by its digest (its link is
    inside it), so a stretch that would hide one is InvalidInput too.
    """
    wanted = frozenset(included_ids)
    head = head if head is not None else store.audit_head()
    if not wanted or head is None:
        return ChainProof(anchor_hash=None, steps=(), end_hash=None, head=head, verified=not wanted)
    first, (head_id, head_hash) = min(wanted), head
    if head_id - first + 1 > MAX_STEPS:
        raise InvalidInput(f"the proof would walk {head_id - first + 1:,} records of the chain, from the export's "
                           f"first record to the head, more than {MAX_STEPS:,}: ask for a narrower, later period")
    fold = _Fold(scope)
    steps = [fold.step(row, row.id in wanted) for row in store.iter_audit_range(first, head_id)]
    holds = (fold.holds and fold.next_id == head_id + 1 and fold.running == head_hash
             and fold.included == len(wanted))
    return ChainProof(anchor_hash=fold.anchor, steps=tuple(steps), end_hash=fold.running, head=head, verified=holds)


class _Fold:
    """The running state of the walk: the hash so far, the id expected next, whether everything held."""

    def __init__(self, scope: Mapping[str, str] | None) -> None:
        self.scope = scope
        self.anchor: str | None = None
        self.running: str | None = None
        self.next_id: int | None = None
        self.version = 1
        self.included = 0
        self.holds = True

    def step(self, row: StoredAudit, included: bool) -> dict[str, Any]:
        text = row.canonical if isinstance(row.canonical, str) else ""
        document = _document(text)
        version = document.get("schemaVersion")
        if self.next_id is None:  # the first included record: its link is where the proof starts
            prev = document.get("prevHash")
            self.anchor = self.running = prev if isinstance(prev, str) else None
            self.next_id = row.id
        if not included and version == 1:
            raise InvalidInput(f"audit record {row.id} was sealed before chain v2 and can't be shown by its digest "
                               "alone: ask for a period that starts after it")
        self.holds = (self.holds and row.id == self.next_id and self._links(row, text, document)
                      and self._placed(row, document, included))
        self.next_id, self.running = row.id + 1, row.hash
        if included:
            self.included += 1
            return {"id": row.id, "record": text, "hash": row.hash}
        return {"id": row.id, "contentDigest": content_digest(text.encode())}

    def _links(self, row: StoredAudit, text: str, document: Mapping[str, Any]) -> bool:
        """Whether ``row`` is the record after the running hash, by its own schema version's formula."""
        version = document.get("schemaVersion")
        if type(version) is not int or version < self.version or self.running is None:
            return False
        if document.get("id") != row.id or document.get("prevHash") != self.running:
            return False
        self.version = version
        try:
            return record_hash(version, self.running, text.encode()) == row.hash
        except UnicodeEncodeError:
            return False

    def _placed(self, row: StoredAudit, document: Mapping[str, Any], included: bool) -> bool:
        """Whether ``row`` is on the right side of the scope: an included record's text is of it; a hidden one is
        not, by its text nor by the store's copies of its fields (which chose what the export includes)."""
        if self.scope is None:
            return True
        details = document.get("details")
        session_id = details.get("sessionId") if isinstance(details, Mapping) else None
        if included:
            return _of_scope(self.scope, session_id, document.get("agentId"), document.get("time"))
        columns = row.columns
        return not (_of_scope(self.scope, session_id, document.get("agentId"), document.get("time"))
                    or _of_scope(self.scope, columns.get("details.sessionId"), columns.get("agentId"),
                                 columns.get("time")))


def _of_scope(scope: Mapping[str, str], session_id: Any, agent_id: Any, time: Any) -> bool:
    """Whether a record of this session, agent and time belongs in an export of ``scope``."""
    if "sessionId" in scope:
        return session_id == scope["sessionId"]
    return agent_id == scope["agentId"] and isinstance(time, str) and scope["from"] <= time <= scope["to"]


def _document(text: str) -> Mapping[str, Any]:
    """The stored record's JSON object; empty when the text isn't one (the fold then fails on it)."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return {}
    return document if isinstance(document, dict) else {}
