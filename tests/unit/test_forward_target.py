"""The upstream URL from the raw proxy path: kept byte for byte but for the path's one normal form, repaired when
collapsed, refused when unsafe or ambiguous."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vectra.domain.errors import InvalidInput
from vectra.forward.target import canonical_path, parse_target, target_from_raw_path


@pytest.mark.parametrize(("raw_path", "query", "url"), [
    (b"/proxy/https://api.example.com/v1/a%2Fb", b"", "https://api.example.com/v1/a%2Fb"),
    (b"/proxy/https:/api.example.com/v1", b"x=1", "https://api.example.com/v1?x=1"),
    (b"/proxy/http:/api.example.com", b"", "http://api.example.com/"),
    (b"/proxy/HTTPS://API.Example.COM:443/Path", b"", "https://api.example.com/Path"),
    (b"/proxy/http://api.example.com:8080/%7Eu/%20x", b"q=a%2Fb&q=%3D",
     "http://api.example.com:8080/~u/%20x?q=a%2Fb&q=%3D"),
    (b"/proxy/http://[2606:4700::1]:8443/x", b"", "http://[2606:4700::1]:8443/x"),
    (b"/proxy/http://2130706433/", b"", "http://2130706433/"),
])
def test_the_target_keeps_path_and_query_as_sent_but_for_the_paths_normal_form(raw_path: bytes, query: bytes,
                                                                              url: str) -> None:
    assert target_from_raw_path(raw_path, query).url == url


def test_the_target_names_its_authority_and_origin() -> None:
    target = target_from_raw_path(b"/proxy/https://API.example.com:8443/x")
    assert (target.host, target.port, target.authority, target.origin) == (
        "api.example.com", 8443, "api.example.com:8443", "https://api.example.com:8443")
    assert parse_target("http://[::1]/").origin == "http://[::1]:80"


def test_a_fragment_is_dropped() -> None:
    assert parse_target("https://api.example.com/a?b=1#secret").url == "https://api.example.com/a?b=1"
    assert target_from_raw_path(b"/proxy/https://api.example.com/a#frag").url == "https://api.example.com/a"


@pytest.mark.parametrize("url", [
    "ftp://example.com/", "file:///etc/passwd", "gopher://example.com/", "javascript:alert(1)", "example.com/x",
    "//example.com/x", "https:example.com", "https:///x", "https://", "https://:80/", "https://user:pw@example.com/",
    "https://user@example.com/", "http://evil.com\\@127.0.0.1/", "https://exa mple.com/", "https://example.com/a b",
    "https://example.com/\r\nX-Injected: 1", "https://example.com/\x00", "https://exämple.com/",
    "https://example.com:0/", "https://example.com:99999/", "https://example.com:8x/", "https://[::1/",
    "https://[fe80::1%25eth0]/", "https://[not:an:ip]/", "https://example.com%2F@evil/", "https://./",
])
def test_unsafe_or_unusable_targets_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        parse_target(url)


@pytest.mark.parametrize(("raw_path", "query"), [
    (b"/elsewhere/https://example.com/", b""),
    (b"/proxy/https://example.com/\xc3\xa9", b""),
    (b"/proxy/https://example.com/", b"a=\r\n"),
    (b"/proxy/https://example.com/", b"a=\xff"),
])
def test_raw_paths_that_are_not_a_clean_proxy_url_are_refused(raw_path: bytes, query: bytes) -> None:
    with pytest.raises(InvalidInput):
        target_from_raw_path(raw_path, query)


@pytest.mark.parametrize(("path", "canonical"), [
    ("", "/"), ("/", "/"), ("/a/b/", "/a/b/"), ("/public/../admin", "/admin"), ("/../../admin", "/admin"),
    ("/%2e%2e/admin", "/admin"), ("/public/.%2E/admin", "/admin"), ("/./admin", "/admin"), ("//admin", "/admin"),
    ("/a//b", "/a/b"), ("/%61dmin", "/admin"), ("/a/b/..", "/a/"), ("/a/%2e%2e", "/"), ("/%7Eu", "/~u"),
    ("/a%2fb", "/a%2Fb"), ("/a%2Fb%20c/%E2%82%AC", "/a%2Fb%20c/%E2%82%AC"), ("/ADMIN", "/ADMIN"),
    ("/v1.0/a.../b", "/v1.0/a.../b"), ("/a;v=1", "/a;v=1"),
])
def test_a_path_has_one_spelling_for_the_policy_and_the_upstream(path: str, canonical: str) -> None:
    assert canonical_path(path) == canonical
    assert target_from_raw_path(f"/proxy/http://example.com{path}".encode()).path == canonical


@pytest.mark.parametrize("path", [
    "/admin%00", "/a%", "/a%zz", "/public%2f..%2fadmin", "/public%2F.%2Fadmin", "/public/..;/admin",
    "/public/.;x/admin", "/public\\..\\admin", "/a/..%5Cadmin",
])
def test_a_path_that_servers_would_read_differently_is_refused(path: str) -> None:
    with pytest.raises(InvalidInput):
        canonical_path(path)


@given(st.lists(st.sampled_from(["a", "B", ".", "..", "", "%2e", "%2E%2e", "%61", "%2f", "%7E", "~", ";v=1", "%25",
                                 "x.y"]), max_size=8))
def test_the_normal_form_is_its_own_normal_form_and_has_no_dot_segments(segments: list[str]) -> None:
    try:
        canonical = canonical_path("/" + "/".join(segments))
    except InvalidInput:
        return
    assert canonical_path(canonical) == canonical
    assert canonical.startswith("/") and "//" not in canonical
    assert not any(segment in (".", "..") for segment in canonical.split("/"))
