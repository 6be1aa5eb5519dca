"""What a governed call's record keeps of its request: secrets redacted in headers, query, JSON and form bodies,
bounded, and read back as the replay judges it."""

from __future__ import annotations

import json

from vectra.domain.audit import AuditEntry, AuditRecord
from vectra.domain.pending import redacted_url
from vectra.services.decide import AgentFacts
from vectra.services.recorded_call import (
    MAX_HEADER_CHARACTERS,
    BodyCopy,
    agent_view,
    recorded_call,
    request_view,
)

JSON = [("Content-Type", "application/json")]
FORM = [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")]


def kept_body(view: dict) -> object:
    return view.get("body")


def test_secret_headers_are_redacted_and_the_rest_kept_in_order() -> None:
    view = request_view([("Host", "api.example.com"), ("Authorization", "Bearer t"), ("X-Api-Key", "k"),
                         ("Accept", "application/json")], None, 1024)
    assert view["headers"] == [["Host", "api.example.com"], ["Authorization", "[redacted]"],
                               ["X-Api-Key", "[redacted]"], ["Accept", "application/json"]]
    assert (view["bodySize"], view["bodyTruncated"], "body" in view) == (0, False, False)


def test_secret_json_fields_are_redacted_at_any_depth_and_others_kept() -> None:
    body = json.dumps({"user": "ann", "password": "p", "items": [{"client_secret": "c", "n": 1}],
                       "auth": {"token": "t"}}).encode()
    kept = json.loads(kept_body(request_view(JSON, body, 4096)))
    assert kept == {"user": "ann", "password": "[redacted]", "items": [{"client_secret": "[redacted]", "n": 1}],
                    "auth": {"token": "[redacted]"}}


def test_a_json_body_without_secrets_is_kept_byte_for_byte() -> None:
    body = b'{ "query" : "refunds" }'
    assert kept_body(request_view(JSON, body, 4096)) == body.decode()


def test_secret_form_fields_are_redacted() -> None:
    body = b"grant_type=client_credentials&client_id=app&client_secret=s3cr3t"
    assert kept_body(request_view(FORM, body, 4096)) == \
        "grant_type=client_credentials&client_id=app&client_secret=[redacted]"


def test_a_structured_body_cut_at_the_bound_is_not_kept_since_it_cant_be_redacted() -> None:
    body = json.dumps({"password": "p", "padding": "x" * 100}).encode()
    view = request_view(JSON, body, 32)
    assert (view["bodySize"], view["bodyTruncated"], "body" in view) == (len(body), True, False)
    text = request_view([], b"plain text " * 10, 16)
    assert (text["body"], text["bodyTruncated"]) == ("plain text plain", True)


def test_a_body_too_deep_to_read_is_not_kept() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert "body" not in request_view(JSON, deep, len(deep))


def test_a_streamed_body_is_kept_as_far_as_the_bound_and_marked_cut_until_it_ends() -> None:
    copy = BodyCopy(8)
    assert not copy.finished and copy.whole() is None
    view = request_view([], copy, 8)
    assert view["bodyTruncated"] is True
    copy.kept, copy.size, copy.ended = bytearray(b"abc"), 3, True
    assert (copy.whole(), request_view([], copy, 8)["body"]) == (b"abc", "abc")
    announced = BodyCopy(8, expected=3)
    announced.kept, announced.size = bytearray(b"abc"), 3  # every byte Content-Length announced has passed
    assert announced.finished and announced.whole() == b"abc"


def test_headers_past_the_bound_are_cut_and_marked() -> None:
    many = [(f"X-Pad-{i}", "v" * 1000) for i in range(40)]
    view = request_view(many, None, 0)
    assert view["headersTruncated"] is True
    assert sum(len(n) + len(v) for n, v in view["headers"]) <= MAX_HEADER_CHARACTERS
    assert view["headers"] == [list(pair) for pair in many[:len(view["headers"])]]


def test_secret_query_parameters_are_redacted_in_the_recorded_url() -> None:
    assert redacted_url("https://a.example/x?api_key=S&q=1&access_token=T&X-Amz-Signature=z&sig=y#f") == \
        "https://a.example/x?api_key=[redacted]&q=1&access_token=[redacted]&X-Amz-Signature=[redacted]&sig=[redacted]#f"
    assert redacted_url("https://a.example/x?flag&page=2") == "https://a.example/x?flag&page=2"


def test_a_record_reads_back_as_the_call_its_decision_saw() -> None:
    facts = AgentFacts("a1", "billing", "team", 0.7, ("agent",), "live", capabilities=("api_call",), realm="eng")
    details = {"effect": "Allow", "request": request_view(JSON, b'{"q":1}', 4096), "agent": agent_view(facts),
               "mcp": {"method": "tools/call", "tool": "search"}, "policyName": "live"}
    entry = AuditEntry(actor="a1", source="proxy", action="proxy.request", agent_id="a1", method="POST",
                       url="https://api.example.com/v1", decision="Allow", risk=0.2, trust=0.7, details=details)
    record = AuditRecord(id=7, time="2026-12-01T10:00:00.000000Z", entry=entry, schema_version=2, prev_hash="",
                         hash="")
    call = recorded_call(record)
    assert call is not None
    assert (call.effect, call.risk, call.trust, call.tool, call.body_truncated) == ("Allow", 0.2, 0.7, "search", False)
    assert call.facts["agent"]["capabilities"] == ("api_call",) and call.facts["body"] == '{"q":1}'
    refused = AuditRecord(id=8, time=record.time, entry=AuditEntry(actor="a1", source="proxy", action="proxy.request",
                                                                   decision="RateLimited"),
                          schema_version=2, prev_hash="", hash="")
    assert recorded_call(refused) is None
