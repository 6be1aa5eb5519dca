"""openapi.yaml is what users generate clients from: it validates, and every operation is complete."""

from __future__ import annotations

import inspect
import re
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from connexion.utils import get_function_from_name
from openapi_spec_validator import validate

from vectra.config import DEFAULT_CAPABILITIES
from vectra.rest.app import SPEC_PATH, _HandlerResolver
from vectra.rest.spec import deployed_spec

SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
OPERATIONS = [
    pytest.param(method, path, operation, id=f"{method.upper()} {path}")
    for path, item in SPEC["paths"].items()
    for method, operation in item.items()
    if method in ("get", "put", "post", "delete", "patch")
]
NEEDS_AUTH = [p for p in OPERATIONS if p.values[2].get("security", SPEC.get("security"))]
CAMEL_CASE = re.compile(r"^[a-z][a-zA-Z0-9]*$")


def _resolve(value: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/components/...``)."""
    while "$ref" in value:
        node: Any = SPEC
        for part in value["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        value = node
    return value


def test_the_spec_validates() -> None:
    validate(SPEC)


def test_operation_ids_are_unique() -> None:
    ids = [operation["operationId"] for _, _, operation in (p.values for p in OPERATIONS)]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("method, path, operation", OPERATIONS)
def test_every_operation_is_named_tagged_and_routed(method: str, path: str, operation: dict[str, Any]) -> None:
    assert CAMEL_CASE.match(operation.get("operationId", "")), "operationId must be camelCase"
    assert operation.get("tags"), "an operation needs a tag"
    assert set(operation["tags"]) <= {tag["name"] for tag in SPEC["tags"]}
    assert operation.get("x-openapi-router-controller", "").startswith("vectra.rest.")


@pytest.mark.parametrize("method, path, operation", OPERATIONS)
def test_every_operation_resolves_to_its_handler(method: str, path: str, operation: dict[str, Any]) -> None:
    """The daemon's own resolver finds a coroutine function for it."""
    target = SimpleNamespace(router_controller=operation["x-openapi-router-controller"],
                             operation_id=operation["operationId"])
    handler = get_function_from_name(_HandlerResolver().resolve_operation_id(target))
    assert inspect.iscoroutinefunction(handler)


@pytest.mark.parametrize("method, path, operation", NEEDS_AUTH)
def test_operations_with_auth_declare_401_and_403_as_problems(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    for status in ("401", "403"):
        assert status in operation["responses"], f"{status} not declared"
        content = _resolve(operation["responses"][status]).get("content", {})
        assert "application/problem+json" in content, f"{status} is not problem+json"


def test_every_error_response_is_a_problem() -> None:
    for method, path, operation in (p.values for p in OPERATIONS):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) and path != "/health":
                content = _resolve(response).get("content", {})
                assert list(content) == ["application/problem+json"], (method, path, status)


def test_the_file_lists_the_default_vocabulary_as_the_daemon_would_deploy_it() -> None:
    assert deployed_spec(SPEC, DEFAULT_CAPABILITIES) == SPEC


def test_a_vocabulary_of_its_own_rewrites_the_enum_and_the_filter_pattern() -> None:
    deployed = deployed_spec(SPEC, ("a.b", "c"))
    schemas = deployed["components"]["schemas"]

    assert schemas["Capability"]["enum"] == ["a.b", "c"]
    pattern = re.compile(schemas["CapabilityFilter"]["pattern"])
    assert pattern.search("c,a.b,c") and not pattern.search("axb") and not pattern.search("c,")
    assert SPEC["components"]["schemas"]["Capability"]["enum"][0] == "file_access"  # the written one untouched
