"""Parked requests as JSON, for every surface that shows them as JSON: the REST API, the console (through it) and
webhook deliveries. Secret headers are always shown redacted; bodies as UTF-8 text when they are that, else base64."""

from __future__ import annotations

import base64
from typing import Any

from vectra.domain.pending import PendingRequest, ReplayOutcome, redacted
from vectra.domain.times import rfc3339

__all__ = ["body_json", "outcome_json", "pending_detail", "pending_summary"]


def pending_summary(pending: PendingRequest) -> dict[str, Any]:
    """What a list shows: the reference's fields (``id, method, url, reason, agentId, timestamp, expiresAt``) and
    what a reviewer decides by."""
    return {
        "id": pending.id,
        "status": pending.status.value,
        "method": pending.method,
        "url": pending.url,
        "reason": pending.reason,
        "agentId": pending.agent_id,
        "timestamp": rfc3339(pending.created_at),
        "expiresAt": rfc3339(pending.expires_at),
        "rule": pending.rule,
        "risk": pending.risk,
        "riskFactors": pending.risk_factors,
        "policyName": pending.policy_name,
        "policyVersion": pending.policy_version,
        "digest": pending.digest,
        "bodySize": pending.body_size,
        "decidedBy": pending.decided_by,
        "decidedAt": rfc3339(pending.decided_at),
    }


def pending_detail(pending: PendingRequest) -> dict[str, Any]:
    """``GET /hitl/{id}``: ``{id, status, pending: {...}}``, then once decided who, when and the comment, and once
    replayed the upstream's answer (a bounded copy)."""
    request = pending_summary(pending)
    request["headers"] = [{"name": name, "value": value} for name, value in redacted(pending.headers)]
    request.update(body_json(pending.body or b"", pending.body_size))
    document: dict[str, Any] = {"id": pending.id, "status": pending.status.value, "pending": request}
    if pending.decided_at is not None:
        document["decision"] = {"by": pending.decided_by, "at": rfc3339(pending.decided_at),
                                "comment": pending.comment}
    if pending.outcome is not None:
        document["response"] = outcome_json(pending.outcome)
    return document


def outcome_json(outcome: ReplayOutcome) -> dict[str, Any]:
    return {
        "status": outcome.status,
        "headers": [{"name": name, "value": value} for name, value in outcome.headers],
        "error": outcome.error,
        **body_json(outcome.body, outcome.body_size),
    }


def body_json(body: bytes, size: int) -> dict[str, Any]:
    """``body`` with its encoding (``utf-8`` or ``base64``), its whole ``bodySize``, and whether it was cut."""
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(body).decode(), "base64"
    return {"body": text, "bodyEncoding": encoding, "bodySize": size, "bodyTruncated": size > len(body)}
