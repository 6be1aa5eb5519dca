"""Request fields as the services take them: a proto3 ``optional`` unset is None."""

from __future__ import annotations

from google.protobuf.message import Message

__all__ = ["optional"]


def optional(message: Message, field: str) -> object:
    """A proto3 ``optional`` field's value, or None when unset."""
    return getattr(message, field) if message.HasField(field) else None
