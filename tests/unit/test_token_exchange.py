"""issue_token over a real SQLite store, for an agent that has a key and no secret (secret_hash b""): the
registrations that make one are not reachable through POST /agents, which always gives a secret."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from vectra.domain.errors import InvalidInput, Unauthenticated
from vectra.domain.keys import did_of, encode_public_key
from vectra.domain.models import Agent, AgentStatus, Role
from vectra.services import secrets
from vectra.services.assertions import assertion_audience
from vectra.services.context import ServiceContext
from vectra.services.tokens import issue_token, verify_token

KEY = Ed25519PrivateKey.generate()
PUBLIC = encode_public_key(KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


@pytest.fixture
def key_only(ctx: ServiceContext) -> Agent:
    agent = Agent(id=str(uuid.uuid4()), name="key-only", owner_id=None, status=AgentStatus.ACTIVE, policy_name=None,
                  trust_score=0.5, roles=(Role.AGENT,), created_at=datetime.now(UTC), last_seen_at=None,
                  secret_hash=b"", public_key=PUBLIC, did=did_of(PUBLIC))
    ctx.store.insert_agent(agent)
    return agent


def _assertion(ctx: ServiceContext, agent: Agent) -> str:
    now = int(time.time())
    return jwt.encode({"iss": agent.id, "sub": agent.id, "aud": assertion_audience(ctx.settings), "iat": now,
                       "exp": now + 60, "jti": uuid.uuid4().hex}, KEY, algorithm="EdDSA")


def test_an_empty_hash_never_matches_and_costs_what_a_real_one_costs() -> None:
    """bcrypt refuses an empty hash at once; checked as it is, a key-only agent would answer a secret ~1000x
    faster than any other, and so be told from the rest by timing."""
    real = asyncio.run(secrets.hash_secret("my-strong-secret", 10))

    def fastest(hashed: bytes) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            assert asyncio.run(secrets.check_secret("vectra-decoy-secret", hashed, 10)) is False
            times.append(time.perf_counter() - started)
        return min(times)

    assert fastest(b"") > fastest(real) / 3


def test_a_key_only_agent_asked_with_a_secret_is_refused_as_a_wrong_secret(ctx: ServiceContext,
                                                                           key_only: Agent) -> None:
    for secret in ("any-secret-at-all", "vectra-decoy-secret", "x" * 100):
        with pytest.raises(Unauthenticated) as refused:
            asyncio.run(issue_token(ctx, key_only.id, client_secret=secret))
        assert (refused.value.detail, refused.value.cause, refused.value.subject) == \
            ("invalid agent id or client secret", "bad_client_secret", key_only.id)


def test_a_key_only_agent_gets_a_token_by_assertion(ctx: ServiceContext, key_only: Agent) -> None:
    issued = asyncio.run(issue_token(ctx, key_only.did or "", assertion=_assertion(ctx, key_only)))
    assert verify_token(ctx, issued.token)["sub"] == key_only.id


@pytest.mark.parametrize(("client_secret", "assertion"), [(None, None), ("", ""), ("s", "a")])
def test_exactly_one_credential_is_given(ctx: ServiceContext, client_secret: str | None,
                                         assertion: str | None) -> None:
    with pytest.raises(InvalidInput, match="give either clientSecret or assertion"):
        asyncio.run(issue_token(ctx, str(uuid.uuid4()), client_secret=client_secret, assertion=assertion))
