"""Compiled policies, cached by version, with the current version read from the store on every decision.

A policy is compiled once per (name, version, creation time) and kept while it is in use. Which version is
current is asked of the store each time (one primary-key lookup), so a put or a delete by any daemon sharing the
database takes effect on the next decision, with no restart and no stale entry to invalidate. The creation time
is part of the key because a policy deleted and created again starts over at version 1.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from policy_core import CompiledPolicy, compile_policy
from vectra.store.base import Store

__all__ = ["CompiledPolicies", "CurrentPolicy"]


@dataclass(frozen=True, slots=True)
class CurrentPolicy:
    name: str
    version: int
    compiled: CompiledPolicy


class CompiledPolicies:
    """A bounded LRU of compiled policies. ``current`` raises ``policy_core.PolicyError`` when a stored document
    no longer compiles (the caller fails closed)."""

    def __init__(self, capacity: int = 256) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[tuple[str, int, str], CompiledPolicy] = OrderedDict()

    def current(self, store: Store, name: str) -> CurrentPolicy | None:
        """The policy's current version, compiled; ``None`` when the policy does not exist."""
        head = store.policy_head(name)
        if head is None:
            return None
        key = (name, head.version, head.created_at.isoformat())
        compiled = self._entries.get(key)
        if compiled is not None:
            self._entries.move_to_end(key)
            return CurrentPolicy(name, head.version, compiled)
        record = store.get_policy(name, head.version)
        if record is None:  # deleted since the lookup above
            return None
        compiled = compile_policy(record.document)
        self._entries[key] = compiled
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
        return CurrentPolicy(name, head.version, compiled)

    def __len__(self) -> int:
        return len(self._entries)
