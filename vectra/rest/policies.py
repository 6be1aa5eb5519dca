"""REST handlers of the Policies API.

``PUT /policies/{name}`` and ``POST /policies/validate`` take JSON (validated by Connexion as an object, then
decoded for us) or YAML (``application/yaml``, ``text/yaml``: Connexion hands non-JSON bodies over as the raw
bytes, decoded by the service). Either way a body that is no document at all (bad syntax, not a mapping, empty) is
a 400; what is wrong inside a document is the policy compiler's to say (a 400 on put, the verdict of validate).
"""

from __future__ import annotations

from typing import Any

from connexion import request
from connexion.lifecycle import ConnexionResponse

from vectra.rest.caller import authenticated
from vectra.rest.representations import (
    page_json,
    policy_json,
    policy_summary_json,
    policy_version_json,
    validation_json,
)
from vectra.rest.responses import json_response
from vectra.services import policies


def _document(body: Any) -> Any:
    """The body as the service takes it: JSON as Connexion decoded it, anything else as its bytes. An empty
    non-JSON body reaches handlers as Connexion's default ``{}``."""
    if request.mimetype.endswith("json"):
        return body
    return b"" if isinstance(body, dict) else body


async def list_policies(page: int = 1, page_size: int = 25) -> ConnexionResponse:
    ctx, actor = authenticated()
    return json_response(page_json(await policies.list_policies(ctx, actor, page, page_size), policy_summary_json))


async def get_policy(name: str, version: int | None = None) -> ConnexionResponse:
    ctx, actor = authenticated()
    return json_response(policy_json(await policies.get_policy(ctx, actor, name, version)))


async def put_policy(name: str, body: Any = None) -> ConnexionResponse:
    ctx, actor = authenticated()
    outcome = await policies.put_policy(ctx, actor, name, _document(body))
    if outcome.created:
        return json_response(policy_json(outcome.policy), 201, {"Location": f"/policies/{name}"})
    return json_response(policy_json(outcome.policy))


async def list_policy_versions(name: str, page: int = 1, page_size: int = 25) -> ConnexionResponse:
    ctx, actor = authenticated()
    versions = await policies.list_policy_versions(ctx, actor, name, page, page_size)
    return json_response(page_json(versions, policy_version_json))


async def delete_policy(name: str) -> ConnexionResponse:
    ctx, actor = authenticated()
    await policies.delete_policy(ctx, actor, name)
    return json_response(None)


async def validate_policy(body: Any = None) -> ConnexionResponse:
    ctx, actor = authenticated()
    return json_response(validation_json(await policies.validate_policy(ctx, actor, _document(body))))
