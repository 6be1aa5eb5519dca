"""Parked requests (HITL) as rows of ``pending_requests``, and back.

The row keeps each secret header's value (see :func:`vectra.domain.pending.is_secret_header`) out of the
``headers`` column: there its value is empty, and the real values are sealed together in ``sealed_headers``, bound
to the row's id. A row whose seal does not open (altered, moved, or under another key) reads back with those values
empty: its digest then no longer matches, and no approval replays it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from vectra.domain.pending import PendingRequest, PendingStatus, ReplayOutcome, is_secret_header
from vectra.store.cipher import FieldCipher, SealBroken

__all__ = ["LIST_COLUMNS", "outcome_columns", "pending_from_row", "pending_row", "stamp"]

#: Every column but the body (lists leave it out).
LIST_COLUMNS = (
    "id, agent_id, method, url, headers, sealed_headers, body_size, rule, reason, risk, risk_factors, policy_name, "
    "policy_version, digest, status, created_at, expires_at, decided_by, decided_at, comment, outcome, outcome_body"
)


def stamp(moment: datetime) -> str:
    """Fixed width, UTC, microseconds: so that text order is time order in SQL comparisons."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _bound(pending_id: str) -> str:
    return f"pending_requests/{pending_id}/headers"


def pending_row(pending: PendingRequest, cipher: FieldCipher) -> dict[str, Any]:
    secrets = {str(i): value for i, (name, value) in enumerate(pending.headers) if is_secret_header(name)}
    shown = [[name, "" if str(i) in secrets else value] for i, (name, value) in enumerate(pending.headers)]
    assert pending.body is not None, "a parked request is stored with its body"
    return {
        "id": pending.id, "agent_id": pending.agent_id, "method": pending.method, "url": pending.url,
        "headers": json.dumps(shown),
        "sealed_headers": cipher.seal(json.dumps(secrets).encode(), _bound(pending.id)) if secrets else None,
        "body": pending.body, "body_size": len(pending.body), "rule": pending.rule, "reason": pending.reason,
        "risk": pending.risk, "risk_factors": json.dumps(pending.risk_factors), "policy_name": pending.policy_name,
        "policy_version": pending.policy_version, "digest": pending.digest, "status": pending.status.value,
        "created_at": stamp(pending.created_at), "expires_at": stamp(pending.expires_at),
    }


def outcome_columns(outcome: ReplayOutcome) -> dict[str, Any]:
    document = {"status": outcome.status, "headers": [list(pair) for pair in outcome.headers],
                "bodySize": outcome.body_size, "error": outcome.error}
    return {"outcome": json.dumps(document), "outcome_body": outcome.body}


def pending_from_row(row: dict[str, Any], cipher: FieldCipher) -> PendingRequest:
    headers = [(name, value) for name, value in json.loads(row["headers"])]
    if row["sealed_headers"] is not None:
        try:
            secrets = json.loads(cipher.open(row["sealed_headers"], _bound(row["id"])))
        except (SealBroken, ValueError):
            secrets = {}
        for index, value in secrets.items():
            if index.isdigit() and int(index) < len(headers):
                headers[int(index)] = (headers[int(index)][0], value)
    return PendingRequest(
        id=row["id"], agent_id=row["agent_id"], method=row["method"], url=row["url"], headers=tuple(headers),
        body=row.get("body"), body_size=row["body_size"], rule=row["rule"], reason=row["reason"], risk=row["risk"],
        risk_factors=json.loads(row["risk_factors"]), policy_name=row["policy_name"],
        policy_version=row["policy_version"], digest=row["digest"], status=PendingStatus(row["status"]),
        created_at=datetime.fromisoformat(row["created_at"]), expires_at=datetime.fromisoformat(row["expires_at"]),
        decided_by=row["decided_by"],
        decided_at=datetime.fromisoformat(row["decided_at"]) if row["decided_at"] else None,
        comment=row["comment"], outcome=_outcome(row["outcome"], row["outcome_body"]),
    )


def _outcome(document: str | None, body: bytes | None) -> ReplayOutcome | None:
    if document is None:
        return None
    fields = json.loads(document)
    return ReplayOutcome(status=fields["status"], headers=tuple((n, v) for n, v in fields["headers"]),
                         body=body or b"", body_size=fields["bodySize"], error=fields["error"])
