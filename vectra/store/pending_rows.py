"""Parked requests (HITL) as rows of ``pending_requests``, and back.

The row keeps each secret header's value (see :func:`vectra.domain.pending.is_secret_header`) out of the
``headers`` column: there its value is empty, and the real values are sealed together in ``sealed_headers``, bound
to the row's id. A row whose seal does not open (altered, moved, or under another key) reads back with those values
empty: its digest then no longer matches, and no approval replays it. The secret headers of the replay's answer are
sealed the same way (``outcome_sealed``). A row that can't be read back at all is Unavailable, never a crash.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from vectra.domain.errors import Unavailable
from vectra.domain.pending import PendingRequest, PendingStatus, ReplayOutcome, is_secret_header
from vectra.store.cipher import FieldCipher, SealBroken

__all__ = ["LIST_COLUMNS", "outcome_columns", "pending_from_row", "pending_row", "stamp"]

#: Every column but the body (lists leave it out).
LIST_COLUMNS = (
    "id, agent_id, method, url, headers, sealed_headers, body_size, rule, reason, risk, risk_factors, policy_name, "
    "policy_version, digest, status, created_at, expires_at, decided_by, decided_at, comment, outcome, outcome_body, "
    "outcome_sealed, session_id"
)


def stamp(moment: datetime) -> str:
    """Fixed width, UTC, microseconds: so that text order is time order in SQL comparisons."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _bound(pending_id: str, part: str = "headers") -> str:
    return f"pending_requests/{pending_id}/{part}"


def _sealed(headers: tuple[tuple[str, str], ...], cipher: FieldCipher, bound_to: str) -> tuple[str, bytes | None]:
    """The headers as JSON with their secret values left empty, and those values sealed (None when there are none)."""
    secrets = {str(i): value for i, (name, value) in enumerate(headers) if is_secret_header(name)}
    shown = [[name, "" if str(i) in secrets else value] for i, (name, value) in enumerate(headers)]
    return json.dumps(shown), cipher.seal(json.dumps(secrets).encode(), bound_to) if secrets else None


def _opened(shown: str, sealed: bytes | None, cipher: FieldCipher, bound_to: str) -> tuple[tuple[str, str], ...]:
    headers = [(name, value) for name, value in json.loads(shown)]
    if sealed is not None:
        try:
            secrets = json.loads(cipher.open(sealed, bound_to))
        except (SealBroken, ValueError):
            secrets = {}
        for index, value in secrets.items():
            if index.isdigit() and int(index) < len(headers):
                headers[int(index)] = (headers[int(index)][0], value)
    return tuple(headers)


def pending_row(pending: PendingRequest, cipher: FieldCipher) -> dict[str, Any]:
    shown, sealed = _sealed(pending.headers, cipher, _bound(pending.id))
    assert pending.body is not None, "a parked request is stored with its body"
    return {
        "id": pending.id, "agent_id": pending.agent_id, "method": pending.method, "url": pending.url,
        "headers": shown, "sealed_headers": sealed,
        "body": pending.body, "body_size": len(pending.body), "rule": pending.rule, "reason": pending.reason,
        "risk": pending.risk, "risk_factors": json.dumps(pending.risk_factors), "policy_name": pending.policy_name,
        "policy_version": pending.policy_version, "digest": pending.digest, "status": pending.status.value,
        "created_at": stamp(pending.created_at), "expires_at": stamp(pending.expires_at),
        "session_id": pending.session_id,
    }


def outcome_columns(pending_id: str, outcome: ReplayOutcome, cipher: FieldCipher) -> dict[str, Any]:
    shown, sealed = _sealed(outcome.headers, cipher, _bound(pending_id, "outcome"))
    document = {"status": outcome.status, "headers": json.loads(shown), "bodySize": outcome.body_size,
                "error": outcome.error}
    return {"outcome": json.dumps(document), "outcome_body": outcome.body, "outcome_sealed": sealed}


def pending_from_row(row: dict[str, Any], cipher: FieldCipher) -> PendingRequest:
    try:
        return _pending(row, cipher)
    except (ValueError, TypeError, KeyError) as exc:
        raise Unavailable(f"the stored HITL request {row.get('id')} is damaged and can't be read") from exc


def _pending(row: dict[str, Any], cipher: FieldCipher) -> PendingRequest:
    headers = _opened(row["headers"], row["sealed_headers"], cipher, _bound(row["id"]))
    return PendingRequest(
        id=row["id"], agent_id=row["agent_id"], method=row["method"], url=row["url"], headers=headers,
        body=row.get("body"), body_size=row["body_size"], rule=row["rule"], reason=row["reason"], risk=row["risk"],
        risk_factors=json.loads(row["risk_factors"]), policy_name=row["policy_name"],
        policy_version=row["policy_version"], digest=row["digest"], status=PendingStatus(row["status"]),
        created_at=datetime.fromisoformat(row["created_at"]), expires_at=datetime.fromisoformat(row["expires_at"]),
        decided_by=row["decided_by"],
        decided_at=datetime.fromisoformat(row["decided_at"]) if row["decided_at"] else None,
        comment=row["comment"], outcome=_outcome(row, cipher), session_id=row["session_id"],
    )


def _outcome(row: dict[str, Any], cipher: FieldCipher) -> ReplayOutcome | None:
    if row["outcome"] is None:
        return None
    fields = json.loads(row["outcome"])
    headers = _opened(json.dumps(fields["headers"]), row["outcome_sealed"], cipher, _bound(row["id"], "outcome"))
    return ReplayOutcome(status=fields["status"], headers=headers, body=row["outcome_body"] or b"",
                         body_size=fields["bodySize"], error=fields["error"])
