"""Ed25519 public keys as ``did:key`` identifiers (W3C did:key method): the multicodec ``ed25519-pub`` prefix
(0xed 0x01) and the 32 key bytes, in multibase base58btc (``z...``), so that every such key reads ``z6Mk...``.

Base58 is written out here (a dozen lines): the packages that offer it bring nothing else we need.
"""

from __future__ import annotations

__all__ = ["DID_KEY_PREFIX", "ED25519_KEY_BYTES", "decode_public_key", "did_of", "encode_public_key"]

DID_KEY_PREFIX = "did:key:"
ED25519_KEY_BYTES = 32
_ED25519_CODEC = b"\xed\x01"
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_DIGITS = {char: value for value, char in enumerate(_ALPHABET)}
#: the longest multibase text a 34-byte value can take (each base58 digit carries ~5.86 bits)
_MAX_TEXT = 1 + 48


def encode_public_key(raw: bytes) -> str:
    """The multibase (``z...``) text of a raw 32-byte Ed25519 public key."""
    if len(raw) != ED25519_KEY_BYTES:
        raise ValueError(f"an Ed25519 public key has {ED25519_KEY_BYTES} bytes")
    return "z" + _base58(_ED25519_CODEC + raw)


def decode_public_key(text: str) -> bytes:
    """The raw key bytes of a multibase Ed25519 key (``z6Mk...``) or of its ``did:key``; ValueError otherwise."""
    if text.startswith(DID_KEY_PREFIX):
        text = text[len(DID_KEY_PREFIX):]
    if not text.startswith("z") or len(text) > _MAX_TEXT:
        raise ValueError("not a base58btc multibase value ('z...')")
    decoded = _unbase58(text[1:])
    if not decoded.startswith(_ED25519_CODEC) or len(decoded) != len(_ED25519_CODEC) + ED25519_KEY_BYTES:
        raise ValueError("not an Ed25519 public key (multicodec 0xed01 and 32 bytes)")
    return decoded[len(_ED25519_CODEC):]


def did_of(public_key: str) -> str:
    """The ``did:key`` of a multibase key."""
    return DID_KEY_PREFIX + public_key


def _base58(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, digit = divmod(number, 58)
        digits.append(_ALPHABET[digit])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(digits))


def _unbase58(text: str) -> bytes:
    number = 0
    for char in text:
        if char not in _DIGITS:
            raise ValueError(f"{char!r} is not a base58 digit")
        number = number * 58 + _DIGITS[char]
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body
