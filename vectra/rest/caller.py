"""What a handler needs to know about its request: the service context and who is calling."""

from __future__ import annotations

from connexion import request

from vectra.domain.models import Principal
from vectra.services.context import ServiceContext

__all__ = ["authenticated", "peer_address", "service_context"]


def service_context() -> ServiceContext:
    return request.state.vectra


def authenticated() -> tuple[ServiceContext, Principal]:
    """The context and the principal that ``AuthenticationMiddleware`` found for this operation."""
    return service_context(), request.state.principal


def peer_address() -> str:
    """The address the request came from (the TCP peer, without its port; empty when there is none)."""
    return request.client.host if request.client else ""
