"""Abuse of the proxy through the real daemon, raw sockets where a well-behaved client can't send the bytes: SSRF
targets in every spelling, request smuggling shapes, CR/LF in headers, oversized heads and bodies, and path
tricks against a policy. Each is refused cleanly (a 4xx, never a 5xx), the upstream sees nothing, and every refusal
that passed authentication is in the audit log.

Two upstreams: ``allowed`` on 127.0.0.2, the one address the daemon's allow-list lets through, and ``forbidden``
on 127.0.0.1, which the SSRF guard must keep every spelling of loopback away from."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest

from tests.e2e.daemon import Daemon, bearer, wait_until
from tests.e2e.proxy_agents import Agent, audit_of
from tests.integration.upstream import UpstreamServer
from vectra.grpc.generated.vectra.v1 import proxy_pb2, proxy_pb2_grpc

pytestmark = pytest.mark.e2e

BODY_LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    running = Daemon(tmp_path_factory.mktemp("vectra") / "data", env={
        "VECTRA_UPSTREAM_ALLOW_CIDRS": "127.0.0.2/32", "VECTRA_MAX_PROXY_BODY_BYTES": str(BODY_LIMIT),
        "VECTRA_UPSTREAM_CONNECT_TIMEOUT": "2",
    }).start()
    yield running
    assert running.stop() == 0, running.log()


@pytest.fixture(scope="module")
def allowed() -> Iterator[UpstreamServer]:
    server = UpstreamServer(host="127.0.0.2").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def forbidden() -> Iterator[UpstreamServer]:
    server = UpstreamServer(host="127.0.0.1").start()
    yield server
    server.stop()


@pytest.fixture
def agent(daemon: Daemon, admin: httpx.Client) -> Iterator[Agent]:
    """Allowed by default; anything under /admin denied (case-sensitive, as a policy author writes it)."""
    made = Agent(daemon, admin, {"name": "x", "default": "Allow", "rateLimit": {"requests": 1000, "perSeconds": 60},
                                 "rules": [{"name": "no-admin", "effect": "Deny", "reason": "admin is off limits",
                                            "conditions": [{"field": "input.path", "operator": "startsWith",
                                                            "value": "/admin"}]}]})
    yield made
    made.client.close()


def raw_exchange(port: int, request: bytes, timeout: float = 10) -> tuple[int, bytes]:
    """Send ``request`` as it is on a new connection (which asks for its close, or is refused); the answer's status and
    everything up to the close."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    status_line = received.split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), received


def proxied(agent: Agent, target: str, extra: bytes = b"", body: bytes = b"", method: bytes = b"GET") -> bytes:
    """A request for ``/proxy/<target>`` with the agent's token and ``extra`` header lines, as raw bytes."""
    return (method + b" /proxy/" + target.encode() + b" HTTP/1.1\r\nHost: vectra\r\nConnection: close\r\n"
            b"Authorization: Bearer " + agent.token.encode() + b"\r\n" + extra + b"\r\n" + body)


def hidden_request(agent: Agent, upstream: UpstreamServer) -> tuple[bytes, str]:
    """A whole request of the agent for ``upstream``, to hide in a body, and the path it asks for."""
    path = f"/smuggled-{uuid.uuid4().hex}"
    return proxied(agent, f"http://127.0.0.2:{upstream.port}{path}"), path


def seen_paths(upstream: UpstreamServer) -> list[str]:
    return [request["raw_path"] for request in upstream.requests]


def http_refusals(daemon: Daemon, path: str) -> list[tuple[str, int]]:
    """The HTTP server's refusals on the record (``http.refused``) of requests whose path ends with ``path``: their
    causes and statuses. They come a moment after the answer: wait for one."""
    def found() -> list[tuple[str, int]]:
        with daemon.admin() as admin:
            items = admin.get("/audit", params={"action": "http.refused", "pageSize": 100}).json()["items"]
        return [(r["reason"], r["details"]["status"]) for r in items if (r["url"] or "").endswith(path)]

    return wait_until(found, timeout=10)


# -- SSRF -------------------------------------------------------------------------------------------------------

LOOPBACK_SPELLINGS = [
    "127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0x7f.1", "0177.0.0.1", "0177.1", "017700000001",
    "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::ffff:0:7f00:1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]",
    "[2002:7f00:1::]", "localhost", "0.0.0.0", "0", "[::]", "[::1]",
]
ELSEWHERE = [
    "10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1", "169.254.1.1", "169.254.169.254", "100.100.100.200",
    "[fd00:ec2::254]", "[fe80::1]", "[fc00::1]", "224.0.0.1", "255.255.255.255", "198.18.0.1", "192.0.2.1",
    "[::ffff:169.254.169.254]", "[::ffff:a00:1]", "2852039166",  # 169.254.169.254 as one number
]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_loopback_in_any_spelling_is_refused_403_audited_and_never_reached(
    agent: Agent, forbidden: UpstreamServer, admin: httpx.Client, host: str
) -> None:
    before = len(forbidden.requests)
    answer = agent.call("GET", f"http://{host}:{forbidden.port}/secret")

    assert answer.status_code == 403, answer.text
    assert answer.json()["reason"] == "upstream address not allowed"
    assert len(forbidden.requests) == before
    [record] = audit_of(admin, agent.id, action="proxy.request")
    assert record["decision"] == "NotAllowed" and record["url"] == f"http://{host}:{forbidden.port}/secret"


