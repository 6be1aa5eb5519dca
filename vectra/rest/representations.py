"""Domain objects as the JSON bodies of the REST contract (camelCase, as in the reference)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from vectra.domain.models import Agent, Page

__all__ = ["agent_json", "page_json", "timestamp"]

T = TypeVar("T")


def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z``, as the reference's examples."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def agent_json(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "ownerId": agent.owner_id,
        "status": agent.status.value,
        "policyName": agent.policy_name,
        "trustScore": agent.trust_score,
        "roles": [r.value for r in agent.roles],
        "createdAt": timestamp(agent.created_at),
        "lastSeenAt": timestamp(agent.last_seen_at),
    }


def page_json(page: Page[T], item: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    return {
        "items": [item(x) for x in page.items],
        "page": page.page,
        "pageSize": page.page_size,
        "totalCount": page.total_count,
    }
