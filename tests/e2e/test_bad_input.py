"""Bad input over REST: the documented 4xx as problem+json, never a 5xx, never an echoed secret, nothing changed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.daemon import Daemon

pytestmark = pytest.mark.e2e

_JSON = {"content-type": "application/json"}
_SOME_ID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


@pytest.fixture
def unchanged(daemon: Daemon, admin: httpx.Client) -> Iterator[None]:
    """The test's requests leave every agent as it was."""
    before = admin.get("/agents", params={"pageSize": 100}).json()
    yield
    assert admin.get("/agents", params={"pageSize": 100}).json() == before


def _refused(answer: httpx.Response, status: int, detail: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["status"] == status and problem["title"]
    if detail is not None:
        assert problem["detail"] == detail
    return problem


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"name": 5, "ownerId": "team"}, "name must be a string"),
        ({"name": "x", "ownerId": ["team"]}, "ownerId must be a string"),
        ({"name": "x", "ownerId": "team", "roles": "admin"}, "roles must be a list"),
        ({"ownerId": "team"}, "name is required"),
        ({"name": "x"}, "ownerId is required"),
        ({"name": "", "ownerId": "team"}, "name is required"),
        ({"name": "   ", "ownerId": "team"}, "name must not be blank"),
        ({"name": "x", "ownerId": "team", "colour": "blue"}, "colour is not a known field"),
        ({"name": "x" * 201, "ownerId": "team"}, "name must be at most 200 characters"),
        ({"name": "x", "ownerId": "o" * 201}, "ownerId must be at most 200 characters"),
        ({"name": "x", "ownerId": "team", "roles": ["agent", "admin", "reviewer", "agent"]},
         "roles must hold at most 3 items"),
        ({"name": "x", "ownerId": "team", "roles": ["agent", "agent"]}, "roles must not repeat an item"),
        ({"name": "x", "ownerId": "team", "roles": ["root"]}, "roles[0] must be one of agent, reviewer, admin"),
        ({"name": "x", "ownerId": "team", "clientSecret": "é" * 12},
         "clientSecret must be 12 to 72 printable ASCII characters"),
        ([{"name": "x", "ownerId": "team"}], "body must be an object"),
        ("just a string", "body must be an object"),
    ],
)
def test_a_malformed_registration_is_400_naming_the_field(
    admin: httpx.Client, unchanged: None, body: Any, detail: str
) -> None:
    problem = _refused(admin.post("/agents", json=body), 400, detail)
    assert problem["type"] == "urn:vectra:problem:invalid-input"


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b'{"name": "x", "ownerId": ', _JSON, 400),  # malformed JSON
        (b"", _JSON, 400),  # empty body
        (b'{"name": "\xff\xfe", "ownerId": "team"}', _JSON, 400),  # not UTF-8
        (b"[" * 100_000, _JSON, 400),  # nested past the parser's depth
        (b'{"name": "x", "ownerId": "team", "roles": ' + b"[" * 900 + b"]" * 900 + b"}", _JSON, 400),
        (b'{"name": "x", "ownerId": "team"}', {"content-type": "text/plain"}, 415),
        (b'{"name": "x", "ownerId": "team"}', {"content-type": "application/json;charset=klingon"}, 400),
        (b'{"name": "\xe9", "ownerId": "team"}', {"content-type": "application/json;charset=latin-1"}, 400),
        (b"x" * (1024 * 1024 + 1), _JSON, 413),
    ],
    ids=["malformed", "empty", "not-utf8", "deep-nesting", "deep-nesting-in-a-field", "wrong-type", "unknown-charset",
         "not-utf8-charset",
         "oversized"],
)
def test_an_unreadable_body_is_a_4xx_problem(
    admin: httpx.Client, unchanged: None, content: bytes, headers: dict[str, str], status: int
) -> None:
    problem = _refused(admin.post("/agents", content=content, headers=headers), status)
    if "charset" in headers["content-type"] or b"\xff" in content:
        assert problem["detail"] == "the body must be JSON in UTF-8"
    if not content:
        assert problem["detail"] == "body is required"


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("pageSize=100000", "pageSize must be a whole number from 1 to 100"),
        ("pageSize=0", "pageSize must be a whole number from 1 to 100"),
        ("page=0", "page must be a whole number from 1 to 1000000"),
        ("page=99999999999999999999999", "page must be a whole number from 1 to 1000000"),
        ("page=two", "page must be a whole number from 1 to 1000000"),
        ("pageSize=1.5", "pageSize must be a whole number from 1 to 100"),
    ],
)
def test_a_page_out_of_bounds_is_400(admin: httpx.Client, query: str, detail: str) -> None:
    _refused(admin.get(f"/agents?{query}"), 400, detail)


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "1234", "x" * 300, "%00", "3fa85f64-5717-4562-b3fc-2c963f66afa"])
@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("GET", "", None), ("DELETE", "", None), ("PUT", "/policy", {"policyName": "p"}), ("POST", "/revoke", None),
     ("POST", "/lift-quarantine", None)],
)
def test_a_malformed_agent_id_in_the_path_is_400(
    admin: httpx.Client, unchanged: None, bad_id: str, method: str, suffix: str, body: Any
) -> None:
    _refused(admin.request(method, f"/agents/{bad_id}{suffix}", json=body), 400, "agentId must be a UUID")


