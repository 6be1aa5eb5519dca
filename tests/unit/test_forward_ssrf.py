"""The address guard alone: each refused range by name, embedded IPv4 unwrapped, the allow-list."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from vectra.domain.errors import UpstreamNotAllowed
from vectra.forward.ssrf import AddressGuard, embedded_ipv4


@pytest.mark.parametrize(("address", "why"), [
    ("169.254.169.254", "cloud metadata"), ("100.100.100.200", "cloud metadata"), ("fd00:ec2::254", "cloud metadata"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"), ("127.0.0.1", "loopback"), ("::1", "loopback"),
    ("10.0.0.1", "private"), ("172.31.255.255", "private"), ("192.168.0.1", "private"), ("fd00::1", "private"),
    ("100.64.0.1", "carrier-grade NAT"), ("100.127.255.255", "carrier-grade NAT"),
    ("169.254.0.1", "link-local"), ("fe80::1", "link-local"), ("fe80::1%eth0", "link-local"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("ff02::1", "multicast"),
    ("255.255.255.255", "broadcast"), ("198.18.0.1", "benchmarking"), ("2001:2::1", "benchmarking"),
    ("240.0.0.1", "reserved"), ("192.0.2.1", "reserved"), ("2001:db8::1", "reserved"), ("2001::1", "reserved"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:169.254.169.254", "cloud metadata"), ("::7f00:1", "loopback"),
    ("64:ff9b::a00:1", "private"), ("64:ff9b:1:7f00:0:1::", "loopback"), ("2002:a9fe:a9fe::1", "cloud metadata"),
    ("::ffff:0:a9fe:a9fe", "cloud metadata"), ("::ffff:0:7f00:1", "loopback"),
])
def test_refused_ranges_are_named(address: str, why: str) -> None:
    assert AddressGuard().refusal(address) == why


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111",
                                     "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"])
def test_public_addresses_pass(address: str) -> None:
    assert AddressGuard().refusal(address) is None


def test_embedded_ipv4_is_found_in_every_wrapping() -> None:
    found = {form: str(embedded_ipv4(ip_address(form))) for form in (
        "::ffff:1.2.3.4", "::ffff:0:1.2.3.4", "::1.2.3.4", "64:ff9b::1.2.3.4", "64:ff9b:1:102:3:400::",
        "2002:102:304::")}
    assert set(found.values()) == {"1.2.3.4"}


def test_the_allow_list_exempts_what_it_covers_in_any_form() -> None:
    guard = AddressGuard(["127.0.0.0/8", "fd00::/8"])
    assert guard.refusal("127.0.0.1") is None
    assert guard.refusal("::ffff:127.0.0.1") is None
    assert guard.refusal("fd12::1") is None
    assert guard.refusal("10.0.0.1") == "private"
    assert guard.refusal("::1") == "loopback"


def test_check_refuses_a_host_when_any_address_is_refused() -> None:
    guard = AddressGuard()
    guard.check("ok", ["8.8.8.8", "2606:4700:4700::1111"])
    with pytest.raises(UpstreamNotAllowed) as refused:
        guard.check("mixed", ["8.8.8.8", "10.0.0.1"])
    assert refused.value.detail == "upstream address not allowed"
