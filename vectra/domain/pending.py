"""A call parked for a human (HITL): everything needed to replay it exactly, why it was parked, and what became of
it."""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote_plus

from vectra.domain import jcs

__all__ = [
    "REDACTED",
    "PendingFilter",
    "PendingRequest",
    "PendingStatus",
    "ReplayOutcome",
    "is_secret_header",
    "redacted",
    "request_digest",
]

#: What a secret header's value is shown as.
REDACTED = "[redacted]"
_SECRET_NAMES = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
# Authorization in any spelling (X-Authorization, Authentication, X-Auth-Token), X-Api-Key, X-Amz-Security-Token,
# X-Client-Secret, X-Session-Id, X-Hub-Signature, X-Jwt, X-Passphrase, X-Ssl-Client-Cert, ...: better a header
# redacted that needed not be than a credential shown.
_SECRET_WORDS = re.compile(r"(?i)(auth|token|secret|pass|session|signature|credential|cookie|jwt|cert|"
                           r"(^|[-_])(api[-_]?)?key($|[-_])|(^|[-_])sig($|[-_]))")


class PendingStatus(enum.StrEnum):
    PENDING = "Pending"
    APPROVED = "Approved"
    DENIED = "Denied"
    EXPIRED = "Expired"


def is_secret_header(name: str) -> bool:
    """Whether a header carries a credential: encrypted at rest, shown redacted, replayed with its real value."""
    lowered = name.lower()
    return lowered in _SECRET_NAMES or _SECRET_WORDS.search(lowered) is not None


def redacted_url(url: str) -> str:
    """``url`` with the values of its secret-named query parameters (``api_key``, ``access_token``, ``sig``...)
    shown as ``[redacted]``: what an audit record keeps of it."""
    head, mark, rest = url.partition("?")
    if not mark:
        return url
    query, hash_mark, fragment = rest.partition("#")
    parts = []
    for part in query.split("&"):
        name, equals, _ = part.partition("=")
        parts.append(f"{name}={REDACTED}" if equals and is_secret_header(unquote_plus(name)) else part)
    return f"{head}?{'&'.join(parts)}{hash_mark}{fragment}"


def redacted(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, REDACTED if is_secret_header(name) else value) for name, value in headers]


def request_digest(key: bytes, agent_id: str, method: str, url: str, headers: Sequence[tuple[str, str]],
                   body: bytes, policy_name: str | None, policy_version: int | None) -> str:
    """``hmac-sha256:<hex>`` over the RFC 8785 form of exactly what an approval replays, and whose and under which
    policy it was: an approval is bound to it, and a replay must match it. Keyed, so that neither can a reader of
    the digest guess a weak secret header from it, nor a writer of the database make an altered request match."""
    document = {
        "agentId": agent_id, "method": method, "url": url, "headers": [[name, value] for name, value in headers],
        "bodySha256": hashlib.sha256(body).hexdigest(), "policyName": policy_name, "policyVersion": policy_version,
    }
    return "hmac-sha256:" + hmac.new(key, jcs.dumps(document), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    """What the upstream answered to an approved request's replay: status and headers, and the first bytes of the
    body (``body_size`` counts them all); or, when the gateway got no answer (unreachable, timed out, refused by
    the breaker or the SSRF guard), no status and the ``error``."""

    status: int | None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = field(default=b"", repr=False)
    body_size: int = 0
    error: str | None = None

    @property
    def body_truncated(self) -> bool:
        return self.body_size > len(self.body)


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """``headers`` are the ones the upstream gets, in order, with their real values (the store encrypts the secret
    ones); ``body`` the exact bytes the agent sent, None when a list left it out (``body_size`` is always there).
    ``digest`` is :func:`request_digest` as computed when the call was parked."""

    id: str
    agent_id: str
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None = field(repr=False)
    body_size: int
    rule: str | None
    reason: str | None
    risk: float | None
    risk_factors: dict[str, float]
    policy_name: str | None
    policy_version: int | None
    digest: str
    created_at: datetime
    expires_at: datetime
    status: PendingStatus = PendingStatus.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None
    outcome: ReplayOutcome | None = None
    #: the governed session the call was made in, if any
    session_id: str | None = None

    def current_digest(self, key: bytes) -> str:
        """The digest of the request as it now is (the body must be loaded)."""
        assert self.body is not None, "the digest needs the body"
        return request_digest(key, self.agent_id, self.method, self.url, self.headers, self.body, self.policy_name,
                              self.policy_version)


@dataclass(frozen=True, slots=True)
class PendingFilter:
    agent_id: str | None = None
    statuses: tuple[PendingStatus, ...] = (PendingStatus.PENDING,)
    #: only the requests of agents in these realms (ids); None: of every agent
    realm_scope: frozenset[str] | None = None
