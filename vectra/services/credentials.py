"""Reading the credentials a request carries, before anything is verified (no context needed: the refusal
records read them too, and those are built beneath the service context)."""

from __future__ import annotations

from vectra.domain.errors import Unauthenticated

__all__ = ["bearer_token"]


def bearer_token(credentials: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` value; Unauthenticated for anything else."""
    if not credentials:
        raise Unauthenticated("missing bearer token", cause="missing_token")
    scheme, _, token = credentials.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("expected 'Authorization: Bearer <token>'", cause="not_bearer")
    return token.strip()
