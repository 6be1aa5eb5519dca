"""Authentication before anything else looks at a request.

Connexion's own security middleware is left out: authentication is the services' job (the same
``vectra.services.auth.authenticate`` serves gRPC). This step takes its place in the stack, right
after routing and before the parameters and body are validated, so that a caller without a valid
token learns nothing about the schema. It runs for every operation whose spec requires security
and keeps the principal in the request state for the handler.
"""

from __future__ import annotations

from typing import Any

from connexion.middleware.abstract import RoutedAPI, RoutedMiddleware
from connexion.operations import AbstractOperation
from starlette.datastructures import Headers

from vectra.services.auth import authenticate

__all__ = ["AuthenticationMiddleware"]


class _Operation:
    def __init__(self, next_app: Any, operation: AbstractOperation) -> None:
        self.next_app = next_app
        # ``security: []`` (or only ``{}`` alternatives) means the operation is open.
        self.protected = any(requirement for requirement in operation.security or ())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if self.protected:
            state = scope["state"]
            state["principal"] = authenticate(state["vectra"], Headers(scope=scope).get("authorization"))
        await self.next_app(scope, receive, send)


class _API(RoutedAPI[_Operation]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_paths()

    def make_operation(self, operation: AbstractOperation) -> _Operation:
        return _Operation(self.next_app, operation)


class AuthenticationMiddleware(RoutedMiddleware[_API]):
    api_cls = _API
