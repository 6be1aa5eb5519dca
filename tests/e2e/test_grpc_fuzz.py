"""Issue 6's gRPC fuzzing: hypothesis-made messages for every RPC of every service, as an admin and as an agent,
against one real daemon. No answer may be INTERNAL or UNKNOWN (a defect of ours), none may hang (DEADLINE_EXCEEDED
from the test's own deadline), and the daemon still answers its health check afterwards.

The strategies are read from the request's message descriptor, recursively: strings (empty, unicode, huge), integers
at their type's bounds, enums with unknown numbers, repeated fields, maps, nested messages and oneofs; and, besides
messages, raw random bytes as the serialised request. Nothing leaves the machine: every ``url`` the fuzzer makes is
either not a URL the proxy accepts or one at a closed port of 127.0.0.1 (the daemon's upstream timeouts are short).
"""

from __future__ import annotations

import functools
import ipaddress
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.contract import call_rpc, rpc_methods
from tests.e2e.daemon import Daemon, bearer, free_port
from tests.e2e.proxy_agents import Agent
from vectra.domain.errors import InvalidInput
from vectra.forward import parse_target

pytestmark = pytest.mark.e2e

METHODS = {f"{m.containing_service.name}.{m.name}": m for m in rpc_methods()}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))  # per RPC and caller: about 20 s in all; more for a long run
_DEFECTS = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED}
_TIMEOUT = 20  # seconds: far beyond any answer of the daemon's, so that running into it means a hang
_CLOSED_PORT = free_port()  # nothing listens there: a forwarded call is refused at once, on this machine
_MAX_DEPTH = 5
# Words the daemon gives a meaning to, by the name of the field that holds them: so that a share of the messages gets
# past the first check (an unknown effect, operator or method) and into the code behind it.
_VOCABULARY: dict[str, list[str]] = {
    "default": ["Allow", "Deny", "Hitl"],
    "effect": ["Allow", "Deny", "Hitl"],
    "operator": ["eq", "ne", "gt", "ge", "lt", "le", "in", "notIn", "contains", "notContains", "startsWith",
                 "endsWith", "regex", "exists", "notExists", "glob", "cidr"],
    "field": ["input.method", "input.url", "input.host", "input.port", "input.path", "input.query.q",
              "input.headers.x-a", "input.body", "input.json.a.b", "input.bodySize", "input.agent.trustScore",
              "input.risk.score", "input.time.hour", "method", "agentId"],
    "method": ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "get", "BREW"],
    "status": ["Pending", "Approved", "Denied", "Expired"],
    "roles": ["agent", "reviewer", "admin"],
    "name": ["content-type", "x-trace", "host", "vectra-authorization", "connection", "transfer-encoding"],
    "value": ["application/json", "close", "chunked", "a\r\nInjected: 1"],
    "source": ["proxy", "grpc", "control_plane", "hitl"],
    "decision": ["Allow", "Deny", "Hitl", "RateLimited"],
    "from_time": ["2026-01-31T12:00:00Z", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"],
    "to_time": ["2026-01-31T12:00:00+01:00", "not a time"],
    "format": ["json", "html", "pdf"],
    "shadow": ["agreed", "disagreed"],
    "reason": ["loops", "r" * 1001],
}

