"""The audit record's hash: SHA-256 over the RFC 8785 canonical JSON of every field but ``hash``."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
import rfc8785

from vectra.domain.audit import GENESIS_HASH, SCHEMA_VERSION, AuditEntry, AuditRecord, seal

ENTRY = AuditEntry(
    actor="operator",
    source="proxy",
    action="proxy.decision",
    agent_id="3fa85f64-5717-4562-b3fc-2c963f66afa6",
    method="GET",
    url="https://api.example.com/v1/caf\u00e9?q=1",
    decision="Allow",
    rule="r1",
    reason="ok",
    risk=0.25,
    trust=0.5,
    upstream_status=200,
    latency_ms=1.5,
    details={"b": 1.0, "a": [1e21, 1e-7, -0.0], "\u00e9": "x", "\U0001f600": "emoji", "\ufb01": "ligature",
             "n": None, "t": True},
)
TIME = "2026-01-31T12:00:00.000000Z"

# Written by hand from RFC 8785: keys in UTF-16 code-unit order (so U+1F600, a surrogate pair starting
# 0xD83D, sorts before U+FB01, unlike code-point order), numbers in ECMAScript form (1.0 -> 1,
# 1e21 -> 1e+21, 1e-7 -> 1e-7, -0.0 -> 0), non-ASCII text as raw UTF-8, no whitespace.
CANONICAL = (
    '{"action":"proxy.decision","actor":"operator","agentId":"3fa85f64-5717-4562-b3fc-2c963f66afa6",'
    '"decision":"Allow","details":{"a":[1e+21,1e-7,0],"b":1,"n":null,"t":true,"\u00e9":"x",'
    '"\U0001f600":"emoji","\ufb01":"ligature"},"id":1,"latencyMs":1.5,"method":"GET",'
    '"prevHash":"0000000000000000000000000000000000000000000000000000000000000000","reason":"ok",'
    '"risk":0.25,"rule":"r1","schemaVersion":1,"source":"proxy","time":"2026-01-31T12:00:00.000000Z",'
    '"trust":0.5,"upstreamStatus":200,"url":"https://api.example.com/v1/caf\u00e9?q=1"}'
).encode()
KNOWN_HASH = "0072e1626e38cd1ef511abcb24471fc024b74b63ccc371ae276674f781891a6a"


def test_a_fixed_record_canonicalises_and_hashes_to_the_known_vector() -> None:
    sealed = seal(ENTRY, record_id=1, time=TIME, prev_hash=GENESIS_HASH)

    assert sealed.canonical == CANONICAL
    assert hashlib.sha256(CANONICAL).hexdigest() == KNOWN_HASH
    assert sealed.record.hash == KNOWN_HASH
    assert sealed.record.schema_version == SCHEMA_VERSION == 1


def test_the_genesis_prev_hash_is_64_zeros() -> None:
    assert GENESIS_HASH == "0" * 64


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(AuditEntry)])
def test_every_entry_field_is_inside_the_hash(name: str) -> None:
    """A field added to the entry later is covered too: the hashed object is built from all fields."""
    base = seal(ENTRY, record_id=1, time=TIME, prev_hash=GENESIS_HASH).record.hash
    changed = dataclasses.replace(ENTRY, **{name: _other_value(getattr(ENTRY, name))})

    assert seal(changed, record_id=1, time=TIME, prev_hash=GENESIS_HASH).record.hash != base


@pytest.mark.parametrize(
    "change", [{"id": 2}, {"time": "2026-01-31T12:00:00.000001Z"}, {"prev_hash": "f" * 64}, {"schema_version": 2}]
)
def test_the_chain_fields_and_schema_version_are_inside_the_hash(change: dict) -> None:
    record = seal(ENTRY, record_id=1, time=TIME, prev_hash=GENESIS_HASH).record
    document = dataclasses.replace(record, **change).document()

    assert "hash" not in document
    assert hashlib.sha256(_jcs(document)).hexdigest() != record.hash


def test_the_hashed_document_has_every_field_of_the_record_but_hash_under_its_rest_name() -> None:
    record = seal(ENTRY, record_id=1, time=TIME, prev_hash=GENESIS_HASH).record

    assert set(record.document()) == {
        "id", "time", "actor", "agentId", "source", "action", "method", "url", "decision", "rule", "reason",
        "risk", "trust", "upstreamStatus", "latencyMs", "details", "schemaVersion", "prevHash",
    }


def test_a_record_read_back_from_its_document_is_the_same_record() -> None:
    record = seal(ENTRY, record_id=7, time=TIME, prev_hash="a" * 64).record

    assert AuditRecord.from_document(json.loads(_jcs(record.document())), record.hash) == record


def test_values_json_cannot_hold_exactly_are_refused() -> None:
    with pytest.raises(ValueError):
        seal(dataclasses.replace(ENTRY, risk=float("nan")), record_id=1, time=TIME, prev_hash=GENESIS_HASH)
    with pytest.raises(ValueError):
        seal(dataclasses.replace(ENTRY, details={"n": 2**60}), record_id=1, time=TIME, prev_hash=GENESIS_HASH)


def _jcs(document: dict) -> bytes:
    return rfc8785.dumps(document)


def _other_value(value: object) -> object:
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, float):
        return value + 0.125
    if isinstance(value, int):
        return value + 1
    if isinstance(value, dict):
        return {**value, "extra": 1}
    return "set"
