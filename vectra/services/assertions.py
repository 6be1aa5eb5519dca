"""Tokens without a shared secret: an agent registered with an Ed25519 key proves itself with a short-lived JWT
it signed (RFC 7523 style; docs/tokens.md, "Key-based identity").

The assertion's ``alg`` is ``EdDSA`` and nothing else, the key the agent's stored one (never one the token names),
``iss`` = ``sub`` = the agent (its id or its ``did:key``), ``aud`` the token endpoint (:func:`assertion_audience`),
its lifetime at most ``assertion_max_lifetime_seconds``, and its ``jti`` accepted once: it is kept in the store
until the assertion expires, so that a replay is refused by every replica and after a restart.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vectra.config import Settings
from vectra.domain.errors import Unauthenticated
from vectra.domain.keys import DID_KEY_PREFIX, decode_public_key
from vectra.domain.models import Agent
from vectra.services import input_errors
from vectra.services.context import ServiceContext
from vectra.services.inputs import canonical_uuid
from vectra.services.jwt_causes import cause_of
from vectra.store.base import Store

__all__ = ["ALGORITHM", "MAX_ASSERTION_CHARS", "MAX_JTI_CHARS", "assertion_audience", "verify_assertion"]

log = logging.getLogger("vectra.assertions")

ALGORITHM = "EdDSA"  # fixed: never taken from the assertion
#: The longest assertion looked at; one with the required claims is about 400 characters.
MAX_ASSERTION_CHARS = 8192
MAX_JTI_CHARS = 200
_REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti"]
_MAX_DID_CHARS = 100  # a did:key of an Ed25519 key has 56
_INVALID = "invalid agent id or assertion"  # whichever check refused it: that is logged and audited, not told


def assertion_audience(settings: Settings) -> str:
    """The one ``aud`` an assertion must name: ``VECTRA_ASSERTION_AUDIENCE``, else ``<VECTRA_JWT_ISSUER>/tokens``.
    Never the gateway tokens' audience, so that neither kind of token can pass for the other."""
    return settings.assertion_audience or f"{settings.jwt_issuer}/tokens"


def verify_assertion(ctx: ServiceContext, agent_id: str, assertion: object) -> Agent:
    """The agent (named by its id or its ``did:key``) that signed ``assertion``, or Unauthenticated. Its ``jti``
    is used up by the call: the same assertion is refused the next time (``assertion_replayed``)."""
    if not isinstance(assertion, str):
        raise input_errors.malformed("assertion", "a string")
    if len(assertion) > MAX_ASSERTION_CHARS:
        raise input_errors.too_long("assertion", MAX_ASSERTION_CHARS)
    agent = _agent_named(ctx.store, agent_id)
    if agent is None or agent.public_key is None:  # an agent without a key is told what an unknown one is
        raise Unauthenticated(_INVALID, cause="no_public_key" if agent else "unknown_agent",
                              subject=agent.id if agent else _claimed(agent_id))
    key = Ed25519PublicKey.from_public_bytes(decode_public_key(agent.public_key))
    claims = _verified(ctx.settings, assertion, agent, key)
    expires_at = datetime.fromtimestamp(int(claims["exp"]) + ctx.settings.clock_skew_seconds, UTC)
    if not ctx.store.use_assertion(agent.id, claims["jti"], expires_at, datetime.now(UTC)):
        raise _refused("assertion_replayed", agent)
    return agent


def _verified(settings: Settings, assertion: str, agent: Agent, key: Ed25519PublicKey) -> dict[str, Any]:
    """The claims of an assertion signed with the agent's key, for it, in time."""
    try:
        algorithm = jwt.get_unverified_header(assertion).get("alg")
    except jwt.PyJWTError as exc:
        raise _refused("malformed_token", agent) from exc
    if algorithm != ALGORITHM:  # none, HS*, RS*, ...: refused before any key is used
        raise _refused("wrong_algorithm", agent)
    try:
        claims = jwt.decode(assertion, key, algorithms=[ALGORITHM], audience=assertion_audience(settings),
                            leeway=settings.clock_skew_seconds, options={"require": _REQUIRED_CLAIMS})
    except jwt.PyJWTError as exc:
        log.info("assertion refused", extra={"reason": str(exc), "agent": agent.id})
        raise _refused(cause_of(exc), agent) from exc
    # PyJWT checked that exp and iat are whole numbers, exp not past and iat not ahead (within the skew)
    lifetime, exp = settings.assertion_max_lifetime_seconds, int(claims["exp"])
    if exp > time.time() + lifetime + settings.clock_skew_seconds or exp - int(claims["iat"]) > lifetime:
        raise _refused("lifetime_too_long", agent)
    if not _names(claims["iss"], agent):
        raise _refused("wrong_issuer", agent)
    if claims["sub"] != claims["iss"]:
        raise _refused("wrong_subject", agent)
    if not 1 <= len(claims["jti"]) <= MAX_JTI_CHARS:
        raise _refused("bad_jti", agent)
    return claims


def _agent_named(store: Store, agent_id: str) -> Agent | None:
    if agent_id.startswith(DID_KEY_PREFIX):
        return store.get_agent_by_did(agent_id) if len(agent_id) <= _MAX_DID_CHARS else None
    canonical = canonical_uuid(agent_id)
    return store.get_agent(canonical) if canonical else None


def _names(value: object, agent: Agent) -> bool:
    """Whether a claim names the agent: its id (any UUID spelling) or its ``did:key``."""
    return value == agent.did or canonical_uuid(value) == agent.id


def _claimed(agent_id: str) -> str | None:
    """The unknown agent the request named, for the refusal's record."""
    if agent_id.startswith(DID_KEY_PREFIX):
        return agent_id[:_MAX_DID_CHARS]
    return canonical_uuid(agent_id)


def _refused(cause: str, agent: Agent) -> Unauthenticated:
    return Unauthenticated(_INVALID, cause=cause, subject=agent.id)
