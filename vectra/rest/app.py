"""The REST application: Connexion 3 from openapi.yaml, behind Vectra's request middleware, which sends proxied
calls straight to the proxy endpoint and the reviewer console's files to the console endpoint."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from connexion import AsyncApp
from connexion.exceptions import ProblemException
from connexion.middleware import MiddlewarePosition
from connexion.middleware.main import ConnexionMiddleware
from connexion.middleware.security import SecurityMiddleware
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from inflection import underscore
from starlette.exceptions import HTTPException

from vectra.domain.errors import VectraError
from vectra.rest.authentication import AuthenticationMiddleware
from vectra.rest.console import ConsoleEndpoint
from vectra.rest.methods import AllowedMethods, ConcretePaths
from vectra.rest.middleware import RequestMiddleware
from vectra.rest.problems import (
    handle_connexion_problem,
    handle_domain_error,
    handle_unexpected,
    http_exception_handler,
)
from vectra.rest.proxy import ProxyEndpoint
from vectra.rest.spec import SPEC_JSON_PATH, ServeSpec, deployed_spec
from vectra.rest.validators import VALIDATORS
from vectra.services.context import ServiceContext

__all__ = ["SPEC_PATH", "create_app"]

SPEC_PATH = Path(str(resources.files("vectra") / "openapi.yaml"))

# Authentication is the services' job (the same code serves gRPC): Connexion's own security
# middleware gives its place, before validation, to one that calls the services' authenticate.
_MIDDLEWARES = [
    AuthenticationMiddleware if m is SecurityMiddleware else m for m in ConnexionMiddleware.default_middlewares
]


class _HandlerResolver(Resolver):
    """``operationId: listAgents`` with ``x-openapi-router-controller: vectra.rest.agents`` → ``list_agents``.

    operationIds stay the camelCase names client generators turn into method names; the handlers keep
    Python's snake_case.
    """

    def resolve_operation_id(self, operation: Any) -> str:
        return f"{operation.router_controller}.{underscore(operation.operation_id)}"


def create_app(ctx: ServiceContext) -> Any:
    spec = deployed_spec(yaml.safe_load(SPEC_PATH.read_text()), ctx.settings.capabilities)
    app = AsyncApp("vectra", middlewares=_MIDDLEWARES)
    app.add_api(
        spec,
        pythonic_params=True,
        resolver=_HandlerResolver(),
        validator_map=VALIDATORS,
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/open-api", spec_path=SPEC_JSON_PATH, serve_spec=False),
    )
    app.add_error_handler(VectraError, handle_domain_error)
    app.add_error_handler(ProblemException, handle_connexion_problem)
    allowed = AllowedMethods(spec)
    app.add_error_handler(HTTPException, http_exception_handler(allowed))
    app.add_error_handler(Exception, handle_unexpected)
    app.add_middleware(ServeSpec, position=MiddlewarePosition.BEFORE_SWAGGER, spec=spec)
    app.add_middleware(ConcretePaths, position=MiddlewarePosition.BEFORE_ROUTING, allowed=allowed)
    # /proxy/ is answered before Connexion sees anything, so that bodies stream untouched and a proxied call pays
    # for none of the management API's middleware; /console is static files, which are not API either
    return RequestMiddleware(app, ctx, proxy=ProxyEndpoint(ctx), console=ConsoleEndpoint())
