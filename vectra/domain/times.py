"""How every surface writes a moment: RFC 3339 in UTC with a ``Z``, as the reference's examples."""

from __future__ import annotations

from datetime import datetime

__all__ = ["rfc3339"]


def rfc3339(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
