"""Request fields as the services take them: a proto3 ``optional`` unset is None, as is an unset timestamp and a
status filter left 0."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, datetime

from google.protobuf.message import Message

from vectra.services import input_errors

__all__ = ["optional", "status_filter", "time_field"]


def optional(message: Message, field: str) -> object:
    """A proto3 ``optional`` field's value, or None when unset."""
    return getattr(message, field) if message.HasField(field) else None


def time_field(message: Message, field: str, pointer: str) -> datetime | None:
    """A ``google.protobuf.Timestamp`` field as an aware UTC datetime, None when unset; one outside the range a
    Timestamp may hold (years 1 to 9999, nanos below a second) is the caller's mistake, named by ``pointer``."""
    if not message.HasField(field):
        return None
    stamp = getattr(message, field)
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise input_errors.malformed(pointer, "a time from 0001-01-01 to 9999-12-31") from None


def status_filter(number: int, statuses: Mapping[int, enum.Enum]) -> str | None:
    """A status filter as the service takes it, by name (``statuses``: the enum's numbers to the domain's
    statuses): 0 is "any" (None); a number of no status goes on as its digits, for the service to refuse as it
    refuses REST's unknown name."""
    status = statuses.get(number)
    if status is not None:
        return status.value
    return str(number) if number else None