@pytest.mark.parametrize(
    ("body", "detail"),
    [({"policyName": ""}, "policyName is required"), ({"policyName": "p" * 129}, "policyName must be at most 128 "
                                                                                  "characters"),
     ({"policyName": 7}, "policyName must be a string"), ({}, "policyName is required")],
)
def test_a_malformed_policy_assignment_is_400(admin: httpx.Client, unchanged: None, body: Any, detail: str) -> None:
    _refused(admin.put(f"/agents/{_SOME_ID}/policy", json=body), 400, detail)


def test_a_refused_client_secret_is_never_echoed(admin: httpx.Client, daemon: Daemon, unchanged: None) -> None:
    for secret in ("tiny-s3cret", "long-s3cret-" + "z" * 100):
        answer = admin.post("/agents", json={"name": "x", "ownerId": "team", "clientSecret": secret})
        _refused(answer, 400, "clientSecret must be 12 to 72 printable ASCII characters")
        assert secret not in answer.text
        assert secret not in daemon.log()


@pytest.mark.parametrize("size", [73, 5000, 500_000])
def test_an_oversized_secret_at_tokens_is_the_same_401_as_a_wrong_one(daemon: Daemon, size: int) -> None:
    with daemon.admin() as admin:
        created = admin.post("/agents", json={"name": "oversized", "ownerId": "team"}).json()
    with daemon.client() as client:
        wrong = client.post("/tokens", json={"agentId": created["id"], "clientSecret": "wrong-secret-123"})
        long = client.post("/tokens", json={"agentId": created["id"], "clientSecret": created["clientSecret"]
                                            + "y" * size})
        unknown = client.post("/tokens", json={"agentId": "not-even-a-uuid" * 10, "clientSecret": "s" * size})
    for answer in (wrong, long, unknown):
        _refused(answer, 401, "invalid agent id or client secret")


def test_a_chunked_body_is_accepted(daemon: Daemon, admin: httpx.Client) -> None:
    body = json.dumps({"name": "chunked", "ownerId": "team"}).encode()
    answer = admin.post("/agents", content=iter([body[:10], body[10:]]), headers=_JSON)
    assert "content-length" not in answer.request.headers  # httpx really sent it chunked
    assert answer.status_code == 201, answer.text
    assert admin.get(f"/agents/{answer.json()['id']}").json()["name"] == "chunked"


def test_a_chunked_body_over_one_mebibyte_is_413(admin: httpx.Client, unchanged: None) -> None:
    chunks = iter([b'{"name": "' + b"x" * 65536] + [b"x" * 65536] * 16)
    _refused(admin.post("/agents", content=chunks, headers=_JSON), 413)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=300),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
_registration_like = st.fixed_dictionaries(
    {},
    optional={
        "name": _json_values, "ownerId": _json_values, "clientSecret": _json_values, "roles": _json_values,
        "extra": _json_values,
    },
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_json_values | _registration_like)
def test_random_json_bodies_never_get_a_5xx(daemon: Daemon, admin: httpx.Client, body: Any) -> None:
    answer = admin.post("/agents", json=body)
    assert answer.status_code in (201, 400), answer.text
    if answer.status_code == 400:
        assert answer.headers["content-type"] == "application/problem+json"


def test_registering_with_a_valid_body_still_works(admin: httpx.Client) -> None:
    answer = admin.post("/agents", json={"name": "fine", "ownerId": "team", "roles": ["reviewer", "agent"],
                                         "clientSecret": "a-good-secret-" + uuid.uuid4().hex})
    assert answer.status_code == 201, answer.text
    assert admin.get(f"/agents/{answer.json()['id']}").json()["roles"] == ["reviewer", "agent"]


# JSON's \ud800 escapes decode to lone surrogates: text no later step can encode. (Sent as raw bytes: a client's
# own JSON encoder would refuse them.)
_SURROGATE = '"\\ud800-0123456789abc"'


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/tokens", '{"agentId": "' + _SOME_ID + '", "clientSecret": ' + _SURROGATE + "}"),
        ("/agents", '{"name": ' + _SURROGATE + ', "ownerId": "team"}'),
        ("/agents", '{"name": "n", "ownerId": "team", "clientSecret": ' + _SURROGATE + "}"),
    ],
)
def test_a_lone_surrogate_in_a_json_body_is_400(admin: httpx.Client, unchanged: None, path: str, body: str) -> None:
    answer = admin.post(path, content=body.encode(), headers={"content-type": "application/json"})
    _refused(answer, 400, "the body must be JSON in UTF-8")


