"""The rules of an agent's profile, shared by registration by an admin, self-registration and ``PATCH``:
capabilities from the configured vocabulary, metadata, version, description and the Ed25519 public key."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from vectra.domain.keys import decode_public_key, encode_public_key
from vectra.services import input_errors
from vectra.services.inputs import optional_string

__all__ = [
    "MAX_METADATA_ENTRIES",
    "check_capabilities",
    "check_metadata",
    "check_public_key",
    "optional_description",
    "optional_version",
]

MAX_VERSION_LENGTH = 64
MAX_DESCRIPTION_LENGTH = 2000
MAX_METADATA_ENTRIES = 32
MAX_METADATA_KEY_LENGTH = 64
MAX_METADATA_VALUE_LENGTH = 1024
_METADATA_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


def check_capabilities(pointer: str, values: object, vocabulary: Sequence[str]) -> tuple[str, ...]:
    """Capabilities from ``vocabulary``, each once, in the vocabulary's order; none given is none."""
    if values is None:
        return ()
    if not isinstance(values, (list, tuple)):
        raise input_errors.malformed(pointer, "a list")
    if len(values) > len(vocabulary):
        raise input_errors.too_many(pointer, len(vocabulary))
    for index, value in enumerate(values):
        if not isinstance(value, str) or value not in vocabulary:
            raise input_errors.not_one_of(f"{pointer}[{index}]", vocabulary)
    if len(set(values)) != len(values):
        raise input_errors.repeated(pointer)
    return tuple(c for c in vocabulary if c in values)


def check_metadata(pointer: str, values: object) -> dict[str, str]:
    """Free key/value strings (``llmProvider: openai``): at most 32, keys 1 to 64 letters, digits, ``_.-``."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise input_errors.malformed(pointer, "an object of strings")
    if len(values) > MAX_METADATA_ENTRIES:
        raise input_errors.too_many(pointer, MAX_METADATA_ENTRIES)
    checked: dict[str, str] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not _METADATA_KEY.fullmatch(key):
            raise input_errors.malformed(f"{pointer} keys", "1 to 64 letters, digits, '_', '.' or '-', from a letter")
        if not isinstance(value, str):
            raise input_errors.malformed(f"{pointer}.{key}", "a string")
        if len(value) > MAX_METADATA_VALUE_LENGTH:
            raise input_errors.too_long(f"{pointer}.{key}", MAX_METADATA_VALUE_LENGTH)
        checked[key] = value
    return checked


def optional_version(value: object) -> str | None:
    return optional_string("version", value, MAX_VERSION_LENGTH)


def optional_description(value: object) -> str | None:
    return optional_string("description", value, MAX_DESCRIPTION_LENGTH)


def check_public_key(value: object, *, required: bool) -> str | None:
    """An Ed25519 public key as multibase (``z6Mk...``) or its ``did:key``, returned in multibase form."""
    if value is None or value == "":
        if required:
            raise input_errors.required("publicKey")
        return None
    if not isinstance(value, str):
        raise input_errors.malformed("publicKey", "a string")
    try:
        return encode_public_key(decode_public_key(value))
    except ValueError as exc:
        raise input_errors.malformed("publicKey", "an Ed25519 public key, multibase base58btc ('z6Mk...')") from exc
