"""Client secrets: an unknown agent costs what a wrong secret costs, and long secrets are refused, not truncated."""

from __future__ import annotations

import asyncio

from vectra.services import secrets


def test_the_decoy_checked_for_unknown_agents_costs_what_a_real_hash_costs() -> None:
    """Same algorithm and cost factor (``$2b$10$``, or the daemon's VECTRA_BCRYPT_ROUNDS): bcrypt's time depends on
    nothing else, so an unknown agent id can't be told from a wrong secret by timing."""
    for rounds in (10, 4):
        real = asyncio.run(secrets.hash_secret("my-strong-secret", rounds))
        assert secrets._decoy(rounds)[:7] == real[:7] == f"$2b${rounds:02d}$".encode()


def test_an_unknown_agent_and_an_oversized_secret_never_match() -> None:
    assert asyncio.run(secrets.check_secret("vectra-decoy-secret", None, 10)) is False
    real = asyncio.run(secrets.hash_secret("a" * 72, 10))
    assert asyncio.run(secrets.check_secret("a" * 72, real, 10)) is True
    # bcrypt would read only the first 72 bytes: a longer secret must not match by its prefix
    assert asyncio.run(secrets.check_secret("a" * 73, real, 10)) is False
