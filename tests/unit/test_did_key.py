"""The did:key codec of Ed25519 public keys (vectra/domain/keys.py): known vectors, round trips, bad input."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from vectra.domain import keys

# RFC 8032 §7.1 tests 1 and 2: the private key (seed), and the did:key other implementations derive from its
# public key (multicodec 0xed01 + base58btc)
RFC_8032 = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
     "did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
     "did:key:z6MkiaMbhXHNA4eJVCCj8dbzKzTgYDKf6crKgHVHid1F1WCT"),
]


def _public(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@pytest.mark.parametrize(("seed", "public", "did"), RFC_8032)
def test_a_known_key_has_its_known_did(seed: str, public: str, did: str) -> None:
    raw = _public(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed)))
    assert raw.hex() == public
    assert keys.did_of(keys.encode_public_key(raw)) == did
    assert keys.decode_public_key(did) == raw
    assert keys.decode_public_key(did.removeprefix("did:key:")) == raw


def test_generated_keys_round_trip_and_read_z6mk() -> None:
    for _ in range(200):
        raw = _public(Ed25519PrivateKey.generate())
        text = keys.encode_public_key(raw)
        assert text.startswith("z6Mk") and len(text) == 48
        assert keys.decode_public_key(text) == raw
        assert keys.decode_public_key(keys.did_of(text)) == raw


@pytest.mark.parametrize("raw", [bytes(32), b"\xff" * 32, b"\x00" + b"\xff" * 31])
def test_edge_keys_round_trip(raw: bytes) -> None:
    assert keys.decode_public_key(keys.encode_public_key(raw)) == raw


GOOD = RFC_8032[0][2].removeprefix("did:key:")


@pytest.mark.parametrize(("text", "message"), [
    ("", "not a base58btc"),
    ("did:key:", "not a base58btc"),
    ("u" + GOOD[1:], "not a base58btc"),  # another multibase (base64url)
    ("did:web:" + GOOD, "not a base58btc"),
    ("DID:KEY:" + GOOD, "not a base58btc"),
    ("z" + "1" * 47, "not an Ed25519 public key"),
    ("z" + GOOD[1:-1] + "0", "is not a base58 digit"),  # 0, O, I and l are not base58
    ("z" + GOOD[1:-1] + "O", "is not a base58 digit"),
    ("z" + GOOD[1:-1] + "l", "is not a base58 digit"),
    ("z" + GOOD[1:-1] + "+", "is not a base58 digit"),
    (GOOD[:-1], "not an Ed25519 public key"),  # one digit short: 33 bytes' worth
    (GOOD + "1", "not an Ed25519 public key"),  # one digit more
    (GOOD + "z" * 60, "not a base58btc"),  # far too long: refused before it is decoded
])
def test_a_bad_key_text_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        keys.decode_public_key(text)


def test_a_key_of_another_multicodec_is_refused() -> None:
    x25519 = "z" + keys._base58(b"\xec\x01" + bytes(range(32)))  # x25519-pub, same length
    secp256k1 = "z" + keys._base58(b"\xe7\x01" + b"\x02" + bytes(32))  # secp256k1-pub, compressed
    for text in (x25519, secp256k1):
        with pytest.raises(ValueError, match="not an Ed25519 public key"):
            keys.decode_public_key(text)


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_only_32_byte_keys_are_encoded(length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        keys.encode_public_key(bytes(length))
