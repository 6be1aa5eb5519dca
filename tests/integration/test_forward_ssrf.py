"""The SSRF guard inside the real client: refused ranges, address spellings, the allow-list, DNS rebinding."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from tests.integration.resolvers import MappedResolver
from tests.integration.upstream import UpstreamServer
from vectra.config import Settings
from vectra.domain.errors import UpstreamNotAllowed, UpstreamTimeout, UpstreamUnreachable
from vectra.forward import Forwarder, parse_target

pytestmark = pytest.mark.anyio

Make = Callable[..., Forwarder]

REFUSED = [
    "127.0.0.1", "127.255.0.9", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "fc00::1", "fd12::1",
    "100.64.0.1", "169.254.1.1", "fe80::1", "224.0.0.1", "ff02::1", "0.0.0.0", "::", "255.255.255.255",
    "240.0.0.1", "198.18.0.1", "198.19.255.255", "192.0.2.1", "2001:db8::1",
    "169.254.169.254", "fd00:ec2::254", "100.100.100.200",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1:a00:0:1::",
    "2002:c0a8:101::1",
]


@pytest.fixture
def nothing_arrives(upstream: UpstreamServer) -> Iterator[None]:
    before = len(upstream.requests)
    yield
    assert len(upstream.requests) == before, "a refused call reached the upstream"


async def refused(forwarder: Forwarder, url: str) -> UpstreamNotAllowed:
    with pytest.raises(UpstreamNotAllowed) as raised:
        await forwarder.forward("GET", parse_target(url), [], None)
    assert raised.value.extra["reason"] == "upstream address not allowed"
    return raised.value


@pytest.mark.parametrize("address", REFUSED)
async def test_a_name_resolving_into_a_refused_range_is_refused(make_forwarder: Make, address: str) -> None:
    resolver = MappedResolver({"api.example.com": [[address]]})
    await refused(make_forwarder(resolver=resolver, upstream_allow_cidrs=()), "https://api.example.com/x")


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "127.1",
                                  "0177.1", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "localhost"])
async def test_loopback_in_any_spelling_is_refused(make_forwarder: Make, upstream: UpstreamServer,
                                                   nothing_arrives: None, host: str) -> None:
    await refused(make_forwarder(upstream_allow_cidrs=()), f"http://{host}:{upstream.port}/echo")


async def test_one_refused_address_among_public_ones_refuses_the_host(make_forwarder: Make) -> None:
    resolver = MappedResolver({"mixed.example.com": [["93.184.215.14", "10.0.0.7"]]})
    await refused(make_forwarder(resolver=resolver, upstream_allow_cidrs=()), "https://mixed.example.com/")


async def test_an_allow_listed_network_is_reachable_by_name_and_by_address(make_forwarder: Make,
                                                                           upstream: UpstreamServer) -> None:
    resolver = MappedResolver({"service.internal": [["127.0.0.1"]]})
    forwarder = make_forwarder(resolver=resolver, upstream_allow_cidrs=("127.0.0.0/8",))
    for url in (f"http://service.internal:{upstream.port}/echo", f"{upstream.base}/echo"):
        response = await forwarder.forward("GET", parse_target(url), [], None)
        assert response.status == 200
        await response.close()


async def test_the_allow_list_exempts_only_what_it_covers(make_forwarder: Make) -> None:
    resolver = MappedResolver({"metadata.internal": [["169.254.169.254"]]})
    await refused(make_forwarder(resolver=resolver, upstream_allow_cidrs=("127.0.0.0/8", "10.0.0.0/8")),
                  "http://metadata.internal/latest/meta-data/")


async def test_dns_rebinding_to_loopback_after_a_public_answer_never_reaches_loopback(
        make_forwarder: Make, upstream: UpstreamServer, nothing_arrives: None) -> None:
    resolver = MappedResolver({"rebind.example.com": [["192.0.43.10"], ["127.0.0.1"]]})
    forwarder = make_forwarder(resolver=resolver, upstream_allow_cidrs=(), upstream_connect_timeout=0.3)
    url = f"http://rebind.example.com:{upstream.port}/echo"
    with pytest.raises((UpstreamUnreachable, UpstreamTimeout)):  # the checked public address: not reachable here
        await forwarder.forward("GET", parse_target(url), [], None)
    await refused(forwarder, url)
    assert resolver.calls == ["rebind.example.com", "rebind.example.com"]


async def test_the_connection_goes_to_the_address_that_was_checked() -> None:
    """A name answers an allowed address, then a refused one; both have a live server: only the first is reached."""
    allowed = UpstreamServer("127.0.0.1").start()
    other = UpstreamServer("127.0.0.2", allowed.port).start()
    resolver = MappedResolver({"rebind.internal": [["127.0.0.1"], ["127.0.0.2"]]})
    forwarder = Forwarder.from_settings(Settings(upstream_allow_cidrs=("127.0.0.1/32",)), resolver=resolver)
    url = f"http://rebind.internal:{allowed.port}/close"
    try:
        response = await forwarder.forward("GET", parse_target(url), [], None)
        seen = json.loads(b"".join([chunk async for chunk in response.body()]))
        assert seen["raw_path"] == "/close"
        await refused(forwarder, url)  # the first connection was closed: a new one resolves again
        assert (len(allowed.requests), len(other.requests)) == (1, 0)
    finally:
        await forwarder.close()
        allowed.stop()
        other.stop()

