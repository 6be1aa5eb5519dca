"""The ``input.mcp.*`` fields (a JSON-RPC 2.0 body read as an MCP message) and ``mcp_call``, run against the
compiled evaluator and the pure-Python twin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policy_core import McpCall, PolicyError, compile_policy, load_document, mcp_call
from policy_core.fields import resolve_field
from tests.policy_impl import impl  # noqa: F401

URL = "https://mcp.example.com/mcp"


def rpc(method: Any = "tools/call", params: Any = None, **extra: Any) -> dict:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method, **extra}
    if params is not None:
        message["params"] = params
    return message


def call(tool: Any = "read_file", arguments: Any = None) -> dict:
    params: dict[str, Any] = {"name": tool}
    if arguments is not None:
        params["arguments"] = arguments
    return rpc("tools/call", params)


READ = call("read_file", {"path": "/etc/passwd", "Mode": "r", "lines": 40, "tags": ["a", "b"],
                          "files": [{"name": "x.txt"}], "options": {"follow": True}, "none": None})


def policy(*conditions: dict) -> dict:
    return {"name": "p", "default": "Deny",
            "rules": [{"name": "hit", "effect": "Allow", "conditions": list(conditions)}]}


def cond(field: str, operator: str, value: Any = None, **extra: Any) -> dict:
    return {"field": field, "operator": operator, "value": value, **extra}


def body_of(message: Any) -> bytes:
    return message if isinstance(message, bytes) else json.dumps(message).encode()


def matches(impl, condition: dict, message: Any = READ) -> bool:  # noqa: F811
    decision = impl.decide(policy(condition), {"method": "POST", "url": URL, "body": body_of(message)})
    assert decision.reason != "policy evaluation failed"
    return decision.rule == "hit"


def missing(impl, field: str, message: Any) -> bool:  # noqa: F811
    return matches(impl, cond(field, "notExists"), message) and not matches(impl, cond(field, "exists"), message)


# -- each field ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("field", "value"), [
    ("input.mcp.method", "tools/call"),
    ("input.mcp.tool", "read_file"),
    ("input.mcp.arguments.path", "/etc/passwd"),
    ("input.mcp.arguments.lines", 40),
    ("input.mcp.arguments.files.0.name", "x.txt"),
    ("input.mcp.arguments.options.follow", True),
    ("input.mcp.arguments.none", None),
    ("input.mcp.arguments.tags", ["a", "b"]),
    ("input.mcp.arguments", READ["params"]["arguments"]),
])
def test_each_field_reads_the_tools_call(impl, field, value):  # noqa: F811
    assert matches(impl, cond(field, "eq", value))
    assert not matches(impl, cond(field, "ne", value))


def test_the_input_prefix_is_optional_and_fixed_names_ignore_case(impl):  # noqa: F811
    assert matches(impl, cond("mcp.tool", "eq", "read_file"))
    assert matches(impl, cond("INPUT.MCP.Method", "eq", "tools/call"))
    assert matches(impl, cond("Mcp.Arguments.path", "eq", "/etc/passwd"))
    assert matches(impl, cond("mcp.arguments.Mode", "eq", "r"))


def test_argument_paths_are_case_sensitive(impl):  # noqa: F811
    assert missing(impl, "input.mcp.arguments.mode", READ)
    assert missing(impl, "input.mcp.arguments.PATH", READ)


def test_tool_names_compare_exactly_unless_ignore_case(impl):  # noqa: F811
    assert not matches(impl, cond("input.mcp.tool", "eq", "Read_File"))
    assert matches(impl, cond("input.mcp.tool", "eq", "Read_File", ignoreCase=True))


# -- tools/call and the other methods --------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["initialize", "tools/list", "resources/read", "prompts/get", "ping"])
def test_other_methods_have_a_method_but_no_tool_or_arguments(impl, method):  # noqa: F811
    message = rpc(method, {"name": "read_file", "arguments": {"path": "/etc"}})
    assert matches(impl, cond("input.mcp.method", "eq", method), message)
    assert missing(impl, "input.mcp.tool", message)
    assert missing(impl, "input.mcp.arguments", message)
    assert missing(impl, "input.mcp.batch", message)


def test_a_notification_has_its_method(impl):  # noqa: F811
    notification = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert matches(impl, cond("input.mcp.method", "eq", "notifications/initialized"), notification)
    assert missing(impl, "input.mcp.tool", notification)


def test_a_tool_call_without_arguments_has_a_tool_only(impl):  # noqa: F811
    message = call("list_files")
    assert matches(impl, cond("input.mcp.tool", "eq", "list_files"), message)
    assert missing(impl, "input.mcp.arguments", message)
    assert missing(impl, "input.mcp.arguments.path", message)


def test_a_response_is_no_call(impl):  # noqa: F811
    response = {"jsonrpc": "2.0", "id": 1, "result": {"tools": []}}
    for field in ("input.mcp.method", "input.mcp.tool", "input.mcp.arguments", "input.mcp.batch"):
        assert missing(impl, field, response)


# -- batches ---------------------------------------------------------------------------------------------------

def test_a_batch_counts_its_messages_and_hides_the_rest(impl):  # noqa: F811
    batch = [call("read_file"), rpc("tools/list"), {"jsonrpc": "2.0", "method": "notifications/cancelled"}]
    assert matches(impl, cond("input.mcp.batch", "eq", 3), batch)
    assert matches(impl, cond("input.mcp.batch", "ge", 1), batch)
    assert matches(impl, cond("mcp.batch", "exists"), batch)
    for field in ("input.mcp.method", "input.mcp.tool", "input.mcp.arguments"):
        assert missing(impl, field, batch)


def test_one_jsonrpc_message_among_other_things_makes_a_batch(impl):  # noqa: F811
    assert matches(impl, cond("input.mcp.batch", "eq", 3), [1, "x", call()])
    assert matches(impl, cond("input.mcp.batch", "eq", 1), [call()])


@pytest.mark.parametrize("body", [[], [1, 2], [{"jsonrpc": "1.0", "method": "x"}], [[call()]]])
def test_an_array_without_jsonrpc_messages_is_no_batch(impl, body):  # noqa: F811
    assert missing(impl, "input.mcp.batch", body)


def test_a_single_message_is_no_batch(impl):  # noqa: F811
    assert missing(impl, "input.mcp.batch", READ)


def test_a_byte_order_mark_hides_no_tool(impl):  # noqa: F811
    assert matches(impl, cond("input.mcp.tool", "eq", "read_file"), b"\xef\xbb\xbf" + body_of(READ))


# -- bad shapes: missing fields, never an error ----------------------------------------------------------------

@pytest.mark.parametrize("body", [
    {"jsonrpc": "1.0", "id": 1, "method": "tools/call", "params": {"name": "read_file"}},
    {"jsonrpc": 2.0, "id": 1, "method": "tools/call", "params": {"name": "read_file"}},
    {"id": 1, "method": "tools/call", "params": {"name": "read_file"}},
    rpc(["tools/call"], {"name": "read_file"}),
    rpc(None, {"name": "read_file"}),
    rpc(7, {"name": "read_file"}),
    "tools/call",
    42,
    None,
    b"{\"jsonrpc\": \"2.0\", \"method\": \"tools/call\"",
    b"not json at all",
    b"",
    b"\xff\xfe{}",
], ids=lambda body: repr(body)[:40])
def test_a_body_that_is_not_jsonrpc_has_no_mcp_fields(impl, body):  # noqa: F811
    for field in ("input.mcp.method", "input.mcp.tool", "input.mcp.arguments", "input.mcp.batch"):
        assert missing(impl, field, body)


@pytest.mark.parametrize("params", [["read_file"], "read_file", 3, True])
def test_params_that_are_no_object_leave_the_method_only(impl, params):  # noqa: F811
    message = rpc("tools/call", params)
    assert matches(impl, cond("input.mcp.method", "eq", "tools/call"), message)
    assert missing(impl, "input.mcp.tool", message)
    assert missing(impl, "input.mcp.arguments", message)


@pytest.mark.parametrize("name", [None, 7, ["read_file"], {"name": "read_file"}, True])
def test_a_tool_name_that_is_no_string_is_missing(impl, name):  # noqa: F811
    message = call(name, {"path": "/etc/passwd"})
    assert missing(impl, "input.mcp.tool", message)
    assert matches(impl, cond("input.mcp.method", "eq", "tools/call"), message)
    assert matches(impl, cond("input.mcp.arguments.path", "eq", "/etc/passwd"), message)


@pytest.mark.parametrize("arguments", [["/etc/passwd"], "/etc/passwd", 5, None])
def test_arguments_that_are_no_object_have_no_paths(impl, arguments):  # noqa: F811
    message = rpc("tools/call", {"name": "read_file", "arguments": arguments})
    assert missing(impl, "input.mcp.arguments.path", message)
    assert matches(impl, cond("input.mcp.arguments", "eq", arguments), message)


def test_huge_nesting_is_missing_not_an_error(impl):  # noqa: F811
    deep = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "t", "arguments": ' \
        + b"[" * 200_000 + b"]" * 200_000 + b"}}"
    assert missing(impl, "input.mcp.method", deep)
    assert missing(impl, "input.mcp.arguments.0", deep)


def test_a_huge_batch_is_counted(impl):  # noqa: F811
    batch = [{"jsonrpc": "2.0", "method": "ping", "id": i} for i in range(20_000)]
    assert matches(impl, cond("input.mcp.batch", "gt", 1), batch)
    assert matches(impl, cond("input.mcp.batch", "eq", 20_000), batch)


def test_without_a_body_every_mcp_field_is_missing(impl):  # noqa: F811
    decision = impl.decide(policy(cond("input.mcp.method", "notExists")), {"method": "GET", "url": URL})
    assert decision.rule == "hit"


# -- operators on argument paths -------------------------------------------------------------------------------

@pytest.mark.parametrize(("condition", "expected"), [
    (cond("input.mcp.arguments.path", "startsWith", "/etc/"), True),
    (cond("input.mcp.arguments.path", "glob", "/etc/*"), True),
    (cond("input.mcp.arguments.path", "regex", "^/(etc|root)/"), True),
    (cond("input.mcp.arguments.path", "contains", "passwd"), True),
    (cond("input.mcp.arguments.path", "endsWith", "shadow"), False),
    (cond("input.mcp.arguments.path", "in", ["/etc/passwd", "/etc/shadow"]), True),
    (cond("input.mcp.arguments.path", "notIn", ["/tmp/x"]), True),
    (cond("input.mcp.arguments.path", "startsWith", "/ETC", ignoreCase=True), True),
    (cond("input.mcp.arguments.lines", "gt", 10), True),
    (cond("input.mcp.arguments.lines", "le", 39), False),
    (cond("input.mcp.arguments.lines", "eq", "40"), False),  # a string literal compares only with strings
    (cond("input.mcp.arguments.tags", "contains", "b"), True),
    (cond("input.mcp.arguments.tags", "in", ["b", "z"]), True),
    (cond("input.mcp.arguments.options", "eq", {"follow": True}), True),
    (cond("input.mcp.arguments.missing", "exists"), False),
    (cond("input.mcp.arguments.missing", "notExists"), True),
    (cond("input.mcp.arguments.path.0", "exists"), False),  # a string has no segments
])
def test_operators_on_argument_paths(impl, condition, expected):  # noqa: F811
    assert matches(impl, condition) is expected


def test_a_numeric_string_argument_compares_with_a_number_literal(impl):  # noqa: F811
    assert matches(impl, cond("input.mcp.arguments.limit", "gt", 100), call("query", {"limit": "500"}))


# -- policies and field names ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("field", "canonical"), [
    ("mcp.method", "input.mcp.method"),
    ("input.MCP.TOOL", "input.mcp.tool"),
    ("mcp.batch", "input.mcp.batch"),
    ("input.mcp.arguments", "input.mcp.arguments"),
    ("MCP.ARGUMENTS.Path.0", "input.mcp.arguments.Path.0"),
])
def test_field_names_resolve_to_their_canonical_spelling(field, canonical):
    assert resolve_field(field).canonical == canonical


@pytest.mark.parametrize("field", ["input.mcp.arguments.", "input.mcp.arguments.a..b", "input.mcp.tools",
                                   "input.mcp", "mcp.params.name"])
def test_a_bad_mcp_field_is_refused_when_the_policy_loads(field):
    with pytest.raises(PolicyError):
        compile_policy(policy(cond(field, "exists")))


def test_batch_is_a_number_field():
    with pytest.raises(PolicyError):
        compile_policy(policy(cond("input.mcp.batch", "gt", "many")))


@pytest.mark.parametrize("field", ["input.mcp.method", "mcp.tool", "input.mcp.arguments.path", "input.mcp.batch",
                                   "input.json.a", "input.body", "input.bodySize"])
def test_a_policy_testing_a_body_field_reads_the_body(impl, field):  # noqa: F811
    nested = {"any": [{"not": cond(field, "exists")}, cond("input.method", "eq", "GET")]}
    assert impl.compile(policy(nested)).reads_body


def test_a_policy_testing_no_body_field_streams_the_body(impl):  # noqa: F811
    assert not impl.compile(policy(cond("input.method", "eq", "POST"), cond("input.path", "eq", "/mcp"))).reads_body


def test_an_allowlist_policy_decides_each_message(impl):  # noqa: F811
    allowlist = {
        "name": "mcp", "default": "Deny",
        "rules": [
            {"name": "no-batches", "priority": 300, "effect": "Deny", "conditions": [cond("mcp.batch", "exists")]},
            {"name": "listed", "priority": 200, "effect": "Allow",
             "conditions": [cond("mcp.tool", "in", ["read_file", "search"])]},
            {"name": "unlisted", "priority": 100, "effect": "Deny",
             "conditions": [cond("mcp.method", "eq", "tools/call")]},
            {"name": "protocol", "priority": 10, "effect": "Allow", "conditions": [cond("mcp.method", "exists")]},
        ],
    }
    compiled = impl.compile(allowlist)
    prepared = impl.request(method="POST", url=URL, body=body_of(READ))

    def rule(message: Any) -> str | None:
        return compiled.evaluate({"method": "POST", "url": URL, "body": body_of(message)}).rule

    assert rule(READ) == "listed"
    assert compiled.evaluate(prepared).rule == compiled.evaluate(prepared).rule == "listed"  # prepared once, reused
    assert rule(call("delete_file")) == "unlisted"
    assert rule(call(None)) == "unlisted"
    assert rule(rpc("initialize", {"protocolVersion": "2025-06-18"})) == "protocol"
    assert rule([READ]) == "no-batches"
    assert rule(b"plain text") is None


# -- mcp_call: the audit record's view -------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "expected"), [
    (body_of(READ), McpCall("tools/call", "read_file")),
    (json.dumps(READ), McpCall("tools/call", "read_file")),
    (bytearray(body_of(READ)), McpCall("tools/call", "read_file")),
    (body_of(rpc("tools/list")), McpCall("tools/list", None)),
    (body_of({"jsonrpc": "2.0", "method": "notifications/initialized"}), McpCall("notifications/initialized", None)),
    (body_of(call(7)), McpCall("tools/call", None)),
    (body_of(rpc("initialize", {"name": "not-a-tool"})), McpCall("initialize", None)),
    (body_of([READ]), None),
    (body_of({"jsonrpc": "2.0", "id": 1, "result": {}}), None),
    (body_of({"jsonrpc": "1.0", "method": "tools/call"}), None),
    (b"\xef\xbb\xbf" + body_of(READ), McpCall("tools/call", "read_file")),  # a byte order mark, as servers take it
    (b"[" * 100_000, None),
    (b"\xff", None),
    (b"", None),
    (None, None),
])
def test_mcp_call_reads_a_raw_body_by_the_same_rules(body, expected):
    assert mcp_call(body) == expected


# -- the shipped examples --------------------------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"


@pytest.mark.parametrize(("example", "message", "effect", "rule"), [
    ("mcp-tool-allowlist", call("read_file", {"path": "/etc/passwd"}), "Allow", "mcp-listed-tools"),
    ("mcp-tool-allowlist", call("delete_file"), "Deny", "mcp-unlisted-tool"),
    ("mcp-tool-allowlist", call(["read_file"]), "Deny", "mcp-unlisted-tool"),
    ("mcp-tool-allowlist", rpc("initialize", {"protocolVersion": "2025-06-18"}), "Allow", "mcp-protocol"),
    ("mcp-tool-allowlist", rpc("tools/list"), "Allow", "mcp-protocol"),
    ("mcp-tool-allowlist", [call("read_file")], "Deny", "mcp-no-batches"),
    ("mcp-tool-allowlist", {"query": "not mcp"}, "Deny", None),
    ("mcp-approval-required", call("read_file", {"path": "/home/ann/notes.txt"}), "Allow", "mcp-tool-calls"),
    ("mcp-approval-required", call("read_file", {"path": "/etc/shadow"}), "Deny", "mcp-no-system-paths"),
    ("mcp-approval-required", call("write_file", {"path": "//etc/cron.d/x"}), "Deny", "mcp-no-system-paths"),
    ("mcp-approval-required", call("read_file", {"path": "docs/../../etc/passwd"}), "Deny", "mcp-no-system-paths"),
    ("mcp-approval-required", call("read_file", {"path": "/etcetera/x"}), "Allow", "mcp-tool-calls"),
    ("mcp-approval-required", call("delete_file", {"path": "/tmp/old.log"}), "Hitl", "mcp-needs-a-human"),
    ("mcp-approval-required", call("send_payment", {"amount": 10}), "Hitl", "mcp-needs-a-human"),
    ("mcp-approval-required", rpc("tools/list"), "Allow", "mcp-protocol"),
    ("mcp-approval-required", [call("send_payment"), call("read_file")], "Deny", "mcp-no-batches"),
])
def test_the_shipped_mcp_examples_decide_as_their_comments_say(impl, example, message, effect, rule):  # noqa: F811
    compiled = impl.compile(load_document((EXAMPLES / f"{example}.yaml").read_text()))
    decision = compiled.evaluate({"method": "POST", "url": URL, "body": body_of(message)})
    assert (decision.effect, decision.rule) == (effect, rule)
    assert compiled.reads_body
