#!/usr/bin/env python3
"""Check a Vectra compliance export's inclusion proof, knowing nothing of Vectra but its documented formulas.

    python3 verify_export.py export.json        (or: ... | python3 verify_export.py -)

Standard library only, so an auditor can read all of it and run it anywhere. It checks that every included
record hashes to its ``hash`` (schema 2: SHA-256 of ASCII(prevHash + SHA-256(record text)); schema 1:
SHA-256(record text)) and links to the hash before it, that the steps are the consecutive records from the
first included one to the last, that folding every step from ``anchorHash`` (h = SHA-256(ASCII(h + digest)) for a
record shown by its digest) ends at ``endHash``, and that the timeline says what the included records say.
Exit 0 when all of it holds; 1 with the reason otherwise. Keep ``head`` and compare it with a copy kept elsewhere:
the proof can't show that the chain was not rewritten whole.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from typing import Any

ALGORITHM = "vectra-audit-chain-v2"
HEX64 = re.compile(r"[0-9a-f]{64}")
# the timeline's fields that are copies of a record's own
TIMELINE_FIELDS = {"auditId": "id", "time": "time", "action": "action", "method": "method", "url": "url",
                   "decision": "decision", "rule": "rule", "reason": "reason"}


class Broken(Exception):
    """The proof does not hold; the message says where."""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify(export: Any) -> str:
    """A one-line summary when the export's proof holds; Broken otherwise."""
    chain = export.get("chain") if isinstance(export, dict) else None
    if not isinstance(chain, dict) or chain.get("algorithm") != ALGORITHM:
        raise Broken(f"no chain of algorithm {ALGORITHM!r} in the export")
    steps = chain.get("steps")
    if not isinstance(steps, list):
        raise Broken("chain.steps is not a list")
    records = fold(chain, steps)
    check_timeline(export.get("timeline", []), records)
    check_head(chain, steps)
    head = chain.get("head") or {}
    return (f"OK: {len(records)} included records, {len(steps)} steps, anchor {chain['anchorHash']}, "
            f"end {chain['endHash']}, head record {head.get('id')} {head.get('hash')}")


def fold(chain: dict[str, Any], steps: list[Any]) -> dict[int, dict[str, Any]]:
    """Walk the steps from the anchor; the included records by id."""
    if not steps:
        if chain.get("anchorHash") is not None or chain.get("endHash") is not None:
            raise Broken("no steps, yet an anchor or end hash")
        return {}
    running, version, records = chain.get("anchorHash"), 1, {}
    if not isinstance(running, str) or not HEX64.fullmatch(running):
        raise Broken("anchorHash is not 64 lower-case hex digits")
    if not all(isinstance(step, dict) and "record" in step for step in (steps[0], steps[-1])):
        raise Broken("the first and the last step must be included records")
    for index, step in enumerate(steps):
        where = f"step {index}"
        if not isinstance(step, dict) or type(step.get("id")) is not int:
            raise Broken(f"{where}: not an object with an integer id")
        if index and step["id"] != steps[index - 1]["id"] + 1:
            raise Broken(f"{where}: id {step['id']} does not follow {steps[index - 1]['id']}")
        where = f"step {index} (record {step['id']})"
        if "record" in step:
            running, version, records[step["id"]] = included(step, running, version, where)
        else:
            digest = step.get("contentDigest")
            if not isinstance(digest, str) or not HEX64.fullmatch(digest):
                raise Broken(f"{where}: neither a record nor a contentDigest of 64 hex digits")
            running, version = sha256(running + digest), 2
    if running != chain.get("endHash"):
        raise Broken(f"the fold ends at {running}, not at endHash {chain.get('endHash')}")
    return records


def included(step: dict[str, Any], running: str, version: int, where: str) -> tuple[str, int, dict[str, Any]]:
    """Check one included record after ``running``; its hash, its schema version and the record."""
    text = step["record"]
    try:
        record = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        record = None
    if not isinstance(record, dict):
        raise Broken(f"{where}: record is not a JSON object's text")
    if record.get("id") != step["id"]:
        raise Broken(f"{where}: the record says id {record.get('id')}")
    if record.get("prevHash") != running:
        raise Broken(f"{where}: prevHash {record.get('prevHash')} is not the running hash {running}")
    schema = record.get("schemaVersion")
    if schema == 2:
        expected = sha256(running + sha256(text))
    elif schema == 1 and version == 1:
        expected = sha256(text)
    else:
        raise Broken(f"{where}: schemaVersion {schema!r} can't follow schema {version}")
    if step.get("hash") != expected:
        raise Broken(f"{where}: the record hashes to {expected}, not to its hash {step.get('hash')}")
    return expected, schema, record


def check_timeline(timeline: Any, records: dict[int, dict[str, Any]]) -> None:
    """Every timeline entry is an included record, and says what that record says."""
    if not isinstance(timeline, list):
        raise Broken("timeline is not a list")
    for index, event in enumerate(timeline):
        record = records.get(event.get("auditId")) if isinstance(event, dict) else None
        if record is None:
            raise Broken(f"timeline[{index}] is not one of the proof's included records")
        for name, field in TIMELINE_FIELDS.items():
            if event.get(name) != record.get(field):
                raise Broken(f"timeline[{index}].{name} is {event.get(name)!r}, the record says {record.get(field)!r}")


def check_head(chain: dict[str, Any], steps: list[Any]) -> None:
    head = chain.get("head")
    if not steps:
        return
    if not isinstance(head, dict) or type(head.get("id")) is not int or head["id"] < steps[-1]["id"]:
        raise Broken("head is missing or before the last step")
    if head["id"] == steps[-1]["id"] and head.get("hash") != chain["endHash"]:
        raise Broken("head is the last step, yet its hash is not endHash")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} EXPORT.json (or - for standard input)", file=sys.stderr)
        return 2
    try:
        if argv[1] == "-":
            export = json.load(sys.stdin)
        else:
            with open(argv[1], encoding="utf-8") as file:
                export = json.load(file)
        print(verify(export))
    except (OSError, ValueError) as error:
        print(f"FAILED: can't read the export: {error}", file=sys.stderr)
        return 1
    except Broken as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
