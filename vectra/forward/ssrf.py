"""The SSRF guard: which addresses the gateway may connect to on an agent's behalf.

The guard judges addresses, never spellings: the client resolves a host (``getaddrinfo`` accepts ``2130706433``,
``0177.0.0.1``, ``0x7f.1`` and ``127.1`` for 127.0.0.1) and every address it gets is checked here. IPv6 forms that
carry an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64 and 6to4) are judged by the IPv4 address inside.
Addresses in the ranges below are refused unless an allow-listed network (``upstream_allow_cidrs``) covers them;
anything else that IANA does not mark globally reachable is refused as ``reserved``.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from vectra.domain.errors import UpstreamNotAllowed

__all__ = ["REFUSED_RANGES", "AddressGuard", "embedded_ipv4"]

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

# Most specific first: the first range that holds an address names why it is refused.
REFUSED_RANGES: tuple[tuple[str, tuple[Network, ...]], ...] = tuple(
    (name, tuple(ip_network(cidr) for cidr in cidrs))
    for name, cidrs in (
        ("cloud metadata", ("169.254.169.254/32", "100.100.100.200/32", "fd00:ec2::254/128")),
        ("unspecified", ("0.0.0.0/8", "::/128")),
        ("loopback", ("127.0.0.0/8", "::1/128")),
        ("private", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
        ("carrier-grade NAT", ("100.64.0.0/10",)),
        ("link-local", ("169.254.0.0/16", "fe80::/10")),
        ("multicast", ("224.0.0.0/4", "ff00::/8")),
        ("broadcast", ("255.255.255.255/32",)),
        ("benchmarking", ("198.18.0.0/15", "2001:2::/48")),
        ("reserved", ("240.0.0.0/4", "192.0.0.0/24", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
                      "192.88.99.0/24", "100::/64", "2001::/23", "2001:db8::/32", "fec0::/10")),
    )
)

_IPV4_MAPPED = ip_network("::ffff:0:0/96")
_IPV4_TRANSLATED = ip_network("::ffff:0:0:0/96")  # SIIT (RFC 2765): IPv4-translated addresses
_IPV4_COMPATIBLE = ip_network("::/96")
_NAT64 = ip_network("64:ff9b::/96")
_NAT64_LOCAL = ip_network("64:ff9b:1::/48")
_6TO4 = ip_network("2002::/16")


def embedded_ipv4(address: Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, translated, compatible, NAT64 RFC 6052, 6to4), if any."""
    if isinstance(address, IPv4Address):
        return None
    value = int(address)
    if address in _IPV4_MAPPED or address in _IPV4_TRANSLATED or address in _NAT64:
        return IPv4Address(value & 0xFFFFFFFF)
    if address in _IPV4_COMPATIBLE and value > 1:  # ::1 and :: are IPv6's own loopback and unspecified
        return IPv4Address(value & 0xFFFFFFFF)
    if address in _NAT64_LOCAL:  # a /48 prefix: 16 bits of IPv4, the reserved octet u, then 16 bits
        return IPv4Address(((value >> 64) & 0xFFFF) << 16 | (value >> 40) & 0xFFFF)
    if address in _6TO4:
        return IPv4Address((value >> 80) & 0xFFFFFFFF)
    return None


_MAX_VERDICTS = 4096


class AddressGuard:
    """Checks addresses against the refused ranges and the allow-list."""

    def __init__(self, allow_cidrs: Iterable[str] = ()) -> None:
        self._allowed = tuple(ip_network(cidr, strict=False) for cidr in allow_cidrs)
        self._verdicts: dict[str, str | None] = {}  # by address text: the same few upstreams, call after call

    def refusal(self, address: Address | str) -> str | None:
        """Why ``address`` is refused (the name of its range), or None when the gateway may connect to it."""
        if not isinstance(address, str):
            return self._judge(address)
        try:
            return self._verdicts[address]
        except KeyError:
            pass
        verdict = self._judge(ip_address(address))
        if len(self._verdicts) >= _MAX_VERDICTS:
            self._verdicts.clear()
        self._verdicts[address] = verdict
        return verdict

    def _judge(self, address: Address) -> str | None:
        inner = embedded_ipv4(address)
        if any(candidate in network for candidate in (address, inner) if candidate is not None
               for network in self._allowed if candidate.version == network.version):
            return None
        judged = inner or address
        for name, networks in REFUSED_RANGES:
            if any(judged in network for network in networks if network.version == judged.version):
                return name
        if not judged.is_global:
            return "reserved"
        return None

    def check(self, host: str, addresses: Iterable[Address | str]) -> None:
        """Raise UpstreamNotAllowed unless every address ``host`` resolved to may be connected to."""
        for address in addresses:
            if self.refusal(address) is not None:
                raise UpstreamNotAllowed("upstream address not allowed", reason="upstream address not allowed",
                                         host=host)
