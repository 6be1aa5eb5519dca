"""What a governed call's audit record keeps of the request, so that it can be judged again: by a policy replay
(docs/replay.md), as a shadow policy judged it live. Written here (:func:`judged_details`) and read back here
(:func:`recorded_call`), so that the format lives in one place.

The method and URL are the record's own fields; the record's details add the headers the upstream got (secrets
redacted: a replay sees ``[redacted]``), the body up to ``VECTRA_AUDIT_BODY_BYTES`` (UTF-8 text, else base64, with
its size and whether it was cut), the agent as the decision saw it, the policy's effect, the MCP call and the shadow
policy's verdict. A body the proxy streams rather than holds is copied as it passes, up to the same bound."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from policy_core import mcp_call
from vectra.domain.audit import AuditRecord
from vectra.domain.pending import REDACTED, is_secret_header, redacted, redacted_url
from vectra.domain.policies import GatewayDecision
from vectra.domain.sessions import GOVERNED_ACTIONS
from vectra.services.decide import AgentFacts, OutboundRequest, request_facts

__all__ = ["EFFECTS", "BodyCopy", "RecordedCall", "agent_view", "judged_details", "recorded_call", "recorded_tool",
           "request_view"]

#: how much of a call's headers (names and values, in characters) its record keeps: the first ones, in order
MAX_HEADER_CHARACTERS = 16384
#: the effects a policy gives; a record holding one of them (``details.effect``) is a call a policy decided
EFFECTS = frozenset({"Allow", "Deny", "Hitl"})


class BodyCopy:
    """Keeps the first ``limit`` bytes of a body streamed upstream, and counts all of them. It has passed whole
    when the stream ended, or when its ``Content-Length`` (``expected``) arrived: a client reading exactly that
    many bytes never asks for the stream's end."""

    def __init__(self, limit: int, expected: int | None = None) -> None:
        self.limit = limit
        self.expected = expected
        self.kept = bytearray()
        self.size = 0
        self.ended = False

    @property
    def finished(self) -> bool:
        return self.ended or (self.expected is not None and self.size >= self.expected)

    def tee(self, body: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        async def passing() -> AsyncIterator[bytes]:
            async for chunk in body:
                self.size += len(chunk)
                room = self.limit - len(self.kept)
                if room > 0:
                    self.kept += chunk[:room]
                yield chunk
            self.ended = True

        return passing()

    def whole(self) -> bytes | None:
        """The body, if it has been streamed to its end and was kept whole."""
        return bytes(self.kept) if self.finished and self.size == len(self.kept) else None


def request_view(headers: Sequence[tuple[str, str]], body: bytes | BodyCopy | None, limit: int) -> dict[str, Any]:
    """The ``request`` detail of a record: ``body`` as held, as copied while streaming, or absent."""
    if isinstance(body, BodyCopy):
        kept, size, cut = bytes(body.kept), body.size, body.size > len(body.kept) or not body.finished
    elif body:
        kept, size, cut = body[:limit], len(body), len(body) > limit
    else:
        kept, size, cut = b"", 0, False
    if kept:
        kept = _without_secrets(kept, headers, cut)
    kept_headers, room = [], MAX_HEADER_CHARACTERS
    for name, value in redacted(headers):
        room -= len(name) + len(value)
        if room < 0:
            break
        kept_headers.append([name, value])
    view: dict[str, Any] = {"headers": kept_headers, "bodySize": size, "bodyTruncated": cut}
    if len(kept_headers) < len(headers):
        view["headersTruncated"] = True
    if kept:
        try:
            view.update(body=kept.decode("utf-8"), bodyEncoding="utf-8")
        except UnicodeDecodeError:
            view.update(body=base64.b64encode(kept).decode("ascii"), bodyEncoding="base64")
    return view


def _without_secrets(body: bytes, headers: Sequence[tuple[str, str]], cut: bool) -> bytes:
    """A JSON or form body with the values of its secret-named fields (``password``, ``client_secret``,
    ``api_key``, ... at any depth) shown as ``[redacted]``, as headers are; nothing of one that was cut (it can't
    be read whole to redact it); any other body as it is."""
    content_type = next((value for name, value in headers if name.lower() == "content-type"), "")
    form = content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded"
    structured = form or body.lstrip()[:1] in (b"{", b"[")
    if cut and structured:
        return b""
    if structured and not form:
        try:
            document = json.loads(body)
        except RecursionError:
            return b""  # too deep to read whole, so too deep to redact
        except ValueError:
            return body  # not JSON after all
        if _redact_fields(document):
            return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        return body
    if form:
        try:
            text = body.decode("ascii")
        except UnicodeDecodeError:
            return body
        return redacted_url("?" + text)[1:].encode()
    return body


def _redact_fields(document: Any) -> bool:
    """Redact, in place, the secret-named fields of a parsed JSON document; whether there were any."""
    found, stack = False, [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if is_secret_header(key) and not isinstance(value, (dict, list)):
                    node[key] = REDACTED
                    found = True
                elif isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(item for item in node if isinstance(item, (dict, list)))
    return found


def judged_details(decision: GatewayDecision, facts: AgentFacts, headers: Sequence[tuple[str, str]],
                   body: bytes | BodyCopy | None, limit: int) -> dict[str, Any]:
    """The details of a decided call's record: what it was judged on (``request``, ``agent``), its policy's
    ``effect`` (when a policy version decided, not a refusal before it), the MCP call it made and its shadow
    policy's verdict."""
    judged: dict[str, Any] = {"request": request_view(headers, body, limit), "agent": agent_view(facts)}
    if decision.policy_version is not None:
        judged["effect"] = decision.effect
    mcp = mcp_call(body.whole() if isinstance(body, BodyCopy) else body)
    if mcp is not None:
        judged["mcp"] = {"method": mcp.method, "tool": mcp.tool}
    shadow = decision.shadow
    if shadow is not None:
        judged["shadow"] = {"policyName": shadow.policy_name, "policyVersion": shadow.policy_version,
                            "effect": shadow.effect, "rule": shadow.rule, "agrees": shadow.agrees_with(decision)}
    return judged


def agent_view(agent: AgentFacts) -> dict[str, Any]:
    """The ``agent`` detail: the agent's facts a policy may test (its trust is the record's own ``trust``)."""
    return {"name": agent.name, "ownerId": agent.owner_id, "roles": list(agent.roles),
            "capabilities": list(agent.capabilities), "realm": agent.realm}


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """What a record says of its call, ready to judge: the facts a policy sees (risk and time included), the trust
    and risk the decision was held to, and what it decided."""

    record: AuditRecord
    facts: dict[str, Any]
    risk: float
    trust: float
    effect: str
    tool: str | None
    body_truncated: bool


def recorded_call(record: AuditRecord) -> RecordedCall | None:
    """The call ``record`` governed, as its decision saw it; None for a record that is no governed call (another
    action, no policy-level effect, no request, no risk or trust)."""
    entry = record.entry
    details = entry.details
    effect = details.get("effect")
    request = details.get("request")
    risk, trust = _number(entry.risk), _number(entry.trust)
    if entry.action not in GOVERNED_ACTIONS or effect not in EFFECTS or not isinstance(request, dict) \
            or risk is None or trust is None:
        return None
    try:
        moment = datetime.fromisoformat(record.time).timestamp()
    except (TypeError, ValueError):
        return None
    agent = details.get("agent")
    if not isinstance(agent, dict):
        agent = {}
    facts = AgentFacts(
        id=entry.agent_id or "", name=agent.get("name") or "", owner_id=agent.get("ownerId"), trust_score=trust,
        roles=tuple(agent.get("roles") or ()), policy_name=details.get("policyName"),
        capabilities=tuple(agent.get("capabilities") or ()), realm=agent.get("realm"),
    )
    headers = request.get("headers")
    body, damaged = _body(request)
    # the recorded [name, value] lists as they are: policy_core reads them as it reads the proxy's pairs, and
    # only when a rule tests a header
    outbound = OutboundRequest(entry.method or "", entry.url or "", headers if isinstance(headers, list) else [],
                               body)
    judged = request_facts(facts, outbound, moment)
    judged["risk"] = {"score": risk}
    return RecordedCall(record, judged, risk, trust, effect, recorded_tool(details),
                        damaged or request.get("bodyTruncated") is True or request.get("headersTruncated") is True)


def recorded_tool(details: Mapping[str, Any]) -> str | None:
    """The MCP tool a recorded call invoked, if it was one."""
    mcp = details.get("mcp")
    tool = mcp.get("tool") if isinstance(mcp, Mapping) else None
    return tool if isinstance(tool, str) else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _body(request: dict[str, Any]) -> tuple[str | bytes | None, bool]:
    """The recorded body, and whether it is damaged (base64 that doesn't decode: judged as no body)."""
    body = request.get("body")
    if not isinstance(body, str):
        return None, False
    if request.get("bodyEncoding") != "base64":
        return body, False
    try:
        return base64.b64decode(body, validate=True), False
    except (binascii.Error, ValueError):
        return None, True
