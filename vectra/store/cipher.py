"""Encryption at rest for the secret parts of stored rows (the credentials of parked requests): AES-256-GCM, each
value bound to its row and column by the associated data, so a ciphertext copied to another row does not open."""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["KEY_BYTES", "FieldCipher", "SealBroken", "digest_key"]

KEY_BYTES = 32
_NONCE_BYTES = 12
_VERSION = b"\x01"


class SealBroken(ValueError):
    """A sealed value does not open with this key for this row: it was altered, moved, or sealed with another key."""


class FieldCipher:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the encryption key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, bound_to: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, bound_to.encode())

    def open(self, sealed: bytes, bound_to: str) -> bytes:
        if sealed[:1] != _VERSION or len(sealed) < 1 + _NONCE_BYTES + 16:
            raise SealBroken("not a sealed value of this version")
        nonce, ciphertext = sealed[1:1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, ciphertext, bound_to.encode())
        except InvalidTag:
            raise SealBroken("the sealed value does not open with this key for this row") from None


def digest_key(key: bytes) -> bytes:
    """A key for HMAC digests derived from ``key`` (HMAC-SHA256 as the PRF, with a label), never the sealing key
    itself."""
    return hmac.new(key, b"vectra: HITL request digest, v1", hashlib.sha256).digest()
