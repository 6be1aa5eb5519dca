"""REST handlers of the Compliance API: the export as JSON, or as a printable HTML page for whoever asks for one
(``?format=html``, or a browser's ``Accept``). The bytes are the service's, as gRPC serves them."""

from __future__ import annotations

from connexion import request
from connexion.lifecycle import ConnexionResponse

from vectra.rest.caller import authenticated
from vectra.services import compliance


async def get_session_compliance(session_id: str, format_: str | None = None) -> ConnexionResponse:
    ctx, actor = authenticated()
    return await _answer(await compliance.session_export(ctx, actor, session_id), format_)


async def get_compliance(agent_id: str, from_: str, to: str, format_: str | None = None) -> ConnexionResponse:
    ctx, actor = authenticated()
    return await _answer(await compliance.period_export(ctx, actor, agent_id, from_, to), format_)


async def _answer(export: compliance.Export, format_: str | None) -> ConnexionResponse:
    """``?format`` when given, else what ``Accept`` prefers."""
    chosen = format_ or ("html" if _prefers_html(request.headers.get("accept", "")) else "json")
    content_type, body = await export.rendered(chosen)
    return ConnexionResponse(status_code=200, body=body, content_type=content_type, headers={"Vary": "Accept"})


def _prefers_html(accept: str) -> bool:
    """Whether ``Accept`` ranks ``text/html`` above ``application/json`` (RFC 9110 §12.5.1: the most specific
    range that matches gives each its weight); a tie, ``*/*`` or no header at all is JSON."""
    weights: dict[str, float] = {}
    for item in accept.split(","):
        media, *parameters = (part.strip() for part in item.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media:
            weights[media.lower()] = max(quality, weights.get(media.lower(), 0.0))

    def weight(kind: str) -> float:
        family = kind.split("/")[0] + "/*"
        return next((weights[r] for r in (kind, family, "*/*") if r in weights), 0.0)

    return weight("text/html") > weight("application/json")
