"""Request fields as the services take them: a proto3 ``optional`` unset is None, as is a status filter left 0."""

from __future__ import annotations

import enum
from collections.abc import Mapping

from google.protobuf.message import Message

__all__ = ["optional", "status_filter"]


def optional(message: Message, field: str) -> object:
    """A proto3 ``optional`` field's value, or None when unset."""
    return getattr(message, field) if message.HasField(field) else None


def status_filter(number: int, statuses: Mapping[int, enum.Enum]) -> str | None:
    """A status filter as the service takes it, by name (``statuses``: the enum's numbers to the domain's
    statuses): 0 is "any" (None); a number of no status goes on as its digits, for the service to refuse as it
    refuses REST's unknown name."""
    status = statuses.get(number)
    if status is not None:
        return status.value
    return str(number) if number else None
