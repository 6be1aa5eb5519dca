"""REST handler of the token exchange."""

from __future__ import annotations

from typing import Any

from connexion.lifecycle import ConnexionResponse

from vectra.domain.times import rfc3339
from vectra.rest.caller import service_context
from vectra.rest.responses import json_response
from vectra.services import tokens


async def issue_token(body: dict[str, Any]) -> ConnexionResponse:
    issued = await tokens.issue_token(service_context(), body["agentId"], client_secret=body.get("clientSecret"),
                                      assertion=body.get("assertion"))
    return json_response({"token": issued.token, "expiresAt": rfc3339(issued.expires_at)})
