"""Issuing and verifying agent tokens: HS256 JWTs checked the RFC 8725 way."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from vectra.domain.errors import Forbidden, InvalidInput, Unauthenticated
from vectra.domain.models import AgentStatus, IssuedToken
from vectra.services.context import ServiceContext
from vectra.services.secrets import check_secret

__all__ = ["ALGORITHM", "MAX_TOKEN_CHARS", "TOKEN_TYPE", "issue_token", "verify_token"]

log = logging.getLogger("vectra.tokens")

ALGORITHM = "HS256"  # fixed: never taken from the token
TOKEN_TYPE = "vectra+jwt"  # the explicit type of Vectra's tokens (RFC 8725 §3.11), checked on every token
_REQUIRED_CLAIMS = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]
_INVALID_CREDENTIALS = "invalid agent id or client secret"
_INVALID_TOKEN = "invalid token"  # whichever check refused it: that is logged and audited, not told
#: The longest token looked at; Vectra's own are about 400 characters.
MAX_TOKEN_CHARS = 8192
#: PyJWT's refusals by the cause the audit log names (the first class that matches); anything else is
#: ``invalid_token``.
_CAUSES: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.InvalidAlgorithmError, "wrong_algorithm"),
    (jwt.InvalidAudienceError, "wrong_audience"),
    (jwt.InvalidIssuerError, "wrong_issuer"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidIssuedAtError, "bad_issued_at"),
    (jwt.DecodeError, "malformed_token"),
)


async def issue_token(ctx: ServiceContext, agent_id: str, client_secret: str) -> IssuedToken:
    """Exchange an agent's id and secret for a token. Unknown agent and wrong secret look alike."""
    if not isinstance(agent_id, str) or not isinstance(client_secret, str):
        raise InvalidInput("agentId and clientSecret must be strings")
    canonical_id = _canonical_uuid(agent_id)
    agent = ctx.store.get_agent(canonical_id) if canonical_id else None
    if not await check_secret(client_secret, agent.secret_hash if agent else None) or agent is None:
        raise Unauthenticated(_INVALID_CREDENTIALS, cause="bad_client_secret" if agent else "unknown_agent",
                              subject=canonical_id)
    if agent.status is not AgentStatus.ACTIVE:
        status = agent.status.value.lower()
        raise Forbidden(f"agent is {status}", reason=status, cause=status, subject=agent.id)
    now = datetime.now(UTC).replace(microsecond=0)
    expires = now + timedelta(seconds=ctx.settings.token_lifetime_seconds)
    claims = {
        "iss": ctx.settings.jwt_issuer,
        "aud": ctx.settings.jwt_audience,
        "sub": agent.id,
        "iat": now,
        "nbf": now,
        "exp": expires,
        "jti": str(uuid.uuid4()),
        "roles": [r.value for r in agent.roles],
    }
    token = jwt.encode(claims, ctx.keyring.active_key, algorithm=ALGORITHM,
                       headers={"kid": ctx.keyring.active_kid, "typ": TOKEN_TYPE})
    ctx.store.touch_agent(agent.id, datetime.now(UTC))  # not the claims' whole second: sightings keep their order
    ctx.agents.invalidate(agent.id)
    return IssuedToken(token=token, expires_at=expires)


def verify_token(ctx: ServiceContext, token: str) -> Mapping[str, Any]:
    """The token's claims, or Unauthenticated. The key is found by ``kid`` in our own ring only. A token that
    passed once is remembered until it expires (``ctx.tokens``)."""
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthenticated(_INVALID_TOKEN, cause="token_too_large")
    remembered = ctx.tokens.get(token)
    if remembered is not None:
        return remembered
    claims = _verified(ctx, token)
    ctx.tokens.put(token, claims, claims["exp"] + ctx.settings.clock_skew_seconds)
    return claims


def _verified(ctx: ServiceContext, token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise Unauthenticated(_INVALID_TOKEN, cause="malformed_token") from exc
    if header.get("typ") != TOKEN_TYPE:  # RFC 8725 §3.11: only tokens made as Vectra's gateway tokens
        raise Unauthenticated(_INVALID_TOKEN, cause="wrong_token_type")
    key = ctx.keyring.keys.get(header.get("kid")) if isinstance(header.get("kid"), str) else None
    if key is None:
        raise Unauthenticated(_INVALID_TOKEN, cause="unknown_key")
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=ctx.settings.jwt_audience,
            issuer=ctx.settings.jwt_issuer,
            leeway=ctx.settings.clock_skew_seconds,
            options={"require": _REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("token expired", cause="expired") from exc
    except jwt.PyJWTError as exc:  # which check failed is logged, not told
        log.info("token refused", extra={"reason": str(exc)})
        cause = next((name for kind, name in _CAUSES if isinstance(exc, kind)), "invalid_token")
        raise Unauthenticated(_INVALID_TOKEN, cause=cause) from exc


def _canonical_uuid(value: str) -> str | None:
    """The id as stored (lower-case, hyphenated), whatever UUID spelling the caller used; None if it is none."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None