@pytest.mark.parametrize("host", ELSEWHERE)
def test_private_link_local_and_metadata_addresses_are_refused_403_and_audited(
    agent: Agent, admin: httpx.Client, host: str
) -> None:
    answer = agent.call("GET", f"http://{host}/latest/meta-data/")

    assert answer.status_code == 403 and answer.json()["reason"] == "upstream address not allowed"
    [record] = audit_of(admin, agent.id, action="proxy.request")
    assert record["decision"] == "NotAllowed"


def test_grpc_forward_refuses_the_same_spellings(daemon: Daemon, agent: Agent, forbidden: UpstreamServer) -> None:
    with daemon.channel() as channel:
        stub = proxy_pb2_grpc.ProxyServiceStub(channel)
        for host in ("2130706433", "0177.0.0.1", "[::ffff:127.0.0.1]", "localhost", "169.254.169.254"):
            with pytest.raises(grpc.RpcError) as refused:
                stub.Forward(proxy_pb2.ForwardRequest(method="GET", url=f"http://{host}:{forbidden.port}/x"),
                             metadata=bearer(agent.token), timeout=30)
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, host
    assert "/x" not in seen_paths(forbidden)


# -- request smuggling and header injection ----------------------------------------------------------------------

# where a shape's body hides a second request: each test puts there a whole authenticated request for the allowed
# upstream (``hidden_request``), which must never reach it
SMUGGLED = b"<smuggled request>"
REFUSED_SHAPES: dict[str, tuple[bytes, bytes]] = {
    "content-length and transfer-encoding": (b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
                                             b"0\r\n\r\n" + SMUGGLED),
    "two different content-lengths": (b"Content-Length: 4\r\nContent-Length: 60\r\n", b"abcd" + SMUGGLED),
    "two equal content-lengths": (b"Content-Length: 4\r\nContent-Length: 4\r\n", b"abcd"),
    "a content-length list": (b"Content-Length: 4, 4\r\n", b"abcd"),
    "a signed content-length": (b"Content-Length: +4\r\n", b"abcd"),
    "a negative content-length": (b"Content-Length: -1\r\n", b"abcd"),
    "transfer-encoding xchunked": (b"Transfer-Encoding: xchunked\r\n", SMUGGLED),
    "chunked not last": (b"Transfer-Encoding: chunked, identity\r\n", SMUGGLED),
    "space before the colon": (b"Transfer-Encoding : chunked\r\n", b"4\r\nabcd\r\n0\r\n\r\n"),
    "a garbage chunk size": (b"Transfer-Encoding: chunked\r\n", b"zz\r\nabcd\r\n0\r\n\r\n"),
    "an overflowing chunk size": (b"Transfer-Encoding: chunked\r\n", b"fffffffffffffffff\r\nabcd\r\n0\r\n\r\n"),
    "CR inside a header value": (b"X-Note: a\rX-Injected: 1\r\n", b""),
    "a bare LF ending a header": (b"X-Note: a\nX-Injected: 1\r\n", b""),
    "NUL inside a header value": (b"X-Note: a\x00b\r\n", b""),
    "an obsolete folded line": (b"X-Note: a\r\n X-Injected: 1\r\n", b""),
    "a header name with a space": (b"X Injected: 1\r\n", b""),
}

BAD_BODIES = {"a garbage chunk size", "an overflowing chunk size"}
UNKNOWN_LENGTHS = {"transfer-encoding xchunked", "chunked not last"}  # Vectra's check refuses them (docs/limits.md)


