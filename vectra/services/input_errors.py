"""The wording of every ``InvalidInput``: one phrase per kind of mistake.

The services' own rules and the REST layer's schema check (which refuses some of the same things
before a service runs) both build their errors here, so that REST and gRPC refuse the same input
with the same message. No phrase repeats the value it refuses: it may be a secret.
"""

from __future__ import annotations

from collections.abc import Iterable

from vectra.domain.errors import InvalidInput

__all__ = [
    "blank",
    "either",
    "malformed",
    "not_one_of",
    "out_of_range",
    "repeated",
    "required",
    "reserved",
    "ruled",
    "too_long",
    "too_many",
    "unknown_field",
]


def required(pointer: str) -> InvalidInput:
    return InvalidInput(f"{pointer} is required", pointer=pointer)


def blank(pointer: str) -> InvalidInput:
    return InvalidInput(f"{pointer} must not be blank", pointer=pointer)


def either(pointers: list[str]) -> InvalidInput:
    """Exactly one (or at most one) of these fields: ``give either agentId or agent``."""
    return InvalidInput(f"give either {' or '.join(pointers)}", pointer=pointers[0])


def too_long(pointer: str, limit: int) -> InvalidInput:
    return InvalidInput(f"{pointer} must be at most {limit} characters", pointer=pointer)


def too_many(pointer: str, limit: int) -> InvalidInput:
    return InvalidInput(f"{pointer} must hold at most {limit} items", pointer=pointer)


def repeated(pointer: str) -> InvalidInput:
    return InvalidInput(f"{pointer} must not repeat an item", pointer=pointer)


def reserved(pointer: str, word: str) -> InvalidInput:
    return InvalidInput(f"{pointer} must not be {word!r}, a reserved word", pointer=pointer)


def out_of_range(pointer: str, low: int, high: int) -> InvalidInput:
    return InvalidInput(f"{pointer} must be a whole number from {low} to {high}", pointer=pointer)


def not_one_of(pointer: str, choices: Iterable[object]) -> InvalidInput:
    return InvalidInput(f"{pointer} must be one of {', '.join(map(str, choices))}", pointer=pointer)


def malformed(pointer: str, expected: str) -> InvalidInput:
    """Of the wrong type or form: ``agentId must be a UUID``, ``name must be a string``."""
    return InvalidInput(f"{pointer} must be {expected}", pointer=pointer)


def ruled(pointer: str, rule: str) -> InvalidInput:
    """A rule a schema states in the services' words (openapi.yaml's ``x-refusal``): ``name must not be blank``."""
    return InvalidInput(f"{pointer} {rule}", pointer=pointer)


def unknown_field(pointer: str) -> InvalidInput:
    return InvalidInput(f"{pointer} is not a known field", pointer=pointer)
