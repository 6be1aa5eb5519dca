"""Client secrets: generated, hashed and checked with bcrypt, never on the event loop."""

from __future__ import annotations

import asyncio
import functools
import re
import secrets as _random

import bcrypt

__all__ = ["CHOSEN_SECRET_RULE", "MAX_SECRET_BYTES", "check_secret", "hash_secret", "is_acceptable", "new_secret"]

MAX_SECRET_BYTES = 72  # bcrypt's own limit: longer secrets would be silently truncated
#: A secret an operator chooses. Printable ASCII, so that a character is a byte: the limit reads the same in
#: characters (as openapi.yaml's pattern states it) and in the bytes bcrypt takes.
CHOSEN_SECRET_RULE = f"12 to {MAX_SECRET_BYTES} printable ASCII characters"
_CHOSEN_SECRET = re.compile(rf"[ -~]{{12,{MAX_SECRET_BYTES}}}")


@functools.cache
def _decoy(rounds: int) -> bytes:
    """Checked when the agent is unknown, so that an unknown id costs the same time as a wrong secret (hashed at
    the daemon's cost, as its agents' secrets are)."""
    return bcrypt.hashpw(b"vectra-decoy-secret", bcrypt.gensalt(rounds))


def is_acceptable(secret: str) -> bool:
    """Whether ``secret`` may be chosen as a client secret (:data:`CHOSEN_SECRET_RULE`)."""
    return _CHOSEN_SECRET.fullmatch(secret) is not None


def new_secret() -> str:
    return _random.token_urlsafe(32)


async def hash_secret(secret: str, rounds: int) -> bytes:
    """The bcrypt hash of ``secret`` at cost ``rounds`` (``VECTRA_BCRYPT_ROUNDS``)."""
    return await asyncio.to_thread(bcrypt.hashpw, secret.encode(), bcrypt.gensalt(rounds))


def _check(secret: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(secret, hashed)
    except ValueError:
        return False


async def check_secret(secret: str, hashed: bytes | None, rounds: int) -> bool:
    """True when ``secret`` matches ``hashed``; a missing or empty hash (an agent with a key only) or an oversized
    secret never matches, and costs the same as a secret hashed at ``rounds``."""
    raw = secret.encode()
    usable = bool(hashed) and len(raw) <= MAX_SECRET_BYTES
    candidate = raw[:MAX_SECRET_BYTES]
    ok = await asyncio.to_thread(_check, candidate, hashed if usable else _decoy(rounds))
    return ok and usable