@pytest.mark.parametrize("shape", list(REFUSED_SHAPES))
def test_ambiguous_framing_and_header_injection_are_400_and_nothing_reaches_the_upstream(
    daemon: Daemon, agent: Agent, allowed: UpstreamServer, shape: str
) -> None:
    """A bad head is refused before the request exists (nothing to authenticate): it is on the record as the HTTP
    server's refusal (``http.refused``); a bad chunk comes once the head was handed on: the call was authenticated
    and its body is cut short, so it is audited as ``Invalid`` and never completed upstream."""
    extra, body = REFUSED_SHAPES[shape]
    hidden, hidden_path = hidden_request(agent, allowed)
    path = f"/{uuid.uuid4().hex}"
    status, answer = raw_exchange(daemon.rest_port, proxied(agent, f"http://127.0.0.2:{allowed.port}{path}", extra,
                                                            body.replace(SMUGGLED, hidden), method=b"POST"))

    assert status == 400, answer
    assert answer.count(b"HTTP/1.1 ") == 1, answer  # one answer: nothing hidden in the body was answered too
    with daemon.admin() as admin:
        def decisions() -> list[str]:
            return [record["decision"] for record in audit_of(admin, agent.id, action="proxy.request")]

        if shape in BAD_BODIES:  # the 400 is the parser's, at once; the call's record comes once it has ended
            wait_until(lambda: decisions() == ["Invalid"], timeout=10)
            # its head went up as the body streamed; the body never ended
            assert not any(seen["whole"] for seen in allowed.requests if seen["raw_path"] == path)
        else:
            # a Transfer-Encoding not ending with chunked: Vectra's check, or httptools' when it trips over it first
            causes = {"transfer_encoding", "malformed_request"} if shape in UNKNOWN_LENGTHS else {"malformed_request"}
            [(cause, refused_with)] = http_refusals(daemon, path)
            assert cause in causes and refused_with == 400
            assert decisions() == []  # once the refusal is on the record: no call record came with it
            assert path not in seen_paths(allowed)
    assert hidden_path not in seen_paths(allowed)
    with daemon.admin() as admin:
        assert not any(hidden_path in (record["url"] or "") for record in audit_of(admin, agent.id, "proxy.request"))


@pytest.mark.parametrize("extra", [b"Transfer-Encoding:  chunked\r\n", b"Transfer-Encoding:\tchunked\r\n",
                                   b"Transfer-Encoding: identity, chunked\r\n", b"transfer-encoding: CHUNKED\r\n"])
def test_unusual_but_valid_chunked_framing_is_reframed_for_the_upstream(
    daemon: Daemon, agent: Agent, allowed: UpstreamServer, extra: bytes
) -> None:
    """Whitespace and case the RFC allows: the gateway reads the body by its own parse and frames it anew, so the
    upstream gets exactly one request with exactly that body, never a second one hidden in it."""
    hidden, hidden_path = hidden_request(agent, allowed)
    path = f"/{uuid.uuid4().hex}"
    status, answer = raw_exchange(daemon.rest_port, proxied(agent, f"http://127.0.0.2:{allowed.port}{path}", extra,
                                                            b"4\r\nabcd\r\n0\r\n\r\n" + hidden, method=b"POST"))

    assert status == 200
    assert answer.count(b"HTTP/1.1 ") == 1, answer  # the request asked for its connection's close
    [seen] = [request for request in allowed.requests if request["raw_path"] == path]
    assert seen["body_length"] == 4
    assert [v for n, v in seen["headers"] if n == "transfer-encoding"] == ["chunked"]
    assert hidden_path not in seen_paths(allowed)


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\x00b"])
def test_cr_lf_or_nul_in_a_grpc_envelope_header_is_invalid_argument_and_audited(
    daemon: Daemon, agent: Agent, allowed: UpstreamServer, admin: httpx.Client, value: str
) -> None:
    path = f"/{uuid.uuid4().hex}"
    with daemon.channel() as channel, pytest.raises(grpc.RpcError) as refused:
        proxy_pb2_grpc.ProxyServiceStub(channel).Forward(
            proxy_pb2.ForwardRequest(method="GET", url=f"http://127.0.0.2:{allowed.port}{path}",
                                     headers=[proxy_pb2.Header(name="X-Note", value=value)]),
            metadata=bearer(agent.token), timeout=30)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert path not in seen_paths(allowed)
    [record] = audit_of(admin, agent.id, action="proxy.request")
    assert record["decision"] == "Invalid"


# -- oversized ------------------------------------------------------------------------------------------------------

def test_an_oversized_head_is_431_and_nothing_reaches_the_upstream(
    daemon: Daemon, agent: Agent, allowed: UpstreamServer
) -> None:
    """Also with a request pipelined behind it in the same packet: nothing after a refused head is read."""
    hidden, hidden_path = hidden_request(agent, allowed)
    path = f"/{uuid.uuid4().hex}"
    status, answer = raw_exchange(daemon.rest_port, proxied(agent, f"http://127.0.0.2:{allowed.port}{path}",
                                                            b"X-Big: " + b"a" * 100_000 + b"\r\n") + hidden)
    assert status == 431 and path not in seen_paths(allowed)
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    assert http_refusals(daemon, path) == [("head_too_large", 431)]
    assert hidden_path not in seen_paths(allowed)
    with daemon.admin() as admin:
        assert not any(hidden_path in (record["url"] or "") for record in audit_of(admin, agent.id, "proxy.request"))


