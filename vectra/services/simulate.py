"""Simulate: what the gateway would decide about a request, without forwarding, recording or changing anything.

Admins and reviewers may simulate any registered agent, or an agent described inline (with its stored policy by
name, or a draft policy document to try); an agent may simulate only itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from policy_core import PolicyError
from vectra.domain.errors import Forbidden, InvalidInput, NotFound
from vectra.domain.models import Principal, Role
from vectra.domain.policies import GatewayDecision
from vectra.services import input_errors
from vectra.services.agents import DEFAULT_TRUST
from vectra.services.context import ServiceContext
from vectra.services.decide import AgentFacts, OutboundRequest, decide
from vectra.services.inputs import check_policy_name, parse_agent_id
from vectra.services.policies import MAX_DOCUMENT_BYTES, PolicySource, parse_draft
from vectra.services.profiles import check_capabilities

__all__ = ["SimulatedAgent", "simulate"]

MAX_URL_LENGTH = 8192
MAX_HEADERS = 200
MAX_TEXT = 200
_METHOD = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$")  # an RFC 9110 token


@dataclass(frozen=True, slots=True)
class SimulatedAgent:
    """An agent described by the caller; unset fields take a new agent's defaults."""

    id: str | None = None
    name: str | None = None
    owner_id: str | None = None
    trust_score: float | None = None
    roles: Sequence[str] = ()
    policy_name: str | None = None
    policy: PolicySource = None
    capabilities: Sequence[str] = ()
    realm: str | None = None


async def simulate(
    ctx: ServiceContext,
    actor: Principal,
    request: OutboundRequest,
    *,
    agent_id: str | None = None,
    agent: SimulatedAgent | None = None,
) -> GatewayDecision:
    if (agent_id is None) == (agent is None):
        raise input_errors.either(["agentId", "agent"])
    _check_request(request)
    reader = actor.has(Role.REVIEWER)  # an admin holds every role
    if agent_id is not None:
        agent_id = parse_agent_id(agent_id)
        if not reader and actor.subject != agent_id:
            raise Forbidden("an agent may simulate only itself", cause="not_own", subject=actor.subject)
        stored = ctx.store.get_agent(agent_id)
        if stored is None or (actor.subject != agent_id and not actor.oversees(stored)):
            raise NotFound(f"agent {agent_id} not found")
        return decide(ctx, AgentFacts.of(stored), request)
    assert agent is not None
    if not reader:
        raise Forbidden("simulating an agent described inline needs the admin or reviewer role", cause="role",
                        subject=actor.subject)
    facts = _facts(agent, ctx.settings.capabilities)
    if agent.policy is None:
        return decide(ctx, facts, request)
    if agent.policy_name is not None:
        raise input_errors.either(["agent.policyName", "agent.policy"])
    try:
        draft = parse_draft(agent.policy)
    except PolicyError as exc:
        pointer = "agent.policy" + (f".{exc.pointer}" if exc.pointer else "")
        raise InvalidInput(f"{pointer}: {exc.message}", pointer=pointer) from None
    return decide(ctx, facts, request, draft=draft)


def _facts(agent: SimulatedAgent, vocabulary: Sequence[str]) -> AgentFacts:
    trust = DEFAULT_TRUST if agent.trust_score is None else agent.trust_score
    if isinstance(trust, bool) or not isinstance(trust, (int, float)) or not math.isfinite(trust) \
            or not 0 <= trust <= 1:
        raise InvalidInput("agent.trustScore must be a number from 0 to 1", pointer="agent.trustScore")
    roles = agent.roles or ("agent",)
    if isinstance(roles, str) or not all(isinstance(r, str) and len(r) <= MAX_TEXT for r in roles):
        raise InvalidInput("agent.roles must be a list of strings", pointer="agent.roles")
    if agent.policy_name is not None:
        check_policy_name(agent.policy_name, "agent.policyName")
    return AgentFacts(
        id=_text(agent.id, "agent.id") or "simulated-agent",
        name=_text(agent.name, "agent.name") or "simulated-agent",
        owner_id=_text(agent.owner_id, "agent.ownerId"),
        trust_score=float(trust),
        roles=tuple(roles),
        policy_name=agent.policy_name,
        capabilities=check_capabilities("agent.capabilities", list(agent.capabilities), vocabulary),
        realm=_text(agent.realm, "agent.realm"),
    )


def _text(value: object, pointer: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise InvalidInput(f"{pointer} must be a string of at most {MAX_TEXT} characters", pointer=pointer)
    return value


def _check_request(request: OutboundRequest) -> None:
    if not isinstance(request.method, str) or not _METHOD.fullmatch(request.method):
        raise InvalidInput("request.method must be an HTTP method such as GET", pointer="request.method")
    url = request.url
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"request.url must be an absolute http(s) URL of at most {MAX_URL_LENGTH} characters",
                           pointer="request.url")
    try:
        parts = urlsplit(url)
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        raise InvalidInput("request.url must be an absolute http(s) URL", pointer="request.url")
    headers = request.headers
    if not isinstance(headers, Mapping) or len(headers) > MAX_HEADERS or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise InvalidInput(f"request.headers must map at most {MAX_HEADERS} names to strings",
                           pointer="request.headers")
    body = request.body
    if body is not None and (
        not isinstance(body, (str, bytes))
        or len(body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body) > MAX_DOCUMENT_BYTES
    ):
        raise InvalidInput(f"request.body must be text of at most {MAX_DOCUMENT_BYTES} bytes", pointer="request.body")
