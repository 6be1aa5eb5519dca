"""Issuing and verifying agent tokens: HS256 JWTs checked the RFC 8725 way."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from vectra.domain.errors import Forbidden, Unauthenticated
from vectra.domain.models import Agent, AgentStatus, IssuedToken
from vectra.services import input_errors
from vectra.services.assertions import verify_assertion
from vectra.services.context import ServiceContext
from vectra.services.inputs import canonical_uuid
from vectra.services.jwt_causes import cause_of
from vectra.services.lineage import refuse_if_parent_inactive
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


async def issue_token(ctx: ServiceContext, agent_id: str, *, client_secret: str | None = None,
                      assertion: str | None = None) -> IssuedToken:
    """Exchange an agent's id and either its client secret or an assertion it signed (:mod:`.assertions`) for a
    token. Empty counts as absent (gRPC can't tell them apart)."""
    client_secret = None if client_secret == "" else client_secret
    assertion = None if assertion == "" else assertion
    if (client_secret is None) == (assertion is None):
        raise input_errors.either(["clientSecret", "assertion"])
    if not isinstance(agent_id, str):
        raise input_errors.malformed("agentId", "a string")
    if assertion is not None:
        agent = verify_assertion(ctx, agent_id, assertion)
    else:
        agent = await _by_secret(ctx, agent_id, client_secret)
    if agent.status is not AgentStatus.ACTIVE:
        status = agent.status.value.lower()
        raise Forbidden(f"agent is {status}", reason=status, cause=status, subject=agent.id)
    refuse_if_parent_inactive(ctx, agent)
    return _issue(ctx, agent)


async def _by_secret(ctx: ServiceContext, agent_id: str, client_secret: object) -> Agent:
    """The agent whose secret this is. Unknown agent, wrong secret and an agent without a secret look alike."""
    if not isinstance(client_secret, str):
        raise input_errors.malformed("clientSecret", "a string")
    canonical_id = canonical_uuid(agent_id)
    agent = ctx.store.get_agent(canonical_id) if canonical_id else None
    if not await check_secret(client_secret, agent.secret_hash if agent else None,
                              ctx.settings.bcrypt_rounds) or agent is None:
        raise Unauthenticated(_INVALID_CREDENTIALS, cause="bad_client_secret" if agent else "unknown_agent",
                              subject=canonical_id)
    return agent


def _issue(ctx: ServiceContext, agent: Agent) -> IssuedToken:
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
        raise Unauthenticated(_INVALID_TOKEN, cause=cause_of(exc)) from exc
