"""REST handlers of the Human-in-the-Loop API.

The path parameter ``id`` arrives as ``id_``: with ``pythonic_params``, Connexion renames a parameter that shadows a
builtin.
"""

from __future__ import annotations

from typing import Any

from connexion.lifecycle import ConnexionResponse
from starlette.responses import Response

from vectra.rest.caller import authenticated
from vectra.rest.representations import page_json
from vectra.rest.responses import json_response
from vectra.services import hitl
from vectra.services.hitl_json import pending_detail, pending_summary

_BODY_FRAMING = frozenset({"content-length", "transfer-encoding"})


async def list_hitl_requests(page: int = 1, page_size: int = 25, agent_id: str | None = None,
                             status: list[str] | None = None) -> ConnexionResponse:
    ctx, actor = authenticated()
    found = await hitl.list_requests(ctx, actor, agent_id=agent_id, statuses=status, page=page, page_size=page_size)
    return json_response(page_json(found, pending_summary))


async def get_hitl_request(id_: str, wait: float | None = None) -> ConnexionResponse:
    ctx, actor = authenticated()
    return json_response(pending_detail(await hitl.get_request(ctx, actor, id_, wait)))


async def approve_hitl_request(id_: str, body: dict[str, Any] | None = None) -> Response:
    """The upstream's answer, as the proxy would have passed it back, with ``Vectra-Hitl-Id``."""
    ctx, actor = authenticated()
    fields = body or {}
    approval = await hitl.approve(ctx, actor, id_, fields.get("comment"), fields.get("digest"))
    answer = approval.answer
    assert answer.status is not None, "a replay without an answer is raised as its upstream error"
    response = Response(content=answer.body, status_code=answer.status)
    kept = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers
            if name.lower() not in _BODY_FRAMING]
    framing = [] if answer.status < 200 or answer.status in (204, 304) \
        else [(b"content-length", str(len(answer.body)).encode())]  # RFC 9110 §8.6: none on 1xx, 204, 304
    response.raw_headers = [*kept, *framing, (b"vectra-hitl-id", approval.pending.id.encode())]
    return response


async def deny_hitl_request(id_: str, body: dict[str, Any] | None = None) -> ConnexionResponse:
    ctx, actor = authenticated()
    return json_response(pending_detail(await hitl.deny(ctx, actor, id_, (body or {}).get("comment"))))
