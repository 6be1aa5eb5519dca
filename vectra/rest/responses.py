"""JSON answers with an explicit content type (operations also declare problem+json)."""

from __future__ import annotations

import json
from typing import Any

from connexion.lifecycle import ConnexionResponse

__all__ = ["json_response"]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> ConnexionResponse:
    return ConnexionResponse(
        status_code=status,
        body=json.dumps(body, separators=(",", ":")) if body is not None else b"",
        content_type="application/json",
        headers=headers or {},
    )
