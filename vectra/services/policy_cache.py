"""Compiled policies, cached by version, with the current version checked against the store on every decision.

A policy is compiled once per (name, version, creation time) and kept while it is in use. Which version is
current is read again whenever the store says a policy may have changed (``changes_seen``: SQLite's
``data_version``, one cheap pragma a decision, then the policies' own generation counter when that moved), so a put
or a delete by any daemon sharing the database takes effect on the next decision, with no restart and no stale
entry to invalidate, and the audit log's commits don't make every decision read the head again.
The creation time is part of the key because a policy deleted and created again starts over at version 1.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from policy_core import CompiledPolicy, PolicyError, compile_policy
from vectra.domain.policies import PolicyHead
from vectra.store.base import Store

__all__ = ["CompiledPolicies", "CurrentPolicy"]


@dataclass(frozen=True, slots=True)
class CurrentPolicy:
    """``reads_body``: some condition tests a field read from the body (``CompiledPolicy.reads_body``), so the
    proxy must hold the body before deciding instead of streaming it."""

    name: str
    version: int
    compiled: CompiledPolicy
    reads_body: bool


class CompiledPolicies:
    """A bounded LRU of compiled policies. ``current`` raises ``policy_core.PolicyError`` when a stored document
    no longer compiles (the caller fails closed)."""

    def __init__(self, capacity: int = 256) -> None:
        self._capacity = capacity
        # a version that no longer compiles is kept as its PolicyError, so it is not compiled again each decision
        self._entries: OrderedDict[tuple[str, int, str], tuple[CompiledPolicy, bool] | PolicyError] = OrderedDict()
        # each policy's head as last read, with the store's changes_seen() at the time
        self._heads: dict[str, tuple[Hashable, PolicyHead | None]] = {}

    def current(self, store: Store, name: str) -> CurrentPolicy | None:
        """The policy's current version, compiled; ``None`` when the policy does not exist."""
        head = self._head(store, name)
        return None if head is None else self._compiled(store, head, head.version)

    def version(self, store: Store, name: str, version: int) -> CurrentPolicy | None:
        """One version of the policy (a shadow policy's), compiled; ``None`` when the policy or version is gone."""
        head = self._head(store, name)
        if head is None or not 1 <= version <= head.version:
            return None
        return self._compiled(store, head, version)

    def _head(self, store: Store, name: str) -> PolicyHead | None:
        seen = store.changes_seen()
        known = self._heads.get(name)
        if known is not None and known[0] == seen:
            head = known[1]
        else:
            head = store.policy_head(name)
            if len(self._heads) >= self._capacity * 4:
                self._heads.clear()
            self._heads[name] = (seen, head)
        return head

    def _compiled(self, store: Store, head: PolicyHead, version: int) -> CurrentPolicy | None:
        name = head.name
        key = (name, version, head.created_at.isoformat())
        entry = self._entries.get(key)
        if entry is None:
            record = store.get_policy(name, version)
            if record is None:  # deleted since the lookup above
                return None
            try:
                compiled = compile_policy(record.document)
                entry = (compiled, compiled.reads_body)
            except PolicyError as exc:
                entry = exc
            self._entries[key] = entry
            if len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        if isinstance(entry, PolicyError):
            raise PolicyError(entry.pointer, entry.message)  # a fresh one: a re-raised one grows its traceback
        return CurrentPolicy(name, version, *entry)

    def __len__(self) -> int:
        return len(self._entries)

