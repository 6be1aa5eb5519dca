"""gRPC servicer of the Registrations API: SubmitRegistration (open, or with the ``vectra-enrollment-token``
metadata) and GetRegistration need no token; the others need an admin of every realm."""

from __future__ import annotations

import grpc

from vectra.domain.registrations import Registration, RegistrationStatus
from vectra.grpc.caller import authenticated, peer_address
from vectra.grpc.generated.vectra.v1 import registrations_pb2, registrations_pb2_grpc
from vectra.grpc.messages import paged_fields, timestamp_message
from vectra.grpc.status import rpc
from vectra.services import registrations
from vectra.services.context import ServiceContext

__all__ = ["RegistrationServicer"]

ENROLLMENT_TOKEN_METADATA = registrations.ENROLLMENT_TOKEN_HEADER.lower()
_STATUS = {
    RegistrationStatus.PENDING: registrations_pb2.REGISTRATION_STATUS_PENDING,
    RegistrationStatus.APPROVED: registrations_pb2.REGISTRATION_STATUS_APPROVED,
    RegistrationStatus.REJECTED: registrations_pb2.REGISTRATION_STATUS_REJECTED,
}


class RegistrationServicer(registrations_pb2_grpc.RegistrationServiceServicer):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    @rpc
    async def SubmitRegistration(self, request: registrations_pb2.SubmitRegistrationRequest,
                                 context: grpc.aio.ServicerContext):
        metadata = dict(context.invocation_metadata() or ())
        registration = await registrations.submit(
            self.ctx,
            source=peer_address(context),
            enrollment_token=metadata.get(ENROLLMENT_TOKEN_METADATA),
            name=request.name,
            version=request.version,
            description=request.description,
            metadata=dict(request.metadata),
            capabilities=list(request.capabilities),
            public_key=request.public_key,
        )
        return registrations_pb2.SubmitRegistrationResponse(id=registration.id, status=_STATUS[registration.status],
                                                            did=registration.did,
                                                            message=registrations.SUBMITTED_MESSAGE)

    @rpc
    async def ListRegistrations(self, request: registrations_pb2.ListRegistrationsRequest,
                                context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        listed = await registrations.list_registrations(self.ctx, actor, request.status, request.page or 1,
                                                        request.page_size or 25)
        return registrations_pb2.ListRegistrationsResponse(**paged_fields(listed.page, _registration_message),
                                                           available_capabilities=listed.available_capabilities)

    @rpc
    async def GetRegistration(self, request: registrations_pb2.GetRegistrationRequest,
                              context: grpc.aio.ServicerContext):
        return _state_message(await registrations.get_status(self.ctx, request.registration_id))

    @rpc
    async def ApproveRegistration(self, request: registrations_pb2.ApproveRegistrationRequest,
                                  context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        granted = list(request.grant.capabilities) if request.HasField("grant") else None
        approved = await registrations.approve(self.ctx, actor, request.registration_id, capabilities=granted,
                                               policy_name=request.policy_name or None, realm=request.realm or None)
        return registrations_pb2.ApproveRegistrationResponse(success=True, agent_id=approved.agent_id,
                                                             did=approved.did,
                                                             capabilities=approved.granted_capabilities)

    @rpc
    async def RejectRegistration(self, request: registrations_pb2.RejectRegistrationRequest,
                                 context: grpc.aio.ServicerContext):
        actor = authenticated(self.ctx, context)
        await registrations.reject(self.ctx, actor, request.registration_id, request.reason)
        return registrations_pb2.RejectRegistrationResponse(success=True)


def _state_fields(registration: Registration) -> dict[str, object]:
    """What the registrant reads (``registrations.get_status``), and what an admin reads first."""
    return {
        "id": registration.id,
        "status": _STATUS[registration.status],
        "name": registration.name,
        "did": registration.did,
        "requested_capabilities": registration.requested_capabilities,
        "requested_at": timestamp_message(registration.requested_at),
        "decided_at": timestamp_message(registration.decided_at),
        "reason": registration.reason,
        "agent_id": registration.agent_id,
        "granted_capabilities": registration.granted_capabilities,
    }


def _state_message(registration: Registration) -> registrations_pb2.RegistrationState:
    return registrations_pb2.RegistrationState(**_state_fields(registration))


def _registration_message(registration: Registration) -> registrations_pb2.Registration:
    """What an admin reads: everything."""
    return registrations_pb2.Registration(
        **_state_fields(registration),
        version=registration.version,
        description=registration.description,
        metadata=dict(registration.metadata),
        public_key=registration.public_key,
        source=registration.source or "",
        decided_by=registration.decided_by,
    )
