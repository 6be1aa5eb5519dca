#!/usr/bin/env python3
"""Check a Vectra compliance export, knowing nothing of Vectra but its documented formulas.

    python3 verify_export.py export.json [--head HASH]     (or - for standard input)

Standard library only, so an auditor can read all of it and run it anywhere (Python 3.9 or later). It checks

- the proof: every included record hashes to its ``hash`` (schema 2: SHA-256 of ASCII(prevHash + SHA-256(record
  text)); schema 1: SHA-256(record text)) and links to the hash before it; the steps are the consecutive records
  from the first included one to the chain's head; folding every step from ``anchorHash`` (h = SHA-256(ASCII(h +
  digest)) for a record shown by its digest) ends at ``head.hash``, which it prints: compare it with a head hash
  you hold (``GET /audit/verify``'s ``headHash``), or give that hash as ``--head`` to have it compared;
- the scope: for a session, the included records are the session's own chain from its ``session.created`` with
  no record of it left out between them (each one's ``details.sessionPrevHash`` is the previous one's hash), all
  of the session and of its agent; for an agent over a period, every included record is that agent's and within
  the period; the ``session`` and ``agent`` sections name the same session and agent;
- the timeline: exactly the included records, in order, each entry saying what its record says.

Exit 0 with ``OK: ...`` when all of it holds; 1 with ``FAILED: <where and why>`` otherwise, whatever the input.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from typing import Any

ALGORITHM = "vectra-audit-chain-v2"
HEX64 = re.compile(r"[0-9a-f]{64}")
RECORD_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")  # sorts as time
SESSION_SCOPE, PERIOD_SCOPE = {"sessionId"}, {"agentId", "from", "to"}
# a timeline entry's fields -> the record's field each one copies (``tool``: see tool_of)
TIMELINE_FIELDS = {"auditId": "id", "time": "time", "action": "action", "method": "method", "url": "url",
                   "tool": None, "decision": "decision", "rule": "rule", "reason": "reason"}


class Broken(Exception):
    """The export does not hold; the message says where."""


def shown(value: Any) -> str:
    """A value of the export as a message may quote it: ASCII, and short."""
    text = ascii(value)
    return text if len(text) <= 80 else text[:77] + "..."


def same(value: Any, other: Any) -> bool:
    """Equal JSON values of the same type (in Python, 1 == 1.0 == True)."""
    return type(value) is type(other) and value == other


def sha256(text: str) -> str:
    try:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
    except UnicodeEncodeError as error:  # a lone surrogate ("\ud800") is no UTF-8 text
        raise Broken(f"a text that is not UTF-8 ({error.reason})") from None


def parse(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise Broken(f"{what} is nested too deeply") from None
    except ValueError as error:
        raise Broken(f"{what} is not JSON: {shown(str(error))}") from None


def verify(export: Any, expected_head: str | None = None) -> str:
    """A summary when the export holds; Broken otherwise."""
    if not isinstance(export, dict):
        raise Broken("the export is not a JSON object")
    chain = export.get("chain")
    if not isinstance(chain, dict) or chain.get("algorithm") != ALGORITHM:
        raise Broken(f"no chain of algorithm {ALGORITHM!r} in the export")
    steps = chain.get("steps")
    if not isinstance(steps, list):
        raise Broken("chain.steps is not a list")
    end, records = fold(chain, steps)
    scope = check_scope(export, records)
    check_timeline(export.get("timeline"), records)
    if end is None:
        if expected_head is not None:
            raise Broken("the export proves no records, so no fold ends at the head hash given")
        return f"OK: {scope}: no records, nothing to prove"
    head_id = check_head(chain, steps, end)
    if expected_head is not None and end != expected_head:
        raise Broken(f"the fold ends at {end}, not at the head hash given {expected_head}")
    compare = ("the head hash given" if expected_head is not None
               else "compare it with a head hash you hold (GET /audit/verify's headHash)")
    return (f"OK: {scope}: {len(records)} records shown in {len(steps)} steps from anchor {chain['anchorHash']}; "
            f"the fold ends at the chain's head, record {head_id}, hash {end}: {compare}")


def fold(chain: dict[str, Any], steps: list[Any]) -> tuple[str | None, list[tuple[str, dict[str, Any]]]]:
    """Walk the steps from the anchor: where the fold ends, and the included records in order with their hashes."""
    if not steps:
        if chain.get("anchorHash") is not None or chain.get("endHash") is not None:
            raise Broken("no steps, yet an anchor or end hash")
        return None, []
    running, version, records = chain.get("anchorHash"), 1, []
    if not isinstance(running, str) or not HEX64.fullmatch(running):
        raise Broken("anchorHash is not 64 lower-case hex digits")
    if not isinstance(steps[0], dict) or "record" not in steps[0]:
        raise Broken("the first step must be an included record")
    for index, step in enumerate(steps):
        where = f"step {index}"
        if not isinstance(step, dict) or type(step.get("id")) is not int:
            raise Broken(f"{where}: not an object with an integer id")
        if index and step["id"] != steps[index - 1]["id"] + 1:
            raise Broken(f"{where}: id {step['id']} does not follow {steps[index - 1]['id']}")
        where = f"step {index} (record {step['id']})"
        if "record" in step:
            running, version, record = included(step, running, version, where)
            records.append((running, record))
        else:
            digest = step.get("contentDigest")
            if not isinstance(digest, str) or not HEX64.fullmatch(digest):
                raise Broken(f"{where}: neither a record nor a contentDigest of 64 hex digits")
            running, version = sha256(running + digest), 2
    if not same(chain.get("endHash"), running):
        raise Broken(f"the fold ends at {running}, not at endHash {shown(chain.get('endHash'))}")
    return running, records


def included(step: dict[str, Any], running: str, version: int, where: str) -> tuple[str, int, dict[str, Any]]:
    """Check one included record after ``running``; its hash, its schema version and the record."""
    text = step["record"]
    record = parse(text, f"{where}: record") if isinstance(text, str) else None
    if not isinstance(record, dict):
        raise Broken(f"{where}: record is not a JSON object's text")
    if not same(record.get("id"), step["id"]):
        raise Broken(f"{where}: the record says id {shown(record.get('id'))}")
    if not same(record.get("prevHash"), running):
        raise Broken(f"{where}: prevHash {shown(record.get('prevHash'))} is not the running hash {running}")
    schema = record.get("schemaVersion")
    if same(schema, 2):
        expected = sha256(running + sha256(text))
    elif same(schema, 1) and version == 1:
        expected = sha256(text)
    else:
        raise Broken(f"{where}: schemaVersion {shown(schema)} can't follow schema {version}")
    if not same(step.get("hash"), expected):
        raise Broken(f"{where}: the record hashes to {expected}, not to its hash {shown(step.get('hash'))}")
    return expected, schema, record


def check_head(chain: dict[str, Any], steps: list[Any], end: str) -> int:
    """The head is the last step, and its hash is where the fold ends; its id."""
    head = chain.get("head")
    if not isinstance(head, dict) or not same(head.get("id"), steps[-1]["id"]):
        raise Broken(f"head is not the last step (record {steps[-1]['id']}): the proof must reach the head")
    if not same(head.get("hash"), end):
        raise Broken(f"head.hash {shown(head.get('hash'))} is not where the fold ends, {end}")
    return head["id"]


def check_scope(export: dict[str, Any], records: list[tuple[str, dict[str, Any]]]) -> str:
    """The included records are the scope's, and the session and agent sections name its session and agent; the
    scope in words."""
    scope = export.get("scope")
    if not isinstance(scope, dict) or not all(isinstance(v, str) for v in scope.values()) \
            or set(scope) not in (SESSION_SCOPE, PERIOD_SCOPE):
        raise Broken("scope is neither {sessionId} nor {agentId, from, to} of strings")
    if set(scope) == SESSION_SCOPE:
        agent_id = check_session(export.get("session"), scope["sessionId"], records)
    else:
        agent_id = check_period(export.get("session"), scope, records)
    agent = export.get("agent")
    if not isinstance(agent, dict) or not same(agent.get("id"), agent_id):
        raise Broken(f"agent.id is not the agent of the scope, {shown(agent_id)}")
    if set(scope) == SESSION_SCOPE:
        return f"session {shown(scope['sessionId'])} of agent {shown(agent_id)}"
    return f"agent {shown(agent_id)} from {scope['from']} to {scope['to']}"


def check_session(session: Any, session_id: str, records: list[tuple[str, dict[str, Any]]]) -> str:
    """The records are the session's chain from its start, without a gap, all of its agent; the agent's id."""
    if not isinstance(session, dict) or not same(session.get("id"), session_id) \
            or not isinstance(session.get("agentId"), str):
        raise Broken(f"session is not the session of the scope, {shown(session_id)}, with its agentId")
    agent_id = session["agentId"]
    if not records:
        raise Broken("a session's export must show its records, from its session.created")
    previous = None
    for index, (record_hash, record) in enumerate(records):
        where = f"record {record.get('id')}"
        details = record.get("details")
        if not isinstance(details, dict) or not same(details.get("sessionId"), session_id):
            raise Broken(f"{where} is not of session {shown(session_id)} (details.sessionId)")
        if not same(record.get("agentId"), agent_id):
            raise Broken(f"{where} is about agent {shown(record.get('agentId'))}, not the session's {shown(agent_id)}")
        if index == 0 and (record.get("action") != "session.created" or "sessionPrevHash" not in details
                           or details["sessionPrevHash"] is not None):
            raise Broken(f"{where}, the first shown, is not the session's start (session.created, "
                         "sessionPrevHash null)")
        if index and not same(details.get("sessionPrevHash"), previous):
            raise Broken(f"{where}: its sessionPrevHash {shown(details.get('sessionPrevHash'))} is not the hash of "
                         f"the record shown before it: a record of the session is left out between them")
        previous = record_hash
    status = session.get("status")
    if status in ("completed", "interrupted") and not any(r.get("action") == f"session.{status}" for _, r in records):
        raise Broken(f"the session is {status}, yet its session.{status} record is not shown")
    return agent_id


def check_period(session: Any, scope: dict[str, str], records: list[tuple[str, dict[str, Any]]]) -> str:
    """Every record is the agent's and within the period; the agent's id."""
    start, end = scope["from"], scope["to"]
    if not RECORD_TIME.fullmatch(start) or not RECORD_TIME.fullmatch(end) or start > end:
        raise Broken("scope.from and scope.to are not two ordered record times (2026-01-31T12:00:00.000000Z)")
    if session is not None:
        raise Broken("an agent's period has no session, yet session is not null")
    for _, record in records:
        where = f"record {record.get('id')}"
        if not same(record.get("agentId"), scope["agentId"]):
            raise Broken(f"{where} is about agent {shown(record.get('agentId'))}, not {shown(scope['agentId'])}")
        time = record.get("time")
        if not isinstance(time, str) or not RECORD_TIME.fullmatch(time) or not start <= time <= end:
            raise Broken(f"{where} has time {shown(time)}, not within {start} to {end}")
    return scope["agentId"]


def check_timeline(timeline: Any, records: list[tuple[str, dict[str, Any]]]) -> None:
    """The timeline is the included records, in order, each entry saying what its record says."""
    if not isinstance(timeline, list) or len(timeline) != len(records):
        raise Broken(f"timeline is not a list of the {len(records)} included records")
    for index, (_, record) in enumerate(records):
        event = timeline[index]
        if not isinstance(event, dict) or set(event) != set(TIMELINE_FIELDS):
            raise Broken(f"timeline[{index}] is not an object of exactly {', '.join(TIMELINE_FIELDS)}")
        for name, field in TIMELINE_FIELDS.items():
            says = tool_of(record) if field is None else record.get(field)
            if not same(event[name], says):
                raise Broken(f"timeline[{index}].{name} is {shown(event[name])}, record {record.get('id')} says "
                             f"{shown(says)}")


def tool_of(record: dict[str, Any]) -> str | None:
    """The MCP tool of a recorded ``tools/call``: ``details.mcp.tool`` when it is a string, else null."""
    details = record.get("details")
    mcp = details.get("mcp") if isinstance(details, dict) else None
    tool = mcp.get("tool") if isinstance(mcp, dict) else None
    return tool if isinstance(tool, str) else None


def read(source: str) -> Any:
    try:
        if source == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(source, "rb") as file:
                data = file.read()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise Broken(f"can't read the export: {shown(str(error))}") from None
    return parse(text, "the export")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Check a Vectra compliance export.")
    parser.add_argument("export", help="the export's JSON file, or - for standard input")
    parser.add_argument("--head", metavar="HASH", help="the head hash you hold: the fold must end at it")
    args = parser.parse_args(argv[1:])
    head = None if args.head is None else args.head.lower()
    if head is not None and not HEX64.fullmatch(head):
        parser.error("--head must be 64 hex digits")
    try:
        print(verify(read(args.export), head))
    except Broken as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # a case the checks above missed: still a failure, never a traceback
        print(f"FAILED: the export is malformed ({type(error).__name__}: {shown(str(error))})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
