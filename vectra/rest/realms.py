"""REST handlers of the Realms API."""

from __future__ import annotations

from typing import Any

from connexion.lifecycle import ConnexionResponse

from vectra.rest.caller import authenticated
from vectra.rest.representations import realm_json, realm_page_json
from vectra.rest.responses import json_response
from vectra.services import realms


async def list_realms(page: int = 1, page_size: int = 25) -> ConnexionResponse:
    ctx, actor = authenticated()
    return json_response(realm_page_json(await realms.list_realms(ctx, actor, page, page_size)))


async def get_realm(realm_id: str) -> ConnexionResponse:
    ctx, actor = authenticated()
    return json_response(realm_json(await realms.get_realm(ctx, actor, realm_id)))


async def create_realm(body: dict[str, Any]) -> ConnexionResponse:
    ctx, actor = authenticated()
    realm = await realms.create_realm(ctx, actor, name=body.get("name"), slug=body.get("slug"),
                                      color=body.get("color"))
    return json_response(realm_json(realm), 201, {"Location": f"/realms/{realm.id}"})


async def update_realm(realm_id: str, body: dict[str, Any]) -> ConnexionResponse:
    ctx, actor = authenticated()
    realm = await realms.update_realm(ctx, actor, realm_id, name=body.get("name"), slug=body.get("slug"),
                                      color=body.get("color"))
    return json_response(realm_json(realm))


async def delete_realm(realm_id: str) -> ConnexionResponse:
    ctx, actor = authenticated()
    await realms.delete_realm(ctx, actor, realm_id)
    return json_response(None)
