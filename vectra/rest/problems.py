"""The one table from domain errors to HTTP statuses, and RFC 9457 problem responses."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

from vectra.domain import errors
from vectra.domain.audit import AuditSource
from vectra.rest.methods import AllowedMethods
from vectra.rest.refusals import record_refusal
from vectra.services.refusals import is_access_refusal

__all__ = [
    "STATUS_BY_ERROR",
    "domain_problem",
    "error_status",
    "handle_connexion_problem",
    "handle_domain_error",
    "handle_unexpected",
    "http_exception_handler",
    "problem_parts",
    "problem_response",
]

log = logging.getLogger("vectra.rest")

STATUS_BY_ERROR: dict[type[errors.VectraError], int] = {
    errors.InvalidInput: 400,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.AlreadyExists: 409,
    errors.Conflict: 409,
    errors.RateLimited: 429,
    errors.Unavailable: 503,
    errors.PayloadTooLarge: 413,
    errors.UpstreamUnreachable: 502,
    errors.UpstreamTimeout: 504,
}


def error_status(exc: errors.VectraError) -> int:
    return next(code for kind, code in STATUS_BY_ERROR.items() if isinstance(exc, kind))


def problem_parts(
    status: int, title: str, detail: str, *, slug: str = "error", headers: dict[str, str] | None = None,
    **extra: Any,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The problem document and the response's headers (``WWW-Authenticate`` on a 401)."""
    body = {"type": f"urn:vectra:problem:{slug}", "title": title, "status": status, "detail": detail, **extra}
    all_headers = dict(headers or {})
    if status == 401:
        all_headers.setdefault("WWW-Authenticate", 'Bearer realm="vectra"')
    return body, all_headers


def problem_response(
    status: int, title: str, detail: str, *, slug: str = "error", headers: dict[str, str] | None = None,
    **extra: Any,
) -> ConnexionResponse:
    body, all_headers = problem_parts(status, title, detail, slug=slug, headers=headers, **extra)
    return _problem(status, body, all_headers)


def _problem(status: int, body: dict[str, Any], headers: dict[str, str]) -> ConnexionResponse:
    return ConnexionResponse(status_code=status, body=json.dumps(body), content_type="application/problem+json",
                             headers=headers)


def domain_problem(exc: errors.VectraError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """A domain error as its status, problem document and headers: for Connexion's handler and the proxy's
    raw endpoint alike. Extra fields that are unset (``rule`` of a default decision) are left out."""
    status = error_status(exc)
    extra = {key: value for key, value in exc.extra.items() if key != "headers" and value is not None}
    body, headers = problem_parts(status, exc.title, exc.detail, slug=exc.slug, headers=exc.extra.get("headers"),
                                  **extra)
    return status, body, headers


async def handle_domain_error(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    assert isinstance(exc, errors.VectraError)
    if is_access_refusal(exc):
        await record_refusal(request.scope["state"]["vectra"], request.scope, exc, AuditSource.CONTROL_PLANE)
    return _problem(*domain_problem(exc))


async def handle_unexpected(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """A defect of ours: log it with its traceback, answer a plain 500 without one."""
    log.exception("unhandled error", extra={"path": request.url.path})
    return problem_response(500, "Internal error", "the request failed; it has been logged", slug="internal")


async def handle_connexion_problem(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """Connexion's own refusals (validation, unknown route, wrong method), kept to their first line."""
    assert isinstance(exc, ProblemException)
    detail = str(exc.detail or exc.title or "").split("\n", 1)[0]
    slug = "invalid-input" if exc.status == 400 else "http-" + str(exc.status)
    return problem_response(exc.status, exc.title or "Error", detail, slug=slug, headers=dict(exc.headers or {}))


def http_exception_handler(
    allowed: AllowedMethods,
) -> Callable[[ConnexionRequest, Exception], Awaitable[ConnexionResponse]]:
    """The router's refusals (no such path, a method the path does not serve) as Vectra's problems; a 405 names
    in ``Allow`` every method of the path, not only those of the first operation the router tried."""

    async def handle(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        assert isinstance(exc, HTTPException)
        status = exc.status_code
        headers = dict(exc.headers or {})
        detail = str(exc.detail or HTTPStatus(status).phrase)
        if status == 405:
            methods = allowed.of(request.url.path)
            headers["Allow"] = ", ".join(methods)
            detail = f"{request.method} is not served at this path, which serves {', '.join(methods)}"
        return problem_response(status, HTTPStatus(status).phrase, detail, slug=f"http-{status}", headers=headers)

    return handle
