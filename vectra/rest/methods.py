"""The methods each path of ``openapi.yaml`` answers: the ``Allow`` header of a 405, and the 405 of a concrete path.

Connexion routes every operation on its own, so the router's own 405 names only the methods of the first operation
whose path matched (``GET, HEAD`` for ``/agents``, which takes ``POST`` too). RFC 9110 §15.5.6 wants them all.

OpenAPI matches a concrete path before a templated one: ``/policies/validate`` is that path, never the policy
``validate`` of ``/policies/{name}``. The router would take ``GET /policies/validate`` for a read of that policy;
:class:`ConcretePaths` answers 405 instead (the name is reserved, so no such policy exists).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException

__all__ = ["AllowedMethods", "ConcretePaths"]

_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


class AllowedMethods:
    def __init__(self, spec: Mapping[str, Any]) -> None:
        self._concrete = {path: _methods(item) for path, item in spec["paths"].items() if "{" not in path}
        self._templated = [(_template(path), _methods(item)) for path, item in spec["paths"].items() if "{" in path]

    def of(self, path: str) -> list[str]:
        """Every method an operation serves at ``path`` (HEAD wherever GET is), in a fixed order."""
        found = self._concrete.get(path)
        if found is None:
            found = set().union(*(methods for template, methods in self._templated if template.fullmatch(path)))
        return [method for method in _ORDER if method in found]

    def refuses(self, path: str, method: str) -> bool:
        """Whether ``path`` is a concrete path of the spec that does not serve ``method``."""
        return path in self._concrete and method.upper() not in self._concrete[path]


class ConcretePaths:
    """A method a concrete path does not serve is a 405 there, whatever template the path would also match."""

    def __init__(self, app: Any, allowed: AllowedMethods) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.allowed.refuses(scope["path"], scope["method"]):
            raise HTTPException(405)
        await self.app(scope, receive, send)


def _template(path: str) -> re.Pattern[str]:
    """``/agents/{agentId}`` as a pattern of the paths it routes: a parameter is one segment."""
    return re.compile(re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(path)))


def _methods(item: Mapping[str, Any]) -> set[str]:
    methods = {method.upper() for method in item if method.upper() in _ORDER}
    return methods | {"HEAD"} if "GET" in methods else methods
