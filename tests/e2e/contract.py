"""The operations of Vectra's two contracts, read from the contracts themselves (``openapi.yaml``'s security and the
generated gRPC descriptors with their ``google.api.http`` annotations), so that a test over all of them covers an
operation added later without being edited."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import yaml
from google.api import annotations_pb2
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message

import vectra.grpc.generated.vectra.v1 as generated
from vectra.rest.app import SPEC_PATH

__all__ = ["Operation", "Rpc", "annotated_rpcs", "call_rpc", "open_rpc_paths", "protected_operations", "rpc_methods"]

_SPEC = yaml.safe_load(SPEC_PATH.read_text())
_HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


def _route(method: str, path: str) -> tuple[str, str]:
    return method.upper(), re.sub(r"\{[^}]+\}", "{}", path)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    tags: tuple[str, ...]
    example: dict[str, Any] | None


def protected_operations() -> dict[tuple[str, str], Operation]:
    """Every operation of ``openapi.yaml`` that needs a token, by its route (``("GET", "/agents/{}")``)."""
    found = {}
    for path, item in _SPEC["paths"].items():
        for method, operation in item.items():
            if method not in _HTTP_METHODS or not any(operation.get("security", _SPEC.get("security", []))):
                continue
            content = (operation.get("requestBody") or {}).get("content", {}).get("application/json", {})
            found[_route(method, path)] = Operation(method.upper(), path, tuple(operation.get("tags", ())),
                                                    content.get("example"))
    return found


@dataclass(frozen=True)
class Rpc:
    path: str
    request: type
    response: type
    route: tuple[str, str]


def annotated_rpcs() -> dict[tuple[str, str], Rpc]:
    """Every RPC with a google.api.http annotation, by the REST route it names."""
    found = {}
    for method in rpc_methods():
        rule = method.GetOptions().Extensions[annotations_pb2.http]
        pattern = rule.WhichOneof("pattern")
        if pattern is None:
            continue
        if pattern == "custom":  # kind "*": every method of the path (ANY /proxy/{url})
            routes = [_route(m, rule.custom.path) for m in _HTTP_METHODS]
        else:
            routes = [_route(pattern, getattr(rule, pattern))]
        for route in routes:
            found[route] = Rpc(
                f"/{method.containing_service.full_name}/{method.name}",
                message_factory.GetMessageClass(method.input_type),
                message_factory.GetMessageClass(method.output_type),
                route,
            )
    return found


def open_rpc_paths() -> set[str]:
    """The RPCs (``/vectra.v1.TokenService/IssueToken``) whose REST route takes no token."""
    protected = protected_operations()
    return {rpc.path for route, rpc in annotated_rpcs().items() if route not in protected}


def rpc_methods() -> Iterator[MethodDescriptor]:
    """Each method of each service of each generated ``*_pb2`` module (``method.containing_service`` is its
    service)."""
    for module in pkgutil.iter_modules(generated.__path__):
        if module.name.endswith("_pb2"):
            descriptor = importlib.import_module(f"{generated.__name__}.{module.name}").DESCRIPTOR
            for service in descriptor.services_by_name.values():
                yield from service.methods


def call_rpc(channel: grpc.Channel, method: MethodDescriptor, request: Message | bytes,
             metadata: Sequence[tuple[str, str]], timeout: float) -> grpc.StatusCode:
    """Call any RPC with ``request`` (a message, or raw bytes sent as they are) and read its whole answer; a client
    stream sends the request twice. The status it ended with."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    serialize: Callable[[Any], bytes] = (lambda raw: raw) if isinstance(request, bytes) \
        else type(request).SerializeToString
    kind = channel.stream_stream if method.client_streaming else \
        channel.unary_stream if method.server_streaming else channel.unary_unary
    call = kind(path, request_serializer=serialize, response_deserializer=lambda raw: raw)
    try:
        answer = call(iter([request, request]) if method.client_streaming else request, metadata=metadata,
                      timeout=timeout)
        if method.server_streaming:
            list(answer)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK
