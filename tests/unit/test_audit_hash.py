"""The audit record's hash: schema 2 chains SHA-256 of the RFC 8785 canonical JSON of every field but ``hash``
(the content digest) onto the previous hash; schema 1 records, hashed as the digest alone, keep verifying."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
import rfc8785

from vectra.domain.audit import (
    GENESIS_HASH,
    SCHEMA_VERSION,
    AuditEntry,
    AuditRecord,
    StoredAudit,
    chain_hash,
    content_digest,
    record_hash,
    seal,
)
from vectra.services.audit import verify_chain

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
    '"risk":0.25,"rule":"r1","schemaVersion":2,"source":"proxy","time":"2026-01-31T12:00:00.000000Z",'
    '"trust":0.5,"upstreamStatus":200,"url":"https://api.example.com/v1/caf\u00e9?q=1"}'
).encode()
KNOWN_DIGEST = "e6e40058fde1d892a264238afe52a8ac7e125c2d9891468461fe7c0ff019eeb1"
# sha256(("0" * 64 + KNOWN_DIGEST).encode("ascii"))
KNOWN_HASH = "ce5328a34aac3eff5e8a06afd1556ad35bd8ed829957fe2d4d7bc7144634c60f"
# The same record as schema 1 sealed it: hash = sha256(canonical), nothing chained outside.
CANONICAL_V1 = CANONICAL.replace(b'"schemaVersion":2', b'"schemaVersion":1')
KNOWN_HASH_V1 = "0072e1626e38cd1ef511abcb24471fc024b74b63ccc371ae276674f781891a6a"


def test_a_fixed_record_canonicalises_and_hashes_to_the_known_vector() -> None:
    sealed = seal(ENTRY, record_id=1, time=TIME, prev_hash=GENESIS_HASH)

    assert sealed.canonical == CANONICAL
    assert hashlib.sha256(CANONICAL).hexdigest() == content_digest(CANONICAL) == KNOWN_DIGEST
    assert hashlib.sha256(("0" * 64 + KNOWN_DIGEST).encode("ascii")).hexdigest() == KNOWN_HASH
    assert sealed.record.hash == chain_hash(GENESIS_HASH, KNOWN_DIGEST) == KNOWN_HASH
    assert sealed.record.schema_version == SCHEMA_VERSION == 2


def test_a_schema_1_record_keeps_verifying_by_its_own_formula() -> None:
    assert record_hash(1, GENESIS_HASH, CANONICAL_V1) == KNOWN_HASH_V1
    assert verify_chain([_stored(CANONICAL_V1, KNOWN_HASH_V1)]).valid


def test_a_schema_2_record_may_follow_schema_1_records_but_never_the_reverse() -> None:
    first = _stored(CANONICAL_V1, KNOWN_HASH_V1)
    second = seal(ENTRY, record_id=2, time=TIME, prev_hash=KNOWN_HASH_V1)
    upgraded = verify_chain([first, _stored(second.canonical, second.record.hash)])
    v2_first = seal(ENTRY, record_id=1, time=TIME, prev_hash=GENESIS_HASH)
    v1_after = CANONICAL_V1.replace(b'"id":1', b'"id":2').replace(GENESIS_HASH.encode(), v2_first.record.hash.encode())
    downgraded = verify_chain([_stored(v2_first.canonical, v2_first.record.hash),
                               _stored(v1_after, hashlib.sha256(v1_after).hexdigest())])

    assert upgraded.valid and upgraded.head_hash == second.record.hash
    assert (downgraded.valid, downgraded.first_broken_id) == (False, 2)


def test_a_schema_2_hash_recomputed_as_schema_1_does_not_verify() -> None:
    assert not verify_chain([_stored(CANONICAL, KNOWN_DIGEST)]).valid


def test_the_genesis_prev_hash_is_64_zeros() -> None:
    assert GENESIS_HASH == "0" * 64


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(AuditEntry)])
def test_every_entry_field_is_inside_the_hash(name: str) -> None:
    """A field added to the entry later is covered too: the hashed object is built from all fields."""
    base = seal(ENTRY, record_id=1, time=TIME, prev_hash=GENESIS_HASH).record.hash
    changed = dataclasses.replace(ENTRY, **{name: _other_value(getattr(ENTRY, name))})

    assert seal(changed, record_id=1, time=TIME, prev_hash=GENESIS_HASH).record.hash != base


@pytest.mark.parametrize(
    "change", [{"id": 2}, {"time": "2026-01-31T12:00:00.000001Z"}, {"prev_hash": "f" * 64}, {"schema_version": 1}]
)
def test_the_chain_fields_and_schema_version_are_inside_the_hash(change: dict) -> None:
    record = seal(ENTRY, record_id=1, time=TIME, prev_hash=GENESIS_HASH).record
    document = dataclasses.replace(record, **change).document()

    assert "hash" not in document
    assert content_digest(_jcs(document)) != content_digest(_jcs(record.document()))


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


def _stored(canonical: bytes, hash_: str) -> StoredAudit:
    return StoredAudit(id=json.loads(canonical)["id"], canonical=canonical.decode(), hash=hash_, columns={})


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