def test_a_lone_surrogate_in_a_yaml_policy_is_400_and_stores_nothing(admin: httpx.Client) -> None:
    document = 'name: surrogate\ndescription: "\\ud800"\nrules: []\n'
    answer = admin.put("/policies/surrogate", content=document.encode(), headers={"content-type": "application/yaml"})
    _refused(answer, 400)
    assert admin.get("/policies/surrogate").status_code == 404


def test_a_policy_version_past_any_integer_is_400(admin: httpx.Client) -> None:
    assert admin.put("/policies/versioned", json={"name": "versioned", "rules": []}).status_code == 201
    for version in (2**63, 10**9 + 1):
        _refused(admin.get("/policies/versioned", params={"version": version}), 400)


def test_an_audit_time_past_the_last_utc_instant_is_400(admin: httpx.Client) -> None:
    _refused(admin.get("/audit", params={"from": "9999-12-31T23:59:59-23:59"}), 400)


# -- what the REST fuzzing (test_rest_fuzz.py) found, each pinned here --------------------------------------------

@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("/audit?agentId=", "agentId must be a UUID"),
        ("/hitl?agentId=", "agentId must be a UUID"),
        ("/audit?decision=", "decision must be 1 to 64 letters, digits, '_' or '.'"),
        ("/audit?action=%C3%9E", "action must be 1 to 64 letters, digits, '_' or '.'"),
        ("/audit?decision=Allow%0A", "decision must be 1 to 64 letters, digits, '_' or '.'"),
        ("/hitl?status=", "status[0] must be one of Pending, Approved, Denied, Expired"),
    ],
)
def test_an_empty_or_malformed_filter_is_400_not_no_filter(admin: httpx.Client, query: str, detail: str) -> None:
    _refused(admin.get(query), 400, detail)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/agents", "GET, HEAD, POST"),
        ("PUT", f"/agents/{_SOME_ID}", "GET, HEAD, PATCH, DELETE"),
        ("OPTIONS", "/policies/p", "GET, HEAD, PUT, DELETE"),
        ("GET", "/policies/validate", "POST"),  # the concrete path wins over /policies/{name}
        ("DELETE", "/policies/validate", "POST"),
    ],
)
def test_a_method_the_path_does_not_serve_is_405_naming_all_it_does(
    admin: httpx.Client, unchanged: None, method: str, path: str, allow: str
) -> None:
    answer = admin.request(method, path)
    _refused(answer, 405)
    assert answer.headers["allow"] == allow


def test_validate_is_no_policy_name(admin: httpx.Client) -> None:
    _refused(admin.get("/policies/validate/versions"), 400, "name must not be 'validate', a reserved word")
    _refused(admin.put(f"/agents/{_SOME_ID}/policy", json={"policyName": "validate"}), 400,
             "policyName must not be 'validate', a reserved word")


def test_a_json_null_body_is_no_empty_body(admin: httpx.Client, unchanged: None) -> None:
    answer = admin.post(f"/hitl/{_SOME_ID}/approve", content=b"null", headers=_JSON)
    _refused(answer, 400, "body must be an object")


@pytest.mark.parametrize("document", ["- a\n- list\n", "5", "[unclosed"])
def test_a_yaml_body_that_is_no_document_is_400_on_validate_as_in_json(admin: httpx.Client, document: str) -> None:
    answer = admin.post("/policies/validate", content=document, headers={"content-type": "application/yaml"})
    assert _refused(answer, 400)["pointer"] == ""


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"agentId": _SOME_ID, "agent": {}}, "give either agentId or agent"),
        ({}, "give either agentId or agent"),
        ({"agent": {"policyName": "p", "policy": {}}}, "give either agent.policyName or agent.policy"),
        ({"agent": {}, "request": {"method": "GET", "url": "ftp://example.com/"}},
         "request.url must be an absolute http(s) URL"),
        ({"agent": {}, "request": {"method": "GE T", "url": "https://example.com/"}},
         "request.method must be an HTTP method such as GET"),
    ],
)
def test_a_simulation_of_what_the_schema_rules_out_is_400_in_the_services_words(
    admin: httpx.Client, body: dict[str, Any], detail: str
) -> None:
    _refused(admin.post("/simulate", json={"request": {"method": "GET", "url": "https://example.com/"}} | body),
             400, detail)


@pytest.mark.parametrize(
    ("method", "path", "body", "detail"),
    [
        ("GET", f"/hitl/{_SOME_ID}?wait=-1", None, "wait must be a number of seconds from 0 to 3600"),
        ("GET", f"/hitl/{_SOME_ID}?wait=", None, "wait must be a number of seconds from 0 to 3600"),
        ("POST", "/simulate", {"agent": {"trustScore": 1.5}, "request": {"method": "GET", "url": "https://a.example/"}},
         "agent.trustScore must be a number from 0 to 1"),
    ],
)
def test_a_number_out_of_range_is_refused_as_a_number_not_a_whole_one(
    admin: httpx.Client, method: str, path: str, body: Any, detail: str
) -> None:
    _refused(admin.request(method, path, json=body), 400, detail)
