"""REST handlers of the Registrations API: self-registration (open, or with the ``Vectra-Enrollment-Token`` header)
and its poll need no token; listing and deciding need an admin of every realm."""

from __future__ import annotations

from typing import Any

from connexion import request
from connexion.lifecycle import ConnexionResponse

from vectra.domain.registrations import Registration
from vectra.domain.times import rfc3339
from vectra.rest.caller import authenticated, peer_address, service_context
from vectra.rest.representations import paged_json
from vectra.rest.responses import json_response
from vectra.services import registrations


async def submit_registration(body: dict[str, Any]) -> ConnexionResponse:
    registration = await registrations.submit(
        service_context(),
        source=peer_address(),
        enrollment_token=request.headers.get(registrations.ENROLLMENT_TOKEN_HEADER),
        name=body.get("name"),
        version=body.get("version"),
        description=body.get("description"),
        metadata=body.get("metadata"),
        capabilities=body.get("capabilities"),
        public_key=body.get("publicKey"),
    )
    answer = {"id": registration.id, "status": registration.status.value, "did": registration.did,
              "message": registrations.SUBMITTED_MESSAGE}
    return json_response(answer, 201, {"Location": f"/registrations/{registration.id}"})


async def list_registrations(page: int = 1, page_size: int = 25, status: str | None = None) -> ConnexionResponse:
    ctx, actor = authenticated()
    listed = await registrations.list_registrations(ctx, actor, status, page, page_size)
    return json_response({**paged_json(listed.page, _registration_json),
                          "availableCapabilities": list(listed.available_capabilities)})


async def get_registration(registration_id: str) -> ConnexionResponse:
    return json_response(_state_json(await registrations.get_status(service_context(), registration_id)))


async def approve_registration(registration_id: str, body: dict[str, Any]) -> ConnexionResponse:
    ctx, actor = authenticated()
    approved = await registrations.approve(ctx, actor, registration_id, capabilities=body.get("capabilities"),
                                           policy_name=body.get("policyName"), realm=body.get("realm"))
    return json_response({"success": True, "agentId": approved.agent_id, "did": approved.did,
                          "capabilities": list(approved.granted_capabilities)})


async def reject_registration(registration_id: str, body: dict[str, Any]) -> ConnexionResponse:
    ctx, actor = authenticated()
    await registrations.reject(ctx, actor, registration_id, body.get("reason"))
    return json_response({"success": True})


def _state_json(registration: Registration) -> dict[str, Any]:
    """What the registrant reads (``registrations.get_status``), and what an admin reads first."""
    return {
        "id": registration.id,
        "status": registration.status.value,
        "name": registration.name,
        "did": registration.did,
        "requestedCapabilities": list(registration.requested_capabilities),
        "requestedAt": rfc3339(registration.requested_at),
        "decidedAt": rfc3339(registration.decided_at),
        "reason": registration.reason,
        "agentId": registration.agent_id,
        "grantedCapabilities": list(registration.granted_capabilities),
    }


def _registration_json(registration: Registration) -> dict[str, Any]:
    """What an admin reads: everything."""
    return {
        **_state_json(registration),
        "version": registration.version,
        "description": registration.description,
        "metadata": dict(registration.metadata),
        "publicKey": registration.public_key,
        "source": registration.source,
        "decidedBy": registration.decided_by,
    }
