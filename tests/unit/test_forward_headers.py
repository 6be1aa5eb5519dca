"""Which headers cross the gateway: hop-by-hop never, the gateway token never, everything else in order."""

from __future__ import annotations

import pytest

from vectra.domain.errors import InvalidInput
from vectra.forward.headers import announces_body, request_headers, response_headers


def test_upstream_headers_get_the_upstream_host_first_and_keep_the_rest_in_order() -> None:
    incoming = [("Host", "gateway:7080"), ("X-A", "1"), ("Cookie", "a=1"), ("x-a", "2"), ("Cookie", "b=2")]
    assert request_headers(incoming, "api.example.com") == [
        ("Host", "api.example.com"), ("X-A", "1"), ("Cookie", "a=1"), ("x-a", "2"), ("Cookie", "b=2")]


def test_hop_by_hop_and_connection_named_headers_are_removed_from_requests() -> None:
    incoming = [("Connection", "keep-alive, X-Private"), ("connection", "x-other"), ("X-Private", "1"),
                ("X-Other", "2"), ("Keep-Alive", "5"), ("Proxy-Connection", "x"), ("TE", "trailers"),
                ("Trailer", "X"), ("Transfer-Encoding", "chunked"), ("Upgrade", "h2c"),
                ("Proxy-Authorization", "Basic x"), ("X-Kept", "yes")]
    assert request_headers(incoming, "h") == [("Host", "h"), ("X-Kept", "yes")]


def test_hop_by_hop_and_connection_named_headers_are_removed_from_answers() -> None:
    incoming = [("Connection", "X-Hop"), ("X-Hop", "1"), ("Proxy-Authenticate", "Basic"), ("Keep-Alive", "5"),
                ("Date", "Mon, 01 Jan 1990 00:00:00 GMT"), ("Vectra-Decision", "effect=Allow"), ("Set-Cookie", "a=1"),
                ("set-cookie", "b=2"), ("Content-Length", "3")]
    assert response_headers(incoming) == [("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("Content-Length", "3")]


def test_authorization_is_the_gateway_token_and_dropped_without_vectra_authorization() -> None:
    assert request_headers([("Authorization", "Bearer gateway")], "h") == [("Host", "h")]


def test_with_vectra_authorization_the_agents_authorization_goes_upstream_and_no_vectra_header_does() -> None:
    incoming = [("vectra-authorization", "Bearer gateway"), ("Authorization", "Bearer own"), ("Vectra-Trace", "1")]
    assert request_headers(incoming, "h") == [("Host", "h"), ("Authorization", "Bearer own")]


@pytest.mark.parametrize(("name", "value"), [
    ("X-A", "a\r\nX-Injected: 1"), ("X-A", "a\nb"), ("X-A", "a\x00"), ("X A", "1"), ("X-A:", "1"), ("", "1"),
    ("X-\r\nB", "1"),
])
def test_header_injection_is_refused(name: str, value: str) -> None:
    with pytest.raises(InvalidInput):
        request_headers([(name, value)], "h")


def test_a_request_has_a_body_exactly_when_it_announces_one() -> None:
    assert announces_body([(b"content-length", b"0")])
    assert announces_body([("Transfer-Encoding", "chunked")])
    assert not announces_body([("Content-Type", "application/json")])