def test_a_body_over_the_limit_is_413_declared_or_streamed_and_the_streamed_one_is_audited(
    daemon: Daemon, agent: Agent, allowed: UpstreamServer, admin: httpx.Client
) -> None:
    path = f"/{uuid.uuid4().hex}"
    url = f"http://127.0.0.2:{allowed.port}{path}"
    declared = agent.call("POST", url, content=b"x" * (BODY_LIMIT + 1))
    streamed = agent.call("POST", url, content=iter([b"x" * BODY_LIMIT, b"x"]))

    assert declared.status_code == 413 and streamed.status_code == 413
    assert not any(seen["whole"] for seen in allowed.requests if seen["raw_path"] == path)  # cut off if begun
    records = audit_of(admin, agent.id, action="proxy.request")
    assert [record["decision"] for record in records] == ["Invalid"]  # the declared one never passed auth...
    assert http_refusals(daemon, path) == [("body_too_large", 413)]  # ...and is the HTTP server's refusal


# -- paths --------------------------------------------------------------------------------------------------------

DENIED_TRICKS = ["/admin", "/public/../admin", "/%2e%2e/admin", "/public/%2E%2e/admin", "/public/.%2e/admin",
                 "//admin", "/./admin", "/%61dmin", "/%61%64%6d%69%6e/x", "/public/../../admin"]
AMBIGUOUS_TRICKS = ["/admin%00", "/public%2f..%2fadmin", "/public%2F..%2Fadmin", "/public/..;/admin",
                    "/public\\..\\admin", "/public/..%5cadmin", "/admin%zz"]


@pytest.mark.parametrize("path", DENIED_TRICKS)
def test_a_path_that_names_admin_in_any_spelling_is_denied_by_the_policy_and_audited(
    daemon: Daemon, agent: Agent, allowed: UpstreamServer, admin: httpx.Client, path: str
) -> None:
    status, _ = raw_exchange(daemon.rest_port, proxied(agent, f"http://127.0.0.2:{allowed.port}{path}"))

    assert status == 403
    assert not any("admin" in seen.lower() or "%" in seen for seen in seen_paths(allowed))
    [record] = audit_of(admin, agent.id, action="proxy.request")
    assert (record["decision"], record["rule"]) == ("Deny", "no-admin")
    assert record["url"].removeprefix(f"http://127.0.0.2:{allowed.port}").startswith("/admin")


@pytest.mark.parametrize("path", AMBIGUOUS_TRICKS)
def test_a_path_servers_would_read_differently_is_400_before_anything_is_sent(
    daemon: Daemon, agent: Agent, allowed: UpstreamServer, path: str
) -> None:
    before = len(allowed.requests)
    status, answer = raw_exchange(daemon.rest_port, proxied(agent, f"http://127.0.0.2:{allowed.port}{path}"))

    assert status == 400 and b"application/problem+json" in answer
    assert len(allowed.requests) == before
    assert http_refusals(daemon, path.split("?")[0]) == [("bad_target", 400)]


def test_the_upstream_gets_exactly_the_path_the_policy_judged(
    daemon: Daemon, agent: Agent, allowed: UpstreamServer, admin: httpx.Client
) -> None:
    token = uuid.uuid4().hex
    status, _ = raw_exchange(daemon.rest_port, proxied(
        agent, f"http://127.0.0.2:{allowed.port}/public/./{token}//a/../%62/%7e%2fx?q=../%2e"))

    assert status == 200
    [seen] = [request for request in allowed.requests if token in request["raw_path"]]
    assert (seen["raw_path"], seen["query_string"]) == (f"/public/{token}/b/~%2Fx", "q=../%2e")
    [record] = audit_of(admin, agent.id, action="proxy.request")
    assert record["url"] == f"http://127.0.0.2:{allowed.port}/public/{token}/b/~%2Fx?q=../%2e"


def test_letter_case_is_the_policys_matter(daemon: Daemon, admin: httpx.Client, allowed: UpstreamServer) -> None:
    """``/ADMIN`` is not ``/admin`` to the gateway; a policy that means both says so (``ignoreCase``)."""
    strict = Agent(daemon, admin, {"name": "x", "default": "Allow", "rules": [
        {"name": "no-admin", "effect": "Deny",
         "conditions": [{"field": "input.path", "operator": "regex", "value": "^/admin(/|$)",
                         "ignoreCase": True}]}]})
    answers: dict[str, Any] = {path: raw_exchange(daemon.rest_port, proxied(strict, f"http://127.0.0.2:{allowed.port}"
                                                                           f"{path}"))[0]
                               for path in ("/ADMIN", "/Admin/x", "/admins")}
    assert answers == {"/ADMIN": 403, "/Admin/x": 403, "/admins": 200}
