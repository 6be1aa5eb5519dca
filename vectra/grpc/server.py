"""The grpc.aio server: Vectra's services, the standard health service, and reflection."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vectra.grpc.agents import AgentServicer
from vectra.grpc.audit import AuditServicer
from vectra.grpc.compliance import ComplianceServicer
from vectra.grpc.decoding import UndecodableRequests
from vectra.grpc.generated.vectra.v1 import (
    agents_pb2,
    agents_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    compliance_pb2,
    compliance_pb2_grpc,
    hitl_pb2,
    hitl_pb2_grpc,
    policies_pb2,
    policies_pb2_grpc,
    proxy_pb2,
    proxy_pb2_grpc,
    realms_pb2,
    realms_pb2_grpc,
    registrations_pb2,
    registrations_pb2_grpc,
    replay_pb2,
    replay_pb2_grpc,
    sessions_pb2,
    sessions_pb2_grpc,
    tokens_pb2,
    tokens_pb2_grpc,
)
from vectra.grpc.hitl import HitlServicer
from vectra.grpc.policies import PolicyServicer
from vectra.grpc.proxy import ProxyServicer
from vectra.grpc.realms import RealmServicer
from vectra.grpc.registrations import RegistrationServicer
from vectra.grpc.replay import ReplayServicer
from vectra.grpc.sessions import SessionServicer
from vectra.grpc.tokens import TokenServicer
from vectra.services.context import ServiceContext

__all__ = ["create_grpc_server"]

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
#: Request metadata (the token among it) larger than this is refused by the transport with RESOURCE_EXHAUSTED before
#: any servicer runs. gRPC's own soft limit (8 KiB) refuses at random between it and the hard one; set equal, every
#: call is either answered by Vectra (a token over 8192 characters: UNAUTHENTICATED, audited) or refused outright.
MAX_METADATA_BYTES = 16 * 1024


def create_grpc_server(ctx: ServiceContext, address: str, max_connections: int
                       ) -> tuple[grpc.aio.Server, health.aio.HealthServicer, int]:
    """The server on ``address``: at most ``max_connections`` connections, and a connection whose HTTP/2 handshake
    has not completed within the request head timeout is closed (as REST closes one that sends no whole head)."""
    server = grpc.aio.server(
        interceptors=[UndecodableRequests()],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_metadata_size", MAX_METADATA_BYTES),
            ("grpc.absolute_max_metadata_size", MAX_METADATA_BYTES),
            # gRPC sets SO_REUSEPORT by default: a second daemon on the same port would start and take half the
            # connections, silently; without it the port in use stops the second one (exit 2)
            ("grpc.so_reuseport", 0),
            ("grpc.max_allowed_incoming_connections", max_connections),
            ("grpc.server_handshake_timeout_ms", int(ctx.settings.request_head_timeout_seconds * 1000)),
        ]
    )
    agents_pb2_grpc.add_AgentServiceServicer_to_server(AgentServicer(ctx), server)
    tokens_pb2_grpc.add_TokenServiceServicer_to_server(TokenServicer(ctx), server)
    policies_pb2_grpc.add_PolicyServiceServicer_to_server(PolicyServicer(ctx), server)
    audit_pb2_grpc.add_AuditServiceServicer_to_server(AuditServicer(ctx), server)
    proxy_pb2_grpc.add_ProxyServiceServicer_to_server(ProxyServicer(ctx), server)
    hitl_pb2_grpc.add_HitlServiceServicer_to_server(HitlServicer(ctx), server)
    realms_pb2_grpc.add_RealmServiceServicer_to_server(RealmServicer(ctx), server)
    registrations_pb2_grpc.add_RegistrationServiceServicer_to_server(RegistrationServicer(ctx), server)
    sessions_pb2_grpc.add_SessionServiceServicer_to_server(SessionServicer(ctx), server)
    compliance_pb2_grpc.add_ComplianceServiceServicer_to_server(ComplianceServicer(ctx), server)
    replay_pb2_grpc.add_ReplayServiceServicer_to_server(ReplayServicer(ctx), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [
        agents_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
        tokens_pb2.DESCRIPTOR.services_by_name["TokenService"].full_name,
        policies_pb2.DESCRIPTOR.services_by_name["PolicyService"].full_name,
        audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name,
        proxy_pb2.DESCRIPTOR.services_by_name["ProxyService"].full_name,
        hitl_pb2.DESCRIPTOR.services_by_name["HitlService"].full_name,
        realms_pb2.DESCRIPTOR.services_by_name["RealmService"].full_name,
        registrations_pb2.DESCRIPTOR.services_by_name["RegistrationService"].full_name,
        sessions_pb2.DESCRIPTOR.services_by_name["SessionService"].full_name,
        compliance_pb2.DESCRIPTOR.services_by_name["ComplianceService"].full_name,
        replay_pb2.DESCRIPTOR.services_by_name["ReplayService"].full_name,
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    ]
    reflection.enable_server_reflection(names, server)
    port = server.add_insecure_port(address)
    return server, health_servicer, port
