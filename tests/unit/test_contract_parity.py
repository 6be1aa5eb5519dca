"""The two contracts name the same operations: every REST operation in openapi.yaml has exactly one RPC whose
``google.api.http`` annotation gives its method and path, and every annotated RPC has its REST operation."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import re
from collections import Counter
from pathlib import Path

import grpc
import pytest
import yaml
from google.api import annotations_pb2, http_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from inflection import underscore

import vectra.grpc.generated.vectra.v1 as generated
from vectra.config import load_settings
from vectra.grpc.server import create_grpc_server
from vectra.rest.app import SPEC_PATH
from vectra.server import build_context

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
# REST operations served on gRPC by a standard service instead of one of ours.
SERVED_BY_STANDARD_SERVICE = {("get", "/health"): "grpc.health.v1.Health"}
# RPCs with no REST route (and so no google.api.http annotation), and why.
GRPC_ONLY = {
    # a decision without forwarding, for internal services that enforce it themselves; REST has POST /simulate
    # for policy authors, which is a dry run (no rate limit, no audit), not the same operation
    "vectra.v1.ProxyService.Check": "decision service for internal callers",
    # a bidirectional stream: HTTP/1.1 REST has no equivalent
    "vectra.v1.ProxyService.CheckStream": "bidirectional stream of checks",
    # a server stream of status changes; REST waits with a long poll, GET /hitl/{id}?wait=
    "vectra.v1.HitlService.Watch": "server stream of a HITL request's changes",
}
# `custom: {kind: "*"}` binds an RPC to every method of its path (the proxy: ANY /proxy/{url}).
ANY_METHOD = "*"

Route = tuple[str, str]  # (method, path template with snake_case parameter names)


def _normalise(path: str) -> str:
    """``/agents/{agentId}`` and ``/agents/{agent_id=*}`` both become ``/agents/{agent_id}``."""
    return re.sub(r"\{([^}=]+)(=[^}]*)?\}", lambda m: "{" + underscore(m.group(1)) + "}", path)


def _rest_operations() -> dict[Route, dict]:
    spec = yaml.safe_load(SPEC_PATH.read_text())
    return {
        (method, _normalise(path)): operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def _bindings(rule: http_pb2.HttpRule) -> list[http_pb2.HttpRule]:
    return [rule, *(b for extra in rule.additional_bindings for b in _bindings(extra))]


def _rpc_routes() -> list[tuple[Route, str, http_pb2.HttpRule]]:
    """(route, full RPC name, rule) for every binding of every RPC of every generated ``*_pb2`` module."""
    routes = []
    for module_info in pkgutil.iter_modules(generated.__path__):
        if not module_info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(f"{generated.__name__}.{module_info.name}")
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                options = method.GetOptions()
                if method.full_name in GRPC_ONLY:
                    assert not options.HasExtension(annotations_pb2.http), f"{method.full_name} is not gRPC-only"
                    continue
                assert options.HasExtension(annotations_pb2.http), f"{method.full_name} has no google.api.http"
                for rule in _bindings(options.Extensions[annotations_pb2.http]):
                    kind = rule.WhichOneof("pattern")
                    if kind == "custom" and rule.custom.kind == ANY_METHOD:
                        routes.extend(((m, _normalise(rule.custom.path)), method.full_name, rule) for m in HTTP_METHODS)
                        continue
                    assert kind in HTTP_METHODS, f"{method.full_name}: unsupported pattern {kind}"
                    routes.append(((kind, _normalise(getattr(rule, kind))), method.full_name, rule))
    return routes


def test_the_proto_files_are_all_generated() -> None:
    """The parity below reads the generated descriptors; every .proto must be among them."""
    protos = {p.stem for p in (Path(__file__).parents[2] / "proto" / "vectra" / "v1").glob("*.proto")}
    modules = {m.name.removesuffix("_pb2") for m in pkgutil.iter_modules(generated.__path__)}
    assert protos <= modules
    assert _rpc_routes(), "no RPC found"


def test_every_rest_operation_has_exactly_one_rpc() -> None:
    served_by = Counter(route for route, _, _ in _rpc_routes())
    missing = [r for r in _rest_operations() if r not in SERVED_BY_STANDARD_SERVICE and served_by[r] == 0]
    doubled = [r for r, count in served_by.items() if count > 1]
    assert not missing, f"REST operations without an RPC: {missing}"
    assert not doubled, f"routes annotated on more than one RPC: {doubled}"


def test_every_annotated_rpc_has_its_rest_operation() -> None:
    rest = _rest_operations()
    orphans = [(route, name) for route, name, _ in _rpc_routes() if route not in rest]
    assert not orphans, f"RPCs whose google.api.http route is not in openapi.yaml: {orphans}"


def test_request_bodies_agree() -> None:
    """An operation with a JSON body maps to an RPC that takes a body, and one without to one without."""
    rest = _rest_operations()
    disagree = [
        (route, name)
        for route, name, rule in _rpc_routes()
        if route in rest and bool(rule.body) != ("requestBody" in rest[route])
    ]
    assert not disagree, f"request body in one contract only: {disagree}"


def test_the_exemptions_are_real_rest_operations() -> None:
    rest = _rest_operations()
    assert all(route in rest for route in SERVED_BY_STANDARD_SERVICE)


def test_the_exempt_operations_are_served_by_their_standard_grpc_service(tmp_path: Path) -> None:
    """``GET /health`` has no RPC of ours because gRPC serves ``grpc.health.v1.Health``: it must be there."""
    assert set(SERVED_BY_STANDARD_SERVICE.values()) == {"grpc.health.v1.Health"}
    settings = load_settings({"data_dir": str(tmp_path), "jwt_secret": "k" * 32}, environ={})

    async def check() -> health_pb2.HealthCheckResponse:
        server, _, port = create_grpc_server(build_context(settings), "127.0.0.1:0", max_connections=16)
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                return await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        finally:
            await server.stop(None)

    assert asyncio.run(check()).status == health_pb2.HealthCheckResponse.SERVING


def test_the_grpc_only_rpcs_exist() -> None:
    names = {method.full_name for module_info in pkgutil.iter_modules(generated.__path__)
             if module_info.name.endswith("_pb2")
             for service in importlib.import_module(f"{generated.__name__}.{module_info.name}")
             .DESCRIPTOR.services_by_name.values()
             for method in service.methods}
    assert set(GRPC_ONLY) <= names


@pytest.mark.parametrize("path, expected", [
    ("/agents/{agentId}/lift-quarantine", "/agents/{agent_id}/lift-quarantine"),
    ("/agents/{agent_id=*}", "/agents/{agent_id}"),
    ("/policies/{name}", "/policies/{name}"),
    ("/proxy/{url=**}", "/proxy/{url}"),
])
def test_path_templates_are_compared_with_snake_case_parameters(path: str, expected: str) -> None:
    assert _normalise(path) == expected
