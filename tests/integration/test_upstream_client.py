"""The upstream client on the wire: exact request bytes, answer framing, the keep-alive pool, flow control, TLS."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.integration.resolvers import MappedResolver
from tests.integration.upstream import CannedServer, OneAnswerServer, UpstreamServer
from vectra.domain.errors import InvalidInput, PayloadTooLarge, UpstreamTimeout, UpstreamUnreachable
from vectra.forward import AddressGuard, Forwarder, UpstreamClient, UpstreamResponse, parse_target
from vectra.forward.http1 import HIGH_WATER

pytestmark = pytest.mark.anyio

MB = 1024 * 1024
Make = Callable[..., Forwarder]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


async def read_all(response: UpstreamResponse) -> bytes:
    body = b"".join([chunk async for chunk in response.body()])
    await response.close()
    return body


async def call(forwarder: Forwarder, url: str, method: str = "GET", headers: Any = (), body: Any = None
               ) -> UpstreamResponse:
    return await forwarder.forward(method, parse_target(url), list(headers), body)


async def port_of(forwarder: Forwarder, upstream: UpstreamServer) -> int:
    """The client port of the connection an echo went over."""
    return json.loads(await read_all(await call(forwarder, f"{upstream.base}/echo")))["client_port"]


@pytest.fixture
def canned() -> Iterator[Callable[[bytes], CannedServer]]:
    servers: list[CannedServer] = []

    def serve(answer: bytes) -> CannedServer:
        servers.append(CannedServer(answer))
        return servers[-1]

    yield serve
    for server in servers:
        server.close()


# -- the request on the wire ------------------------------------------------------------------------------------

async def test_the_request_goes_out_byte_for_byte_with_only_its_framing_set_by_the_client(
        make_forwarder: Make, canned: Callable[[bytes], CannedServer]) -> None:
    server = canned(b"HTTP/1.1 204 No Content\r\n\r\n")
    await read_all(await call(make_forwarder(), f"http://127.0.0.1:{server.port}/a%2Fb?q=%3D", method="POST",
                              headers=[("X-A", "1"), ("x-a", "2"), ("Expect", "100-continue"),
                                       ("Content-Length", "99")], body=b"hi"))
    assert server.requests == [f"POST /a%2Fb?q=%3D HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nX-A: 1\r\nx-a: 2\r\n"
                               "Content-Length: 2\r\n\r\nhi".encode()]


async def test_no_body_sends_no_content_length_and_an_empty_one_sends_zero(
        make_forwarder: Make, canned: Callable[[bytes], CannedServer]) -> None:
    none, empty = canned(OK), canned(OK)
    forwarder = make_forwarder()
    await read_all(await call(forwarder, f"http://127.0.0.1:{none.port}/"))
    await read_all(await call(forwarder, f"http://127.0.0.1:{empty.port}/", method="PUT", body=b""))
    assert none.requests == [f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{none.port}\r\n\r\n".encode()]
    assert empty.requests == [f"PUT / HTTP/1.1\r\nHost: 127.0.0.1:{empty.port}\r\nContent-Length: 0\r\n\r\n".encode()]


async def test_a_streamed_body_refused_after_the_answer_began_fails_the_answers_body(make_forwarder: Make,
                                                                                    upstream: UpstreamServer) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield bytes(64 * 1024)
        await asyncio.sleep(0.2)  # long enough for the answer to begin
        for _ in range(31):
            yield bytes(64 * 1024)

    response = await call(make_forwarder(max_proxy_body_bytes=MB), f"{upstream.base}/stream-back", method="POST",
                          headers=[("Transfer-Encoding", "chunked")], body=body())
    assert response.status == 200  # the upstream answers at once and echoes the body as it comes
    with pytest.raises(PayloadTooLarge):
        await read_all(response)


# -- the answer's framing ---------------------------------------------------------------------------------------

async def test_interim_answers_are_skipped_for_the_final_one(make_forwarder: Make,
                                                           canned: Callable[[bytes], CannedServer]) -> None:
    server = canned(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                    b"HTTP/1.1 201 Created\r\nX-Final: 1\r\nContent-Length: 2\r\n\r\nok")
    response = await call(make_forwarder(), f"http://127.0.0.1:{server.port}/")
    assert (response.status, await read_all(response)) == (201, b"ok")
    assert [name.lower() for name, _ in response.headers] == ["x-final", "content-length"]


async def test_a_head_answer_ends_with_its_headers_and_the_connection_stays_usable(
        make_forwarder: Make, upstream: UpstreamServer) -> None:
    forwarder = make_forwarder()
    response = await call(forwarder, f"{upstream.base}/bytes/1000", method="HEAD")
    assert (response.status, await read_all(response)) == (200, b"")
    assert ("content-length", "1000") in [(name.lower(), value) for name, value in response.headers]
    assert json.loads(await read_all(await call(forwarder, f"{upstream.base}/echo")))["method"] == "GET"


async def test_a_body_without_length_runs_to_the_end_of_the_connection(make_forwarder: Make,
                                                                       canned: Callable[[bytes], CannedServer]) -> None:
    server = canned(b"HTTP/1.1 200 OK\r\n\r\nup to the end")
    assert await read_all(await call(make_forwarder(), f"http://127.0.0.1:{server.port}/")) == b"up to the end"


@pytest.mark.parametrize("answer", [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
                                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nshort\r\n"])
async def test_a_body_cut_short_fails_while_streaming(make_forwarder: Make, canned: Callable[[bytes], CannedServer],
                                                      answer: bytes) -> None:
    response = await call(make_forwarder(), f"http://127.0.0.1:{canned(answer).port}/")
    with pytest.raises(UpstreamUnreachable, match="middle of its answer"):
        await read_all(response)


@pytest.mark.parametrize("answer", [b"SSH-2.0-OpenSSH_9.6\r\n\r\n", b"HTTP/1.1 200 OK\r\nX A: 1\r\n\r\n",
                                    b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n", b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n",
                                    b"HTTP/1.1 200 OK\r\nX-A: a\nX-Injected: 1\r\n\r\n"])
async def test_a_malformed_answer_or_header_is_an_unreachable_upstream(
        make_forwarder: Make, canned: Callable[[bytes], CannedServer], answer: bytes) -> None:
    server = canned(answer)
    with pytest.raises(UpstreamUnreachable, match="malformed"):
        await call(make_forwarder(), f"http://127.0.0.1:{server.port}/")


# -- the pool ---------------------------------------------------------------------------------------------------

async def test_the_connection_released_last_is_reused_first(make_forwarder: Make, upstream: UpstreamServer) -> None:
    forwarder = make_forwarder()
    first, second = await asyncio.gather(call(forwarder, f"{upstream.base}/echo"),
                                         call(forwarder, f"{upstream.base}/echo"))
    ports = [json.loads(await read_all(response))["client_port"] for response in (first, second)]
    assert ports[0] != ports[1]
    assert await port_of(forwarder, upstream) == ports[1]


async def test_closing_an_answer_before_its_end_drops_its_connection(make_forwarder: Make,
                                                                     upstream: UpstreamServer) -> None:
    forwarder = make_forwarder()
    before = await port_of(forwarder, upstream)
    response = await call(forwarder, f"{upstream.base}/bytes/{4 * MB}")
    await anext(response.body())
    await response.close()
    assert await port_of(forwarder, upstream) != before


async def test_a_kept_alive_connection_closed_by_the_upstream_is_retried_once_on_a_fresh_one(
        make_forwarder: Make) -> None:
    server = OneAnswerServer(OK)
    forwarder = make_forwarder()
    try:
        for _ in range(3):
            assert await read_all(await call(forwarder, f"http://127.0.0.1:{server.port}/", method="PUT",
                                             body=b"again")) == b"ok"
        assert server.connections == 3
    finally:
        await forwarder.close()
        server.close()


async def _streamed_once() -> AsyncIterator[bytes]:
    yield b"once"


@pytest.mark.parametrize(("headers", "body"), [
    pytest.param([], lambda: b"charge", id="bytes"),
    pytest.param([("Content-Length", "4")], _streamed_once, id="streamed"),
])
async def test_a_post_is_never_sent_twice_when_its_kept_alive_connection_was_closed(
        make_forwarder: Make, headers: list[tuple[str, str]], body: Any) -> None:
    """The upstream may have read and acted on it before closing: a POST is not idempotent (RFC 9110 §9.2.2),
    whether its body was given whole or streamed."""
    server = OneAnswerServer(OK)
    forwarder = make_forwarder()
    try:
        await read_all(await call(forwarder, f"http://127.0.0.1:{server.port}/"))
        with pytest.raises(UpstreamUnreachable):
            await call(forwarder, f"http://127.0.0.1:{server.port}/", method="POST", headers=headers, body=body())
        assert server.connections == 1
    finally:
        await forwarder.close()
        server.close()


async def test_a_full_pool_makes_a_caller_wait_for_a_connection_within_the_connect_timeout(
        upstream: UpstreamServer) -> None:
    client = UpstreamClient(AddressGuard(["127.0.0.0/8"]), connect_timeout=0.3, read_timeout=5,
                            max_body_bytes=MB, pool_size=1)
    target = parse_target(f"{upstream.base}/echo")
    headers = [("Host", target.authority)]
    try:
        held = await client.send("GET", target, headers, None)
        with pytest.raises(UpstreamTimeout, match="connecting"):
            await client.send("GET", target, headers, None)
        waiting = asyncio.ensure_future(client.send("GET", target, headers, None))
        await asyncio.sleep(0.05)
        await read_all(held)  # its connection goes back to the pool: the waiting caller gets it
        assert (await asyncio.wait_for(waiting, 1)).status == 200
        await (await waiting).close()
    finally:
        await client.close()


async def test_a_slow_reader_stops_the_client_reading_past_the_high_water_mark(make_forwarder: Make,
                                                                               upstream: UpstreamServer) -> None:
    response = await call(make_forwarder(), f"{upstream.base}/bytes/{8 * MB}")
    chunks = response.body()
    total = len(await anext(chunks))
    await asyncio.sleep(0.5)  # meanwhile the upstream could send all the rest
    held = len(await anext(chunks))
    total += held + sum([len(chunk) async for chunk in chunks])
    await response.close()
    assert total == 8 * MB
    assert held <= HIGH_WATER + 256 * 1024, "the client kept reading while its reader was behind"


# -- TLS --------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UpstreamServer, ssl.SSLContext]]:
    """An https upstream whose certificate names ``upstream.test`` and 127.0.0.1, and a context that trusts it."""
    folder = tmp_path_factory.mktemp("tls")
    certificate, key, authority = _certificate(folder)
    server = UpstreamServer(tls=(str(certificate), str(key))).start()
    trusting = ssl.create_default_context(cafile=str(authority))
    yield server, trusting
    server.stop()


async def test_https_verifies_the_certificate_against_the_urls_host_not_the_address(
        make_forwarder: Make, tls_upstream: tuple[UpstreamServer, ssl.SSLContext]) -> None:
    server, trusting = tls_upstream
    resolver = MappedResolver({"upstream.test": [["127.0.0.1"]], "other.test": [["127.0.0.1"]]})
    forwarder = make_forwarder(resolver=resolver)
    forwarder.client.tls_context = trusting
    response = await call(forwarder, f"https://upstream.test:{server.port}/echo")
    seen = json.loads(await read_all(response))
    assert (response.status, dict(seen["headers"])["host"]) == (200, f"upstream.test:{server.port}")
    with pytest.raises(UpstreamUnreachable, match="TLS"):
        await call(forwarder, f"https://other.test:{server.port}/echo")


async def test_https_refuses_a_certificate_the_system_does_not_trust(
        make_forwarder: Make, tls_upstream: tuple[UpstreamServer, ssl.SSLContext]) -> None:
    server, _ = tls_upstream
    with pytest.raises(UpstreamUnreachable, match="TLS"):
        await call(make_forwarder(), f"https://127.0.0.1:{server.port}/echo")


def _certificate(folder: Path) -> tuple[Path, Path, Path]:
    """A certificate authority and a server certificate it signed: (certificate, key, authority) PEM files."""
    now = datetime.datetime.now(datetime.UTC)

    def signed(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: ec.EllipticCurvePrivateKey,
               extensions: list[tuple[x509.ExtensionType, bool]]) -> x509.Certificate:
        builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1)))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical)
        return builder.sign(signer, hashes.SHA256())

    authority_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    authority = signed("Vectra test CA", authority_key, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                                                    "Vectra test CA")]),
                       authority_key, [(x509.BasicConstraints(ca=True, path_length=None), True)])
    server = signed("upstream.test", server_key, authority.subject, authority_key, [
        (x509.SubjectAlternativeName([x509.DNSName("upstream.test"),
                                      x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False),
    ])
    paths = folder / "server.pem", folder / "server.key", folder / "authority.pem"
    paths[0].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    paths[2].write_bytes(authority.public_bytes(serialization.Encoding.PEM))
    return paths


@pytest.mark.parametrize("head", [
    b"".join(b"X-Many-%d: v\r\n" % i for i in range(300)),  # too many fields
    b"X-Huge: " + b"a" * (70 * 1024) + b"\r\n",  # one field too large
])
async def test_an_answer_whose_head_would_fill_memory_is_refused(make_forwarder: Make,
                                                                 canned: Callable[[bytes], CannedServer],
                                                                 head: bytes) -> None:
    server = canned(b"HTTP/1.1 200 OK\r\n" + head + b"Content-Length: 2\r\n\r\nok")
    with pytest.raises(UpstreamUnreachable, match=r"head larger|header fields"):
        await call(make_forwarder(), f"http://127.0.0.1:{server.port}/")


async def test_a_body_read_to_the_close_under_another_transfer_coding_arrives_whole(
        make_forwarder: Make, canned: Callable[[bytes], CannedServer]) -> None:
    server = canned(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\nwhole body")
    assert await read_all(await call(make_forwarder(), f"http://127.0.0.1:{server.port}/")) == b"whole body"


async def test_a_streamed_body_that_stalls_ends_the_call(make_forwarder: Make, upstream: UpstreamServer) -> None:
    async def stalls() -> AsyncIterator[bytes]:
        yield b"first"
        await asyncio.sleep(30)
        yield b"never"

    forwarder = make_forwarder(upstream_read_timeout=0.3)
    with pytest.raises(InvalidInput, match="stalled"):
        response = await call(forwarder, f"{upstream.base}/echo", method="POST",
                              headers=[("Transfer-Encoding", "chunked")], body=stalls())
        await read_all(response)


@pytest.mark.parametrize("host", ["a..b", "x" * 64 + ".example"])
async def test_a_host_name_the_idna_codec_refuses_is_unreachable_not_a_crash(make_forwarder: Make, host: str) -> None:
    with pytest.raises(UpstreamUnreachable, match="resolved"):
        await call(make_forwarder(upstream_allow_cidrs=()), f"http://{host}/")
