"""Verified tokens are remembered exactly, until they expire, within a bound."""

from __future__ import annotations

from tests.unit.clock import Clock
from vectra.services.token_cache import VerifiedTokens


def test_a_token_is_remembered_until_it_expires_and_only_byte_for_byte() -> None:
    clock = Clock()
    tokens = VerifiedTokens(clock=clock)
    tokens.put("a.b.c", {"sub": "agent"}, expires_at=1_010.0)

    assert tokens.get("a.b.c") == {"sub": "agent"}
    assert tokens.get("a.b.C") is None and tokens.get("a.b.c ") is None
    clock.now = 1_010.0
    assert tokens.get("a.b.c") is None


def test_the_cache_stays_within_its_capacity_dropping_expired_tokens_first() -> None:
    clock = Clock()
    tokens = VerifiedTokens(capacity=2, clock=clock)
    tokens.put("old", {}, expires_at=1_001.0)
    tokens.put("live", {}, expires_at=2_000.0)
    clock.now = 1_500.0
    tokens.put("new", {}, expires_at=2_000.0)

    assert (tokens.get("old"), tokens.get("live"), tokens.get("new")) == (None, {}, {})