_BOUNDS = {
    FieldDescriptor.TYPE_INT32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_SINT32: (-2**31, 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_INT64: (-2**63, 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-2**63, 2**63 - 1), FieldDescriptor.TYPE_SFIXED64: (-2**63, 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1), FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from([low, high, 0, 1, -1 if low < 0 else 2]), st.integers(low, high))


def _texts(name: str, known: tuple[str, ...]) -> st.SearchStrategy[str]:
    """The field's vocabulary and the ids the daemon knows; empty, short unicode (no surrogates: protobuf strings
    are UTF-8) and huge strings."""
    return st.one_of(
        st.sampled_from([*_VOCABULARY.get(name, ()), *known]),
        st.sampled_from(["", " ", "\x00", "a" * 70_000, "💥" * 5_000, "../../etc/passwd", "%00", str(uuid.uuid4())]),
        st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    )


def _loopback_only(url: str) -> str:
    """``url`` unchanged if the proxy would not take it as a target or it points at loopback by IP literal; else a
    closed loopback port with the same path, so that the fuzzer never makes the daemon reach the world."""
    try:
        target = parse_target(url)
    except InvalidInput:
        return url
    try:
        if ipaddress.ip_address(target.host).is_loopback:
            return url
    except ValueError:  # a name: it would be resolved
        pass
    return f"http://127.0.0.1:{_CLOSED_PORT}{target.path}"


def _urls() -> st.SearchStrategy[str]:
    paths = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
    return st.one_of(
        paths.map(lambda path: f"http://127.0.0.1:{_CLOSED_PORT}/{path}"),
        st.sampled_from(["http://169.254.169.254/latest/meta-data", "http://10.0.0.1/", "https:/127.0.0.1/x",
                         "http://[::1]:1/x", "ftp://127.0.0.1/x", "http://0x7f000001:1/", "http://2130706433:1/"]),
        st.text(max_size=40),
    ).map(_loopback_only)


def _scalar(field: FieldDescriptor, known: tuple[str, ...]) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return _urls() if field.name == "url" else _texts(field.name, known)
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.one_of(st.binary(max_size=64), st.just(b"\xff" * 70_000))
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(width=64 if kind == FieldDescriptor.TYPE_DOUBLE else 32)
    if kind == FieldDescriptor.TYPE_ENUM:  # proto3 enums are open: unknown numbers are kept
        return st.one_of(st.sampled_from([v.number for v in field.enum_type.values]), _integers(-2**31, 2**31 - 1))
    return _integers(*_BOUNDS[kind])


def _value(field: FieldDescriptor, known: tuple[str, ...], depth: int) -> st.SearchStrategy[Any]:
    if field.message_type is not None:
        return messages(field.message_type, known, depth + 1)
    return _scalar(field, known)


def _field(field: FieldDescriptor, known: tuple[str, ...], depth: int) -> st.SearchStrategy[Any]:
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
        return st.dictionaries(_value(key, known, depth), _value(value, known, depth), max_size=3)
    if field.is_repeated:
        return st.lists(_value(field, known, depth), max_size=3)
    return _value(field, known, depth)


def _assign(message: Message, field: FieldDescriptor, value: Any) -> None:
    target = getattr(message, field.name)
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        for key, item in value.items():
            if isinstance(item, Message):
                target[key].CopyFrom(item)
            else:
                target[key] = item
    elif field.is_repeated:
        for item in value:
            target.add().CopyFrom(item) if isinstance(item, Message) else target.append(item)
    elif isinstance(value, Message):
        target.CopyFrom(value)
    else:
        setattr(message, field.name, value)


@functools.cache
def messages(descriptor: Descriptor, known: tuple[str, ...], depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of ``descriptor``: any subset of its fields set (one member at most of each oneof), nested messages
    to a bounded depth."""
    cls = message_factory.GetMessageClass(descriptor)
    if depth > _MAX_DEPTH:
        return st.just(cls())
    plain = [f for f in descriptor.fields if f.containing_oneof is None or f.containing_oneof.name.startswith("_")]
    oneofs = [o for o in descriptor.oneofs if not o.name.startswith("_")]  # "_name": proto3 optional, one field
    chosen = [st.one_of(st.none(), *(st.tuples(st.just(f), _field(f, known, depth)) for f in o.fields))
              for o in oneofs]

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        message = cls()
        values = draw(st.fixed_dictionaries({}, optional={f.name: _field(f, known, depth) for f in plain}))
        for name, value in values.items():
            _assign(message, descriptor.fields_by_name[name], value)
        for member in draw(st.tuples(*chosen)) if chosen else ():
            if member is not None:
                _assign(message, *member)
        return message

    return build()


@dataclass
class World:
    daemon: Daemon
    channel: grpc.Channel
    tokens: dict[str, str]
    known: tuple[str, ...]  # ids and names that exist, so that the fuzzer reaches past "not found"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    daemon = Daemon(tmp_path_factory.mktemp("fuzz") / "data", env={
        "VECTRA_UPSTREAM_CONNECT_TIMEOUT": "1", "VECTRA_UPSTREAM_READ_TIMEOUT": "2",
        "VECTRA_HITL_MAX_WAIT_SECONDS": "1", "VECTRA_RATE_LIMIT_REQUESTS": "100000",
    }).start()
    with daemon.admin() as admin:
        agent = Agent(daemon, admin)  # under an Allow-by-default policy: Forward reaches the (closed) upstream
        victim = daemon.register_agent("fuzz-victim")
        parked = agent.call("POST", f"http://127.0.0.1:{_CLOSED_PORT}/review", content=b"{}")
        assert parked.status_code == 202, parked.text
        # decided, so that Watch answers at once and Approve meets a request that exists
        assert admin.post(f"/hitl/{parked.json()['id']}/deny", json={}).status_code == 200
        # a session of the agent's, with a call in it: the session, replay and compliance RPCs reach past "not found"
        session = admin.post("/sessions", json={"agentId": agent.id})
        assert session.status_code == 201, session.text
        called = agent.call("GET", f"http://127.0.0.1:{_CLOSED_PORT}/in-session",
                            headers={"Vectra-Session": session.json()["id"]})
        assert called.status_code == 502, called.text
        # not the fuzzing agent's own id: the admin's fuzzed calls would delete or revoke it
        known = (victim["id"], "fuzz-victim", agent.record["name"].removeprefix("agent-"), parked.json()["id"],
                 session.json()["id"])
    agent.client.close()
    with daemon.channel() as channel:
        yield World(daemon, channel, {"admin": daemon.admin_token or "", "agent": agent.token}, known)
    assert daemon.stop() == 0, daemon.log()


_FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                        HealthCheck.data_too_large])


@pytest.mark.parametrize("who", ["admin", "agent"])
@pytest.mark.parametrize("name", sorted(METHODS))
def test_fuzzed_messages_never_fail_inside_the_daemon(world: World, name: str, who: str) -> None:
    method = METHODS[name]

    @_FUZZ
    @given(messages(method.input_type, world.known))
    def run(request: Message) -> None:
        code = call_rpc(world.channel, method, request, bearer(world.tokens[who]), _TIMEOUT)
        assert code not in _DEFECTS, f"{name} as {who}: {code} for {request}"

    run()


@pytest.mark.parametrize("name", sorted(METHODS))
def test_random_bytes_as_the_request_never_fail_inside_the_daemon(world: World, name: str) -> None:
    method = METHODS[name]

    @_FUZZ
    @given(st.binary(max_size=200))
    def run(raw: bytes) -> None:
        code = call_rpc(world.channel, method, raw, bearer(world.tokens["admin"]), _TIMEOUT)
        assert code not in _DEFECTS, f"{name}: {code} for {raw!r}"

    run()


def test_the_daemon_is_healthy_after_the_fuzzing(world: World) -> None:
    answer = health_pb2_grpc.HealthStub(world.channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    assert world.daemon.process is not None and world.daemon.process.poll() is None
    log = world.daemon.log()
    assert "Traceback" not in log and '"level": "error"' not in log
