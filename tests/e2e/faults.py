"""What the fault tests share: calls that can be told apart in the audit log, and reading the whole log back."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import httpx

from tests.integration.upstream import UpstreamServer


def marked_url(upstream: UpstreamServer, path: str = "/item") -> str:
    """An upstream URL no other call uses (a ``call`` query of its own), to find its record and its arrival."""
    return f"{upstream.base}{path}?call={uuid.uuid4().hex}"


def whole_audit(admin: httpx.Client) -> list[dict[str, Any]]:
    """Every audit record, oldest first."""
    records: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = admin.get("/audit", params={"page": page, "pageSize": 100})
        assert answer.status_code == 200, answer.text
        records.extend(answer.json()["items"])
        if page * 100 >= answer.json()["totalCount"]:
            return sorted(records, key=lambda record: record["id"])
        page += 1


def records_by_url(records: list[dict[str, Any]], action: str = "proxy.request") -> Counter[tuple[str, str]]:
    """How many records of ``action`` each (url, decision) has."""
    return Counter((record["url"], record["decision"]) for record in records if record["action"] == action)


def arrived(upstream: UpstreamServer) -> Counter[str]:
    """How often each ``call`` query reached the upstream."""
    return Counter(request["query_string"] for request in upstream.requests)


def assert_chain_valid(admin: httpx.Client) -> dict[str, Any]:
    verdict = admin.get("/audit/verify")
    assert verdict.status_code == 200, verdict.text
    assert verdict.json()["valid"] is True, verdict.json()
    return verdict.json()
