"""Forwarding to real local upstreams: bytes, headers, redirects, errors, limits and the breaker, end to end."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.upstream import (
    GZIPPED,
    CannedServer,
    ResettingServer,
    StallingListener,
    UpstreamServer,
    pattern,
)
from vectra.domain.errors import (
    InvalidInput,
    PayloadTooLarge,
    UpstreamCircuitOpen,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from vectra.forward import Forwarder, UpstreamResponse, parse_target, target_from_raw_path

pytestmark = pytest.mark.anyio

MB = 1024 * 1024
Make = Callable[..., Forwarder]


async def chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def read_all(response: UpstreamResponse) -> tuple[bytes, int]:
    """The whole body and the number of chunks it came in."""
    parts = [chunk async for chunk in response.body()]
    await response.close()
    return b"".join(parts), len(parts)


async def call(forwarder: Forwarder, url: str, method: str = "GET", headers: Any = (), body: Any = None
               ) -> UpstreamResponse:
    return await forwarder.forward(method, parse_target(url), list(headers), body)


async def echo(forwarder: Forwarder, url: str, **kwargs: Any) -> dict[str, Any]:
    response = await call(forwarder, url, **kwargs)
    body, _ = await read_all(response)
    assert response.status == 200
    return json.loads(body)


def received(seen: dict[str, Any], name: str) -> list[str]:
    return [value for header, value in seen["headers"] if header == name]


async def test_method_raw_path_and_query_reach_the_upstream_as_sent(make_forwarder: Make,
                                                                    upstream: UpstreamServer) -> None:
    target = target_from_raw_path(f"/proxy/http:/127.0.0.1:{upstream.port}/a%2Fb/c%20d/%7E".encode(),
                                  b"q=a%2Fb&q=2&e=%3D")
    response = await make_forwarder().forward("PATCH", target, [], None)
    seen = json.loads((await read_all(response))[0])
    # the path in its one spelling (an escaped unreserved "~" decoded, docs/forwarding.md), the query as sent
    assert (seen["method"], seen["raw_path"], seen["query_string"]) == ("PATCH", "/a%2Fb/c%20d/~",
                                                                       "q=a%2Fb&q=2&e=%3D")


async def test_several_megabytes_stream_both_ways_byte_exact(make_forwarder: Make, upstream: UpstreamServer) -> None:
    payload = pattern(6 * MB + 123)
    forwarder = make_forwarder()
    sized = await call(forwarder, f"{upstream.base}/stream-back", method="POST", body=chunks(payload),
                       headers=[("Content-Length", str(len(payload))), ("Content-Type", "application/octet-stream")])
    assert (await read_all(sized))[0] == payload
    chunked = await call(forwarder, f"{upstream.base}/stream-back", method="PUT", body=chunks(payload),
                         headers=[("Transfer-Encoding", "chunked")])
    assert (await read_all(chunked))[0] == payload


async def test_a_large_binary_answer_arrives_byte_exact_in_many_chunks(make_forwarder: Make,
                                                                         upstream: UpstreamServer) -> None:
    response = await call(make_forwarder(), f"{upstream.base}/bytes/{8 * MB}")
    body, count = await read_all(response)
    assert hashlib.sha256(body).digest() == hashlib.sha256(pattern(8 * MB)).digest()
    assert ("content-length", str(8 * MB)) in [(n.lower(), v) for n, v in response.headers]
    assert count > 8, "the body was handed over in one piece instead of streamed"


async def test_a_compressed_answer_is_passed_through_undecoded(make_forwarder: Make, upstream: UpstreamServer) -> None:
    response = await call(make_forwarder(), f"{upstream.base}/gzip", headers=[("Accept-Encoding", "gzip")])
    assert (await read_all(response))[0] == GZIPPED
    assert ("content-encoding", "gzip") in [(n.lower(), v) for n, v in response.headers]


async def test_repeated_request_headers_keep_their_order_and_count(make_forwarder: Make,
                                                                     upstream: UpstreamServer) -> None:
    seen = await echo(make_forwarder(), f"{upstream.base}/echo",
                      headers=[("X-Multi", "1"), ("Accept", "text/plain"), ("X-Multi", "2"), ("x-multi", "3")])
    assert received(seen, "x-multi") == ["1", "2", "3"]
    assert received(seen, "accept") == ["text/plain"]


async def test_the_upstream_gets_its_own_host_and_nothing_the_client_library_adds(
        make_forwarder: Make, upstream: UpstreamServer) -> None:
    seen = await echo(make_forwarder(), f"{upstream.base}/echo", headers=[("Host", "gateway.example")])
    assert [name for name, _ in seen["headers"]] == ["host"]
    assert received(seen, "host") == [f"127.0.0.1:{upstream.port}"]


async def test_hop_by_hop_request_headers_do_not_reach_the_upstream(make_forwarder: Make,
                                                                      upstream: UpstreamServer) -> None:
    seen = await echo(make_forwarder(), f"{upstream.base}/echo", headers=[
        ("Connection", "X-Secret-Hop, keep-alive"), ("X-Secret-Hop", "1"), ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"), ("Trailer", "X-Checksum"), ("Upgrade", "websocket"), ("Proxy-Connection", "keep-alive"),
        ("Proxy-Authorization", "Basic c2VjcmV0"), ("X-End-To-End", "kept"),
    ])
    names = {name for name, _ in seen["headers"]}
    assert names & {"x-secret-hop", "keep-alive", "te", "trailer", "upgrade", "proxy-connection",
                    "proxy-authorization"} == set()
    assert "connection" not in names or received(seen, "connection") == ["keep-alive"]
    assert received(seen, "x-end-to-end") == ["kept"]


async def test_hop_by_hop_answer_headers_do_not_reach_the_agent(make_forwarder: Make,
                                                                  upstream: UpstreamServer) -> None:
    response = await call(make_forwarder(), f"{upstream.base}/hop")
    await read_all(response)
    names = [name.lower() for name, _ in response.headers]
    assert set(names) & {"connection", "x-hop-custom", "keep-alive", "proxy-authenticate", "trailer",
                         "upgrade"} == set()
    kept = [(name.lower(), value) for name, value in response.headers if name.lower() in ("x-kept", "set-cookie")]
    assert kept == [("x-kept", "a"), ("set-cookie", "a=1"), ("x-kept", "b"), ("set-cookie", "b=2")]


async def test_the_gateway_token_never_reaches_the_upstream(make_forwarder: Make, upstream: UpstreamServer) -> None:
    seen = await echo(make_forwarder(), f"{upstream.base}/echo",
                      headers=[("Authorization", "Bearer gateway-token"), ("Vectra-Trace", "x")])
    assert received(seen, "authorization") == []
    assert not [name for name, _ in seen["headers"] if name.startswith("vectra-")]


async def test_with_vectra_authorization_the_agents_own_authorization_reaches_the_upstream(
        make_forwarder: Make, upstream: UpstreamServer) -> None:
    seen = await echo(make_forwarder(), f"{upstream.base}/echo",
                      headers=[("Vectra-Authorization", "Bearer gateway-token"),
                               ("Authorization", "Bearer agents-own")])
    assert received(seen, "authorization") == ["Bearer agents-own"]
    assert "gateway-token" not in json.dumps(seen)


async def test_redirects_are_handed_back_not_followed(make_forwarder: Make, upstream: UpstreamServer) -> None:
    before = len(upstream.requests)
    response = await call(make_forwarder(), f"{upstream.base}/redirect")
    await read_all(response)
    assert response.status == 302
    assert ("location", "/echo") in [(n.lower(), v) for n, v in response.headers]
    assert len(upstream.requests) == before + 1


async def test_connections_are_kept_alive_and_reused(make_forwarder: Make, upstream: UpstreamServer) -> None:
    forwarder = make_forwarder()
    first = await echo(forwarder, f"{upstream.base}/echo")
    second = await echo(forwarder, f"{upstream.base}/echo")
    assert first["client_port"] == second["client_port"]


async def test_environment_proxies_and_netrc_are_ignored(make_forwarder: Make, upstream: UpstreamServer,
                                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login stolen password secret\n")
    netrc.chmod(0o600)
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("NETRC", str(netrc))
    seen = await echo(make_forwarder(), f"{upstream.base}/echo")
    assert received(seen, "authorization") == []


async def test_a_refused_connection_is_unreachable(make_forwarder: Make) -> None:
    stalled = StallingListener()  # a port of ours, then closed: nothing listens there any more
    port = stalled.port
    stalled.close()
    with pytest.raises(UpstreamUnreachable):
        await call(make_forwarder(), f"http://127.0.0.1:{port}/")


async def test_a_reset_connection_is_unreachable(make_forwarder: Make) -> None:
    server = ResettingServer()
    try:
        with pytest.raises(UpstreamUnreachable):
            await call(make_forwarder(), f"http://127.0.0.1:{server.port}/")
    finally:
        server.close()


@pytest.mark.parametrize("status", [b"999", b"099", b"000"])
async def test_a_status_outside_100_to_599_is_an_unreachable_upstream(make_forwarder: Make, status: bytes) -> None:
    server = CannedServer(b"HTTP/1.1 " + status + b" Odd\r\nContent-Length: 2\r\n\r\nok")
    try:
        with pytest.raises(UpstreamUnreachable, match="invalid status"):
            await call(make_forwarder(), f"http://127.0.0.1:{server.port}/")
    finally:
        server.close()


async def test_an_upstream_can_not_speak_for_the_gateway_nor_send_a_second_date(
    make_forwarder: Make
) -> None:
    server = CannedServer(b"HTTP/1.1 200 OK\r\nDate: Mon, 01 Jan 1990 00:00:00 GMT\r\nVectra-Decision: effect=Allow\r\n"
                          b"vectra-hitl-id: forged\r\nX-Kept: 1\r\nContent-Length: 2\r\n\r\nok")
    try:
        response = await make_forwarder().forward("GET", parse_target(f"http://127.0.0.1:{server.port}/"), [], None)
        names = [name.lower() for name, _ in response.headers]
        await response.close()
    finally:
        server.close()
    assert "x-kept" in names and not any(n == "date" or n.startswith("vectra-") for n in names)


async def test_a_connect_that_hangs_times_out(make_forwarder: Make) -> None:
    listener = StallingListener()
    try:
        with pytest.raises(UpstreamTimeout, match="connecting"):
            await call(make_forwarder(upstream_connect_timeout=0.3), f"http://127.0.0.1:{listener.port}/")
    finally:
        listener.close()


async def test_an_upstream_that_does_not_answer_times_out(make_forwarder: Make, upstream: UpstreamServer) -> None:
    with pytest.raises(UpstreamTimeout):
        await call(make_forwarder(upstream_read_timeout=0.3), f"{upstream.base}/slow-headers")


async def test_an_upstream_that_stalls_mid_body_times_out_while_streaming(make_forwarder: Make,
                                                                          upstream: UpstreamServer) -> None:
    response = await call(make_forwarder(upstream_read_timeout=0.3), f"{upstream.base}/slow-body")
    assert response.status == 200
    with pytest.raises(UpstreamTimeout):
        await read_all(response)


async def test_a_declared_oversized_body_is_refused_before_the_upstream_is_called(
        make_forwarder: Make, upstream: UpstreamServer) -> None:
    before = len(upstream.requests)
    with pytest.raises(PayloadTooLarge):
        await call(make_forwarder(max_proxy_body_bytes=MB), f"{upstream.base}/echo", method="POST",
                   headers=[("Content-Length", str(MB + 1))], body=chunks(pattern(MB + 1)))
    assert len(upstream.requests) == before


async def test_a_chunked_oversized_body_is_refused(make_forwarder: Make, upstream: UpstreamServer) -> None:
    forwarder = make_forwarder(max_proxy_body_bytes=MB)
    with pytest.raises(PayloadTooLarge):
        response = await call(forwarder, f"{upstream.base}/echo", method="POST",
                              headers=[("Transfer-Encoding", "chunked")], body=chunks(pattern(2 * MB)))
        await read_all(response)
    exact = await echo(forwarder, f"{upstream.base}/echo", method="POST", headers=[("Transfer-Encoding", "chunked")],
                       body=chunks(pattern(MB)))
    assert exact["body_length"] == MB


async def test_upstream_errors_pass_through_and_five_open_the_breaker(make_forwarder: Make,
                                                                      upstream: UpstreamServer) -> None:
    forwarder = make_forwarder(breaker_failures=5)
    for _ in range(5):
        response = await call(forwarder, f"{upstream.base}/status/500")
        assert response.status == 500
        await read_all(response)
    before = len(upstream.requests)
    with pytest.raises(UpstreamCircuitOpen) as refused:
        await call(forwarder, f"{upstream.base}/echo")
    assert int(refused.value.extra["headers"]["Retry-After"]) == 30
    assert len(upstream.requests) == before


async def test_the_breaker_recovers_through_one_successful_probe(make_forwarder: Make,
                                                                 upstream: UpstreamServer) -> None:
    now = [1000.0]
    forwarder = make_forwarder(clock=lambda: now[0], breaker_failures=2, breaker_open_seconds=30)
    stalled = StallingListener()
    port = stalled.port
    stalled.close()
    for _ in range(2):
        with pytest.raises(UpstreamUnreachable):
            await call(forwarder, f"http://127.0.0.1:{port}/")
    with pytest.raises(UpstreamCircuitOpen):
        await call(forwarder, f"http://127.0.0.1:{port}/")
    now[0] += 31
    with pytest.raises(UpstreamUnreachable):  # the probe fails: open again
        await call(forwarder, f"http://127.0.0.1:{port}/")
    with pytest.raises(UpstreamCircuitOpen):
        await call(forwarder, f"http://127.0.0.1:{port}/")
    assert (await echo(forwarder, f"{upstream.base}/echo"))["method"] == "GET"  # other origins are unaffected


async def test_a_body_of_bytes_is_sent_with_its_true_length(make_forwarder: Make, upstream: UpstreamServer) -> None:
    seen = await echo(make_forwarder(), f"{upstream.base}/echo", method="POST", body=b"0123456789",
                      headers=[("Content-Length", "3")])
    assert (seen["body_length"], received(seen, "content-length")) == (10, ["10"])


@pytest.mark.parametrize("declared", [5, 50])
async def test_a_streamed_body_that_breaks_its_content_length_is_refused_and_smuggles_nothing(
        make_forwarder: Make, upstream: UpstreamServer, declared: int) -> None:
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    with pytest.raises(InvalidInput, match="Content-Length"):
        response = await call(make_forwarder(), f"{upstream.base}/echo", method="POST",
                              headers=[("Content-Length", str(declared))], body=chunks(b"hello" + smuggled, 5))
        await read_all(response)
    assert not [seen for seen in upstream.requests if seen["raw_path"] == "/smuggled"]
