"""Audit canonical JSON: the json.dumps fast path writes exactly the rfc8785 bytes, or raises what rfc8785 raises."""

from __future__ import annotations

import dataclasses
import enum
import math
import types
from collections import OrderedDict
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vectra.domain import jcs
from vectra.domain.audit import GENESIS_HASH, AuditEntry, AuditSource, canonical_json, seal

TIME = "2026-01-31T12:00:00.000000Z"
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Characters where JSON escaping or JCS key order could part: the escaped ones, U+007F, the line and paragraph
# separators, the top of the BMP (which sorts after surrogate pairs in UTF-16) and astral characters.
BMP_SPECIALS = [chr(c) for c in range(0x20)] + [
    '"', "\\", "/", "\x7f", "\x80", "\u2028", "\u2029", "\ud7ff", "\ue000", "\ufb01", "\ufeff", "\uffff",
    "a", "B", "\u00e9",
]
ASTRAL_SPECIALS = ["\U00010000", "\U0001f600", "\U0010ffff"]
CHARACTERS = st.one_of(st.sampled_from(BMP_SPECIALS + ASTRAL_SPECIALS), st.characters(exclude_categories=("Cs",)))
BMP_CHARACTERS = st.one_of(
    st.sampled_from(BMP_SPECIALS), st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",))
)
TEXT = st.text(CHARACTERS, max_size=12)
BMP_TEXT = st.text(BMP_CHARACTERS, max_size=12)  # keys the fast path takes

SAFE = 2**53 - 1  # the largest integer rfc8785 accepts
SAFE_INTEGERS = st.one_of(st.integers(-SAFE, SAFE), st.integers(-SAFE, -SAFE + 3), st.integers(SAFE - 3, SAFE))
INTEGERS = st.one_of(SAFE_INTEGERS, st.integers(), st.integers(-SAFE - 3, -SAFE), st.integers(SAFE, SAFE + 3))


def _around(x: float) -> list[float]:
    """``x`` and its neighbouring doubles, both signs."""
    near = [math.nextafter(x, -math.inf), x, math.nextafter(x, math.inf)]
    return near + [-v for v in near]


# Floats the fast path takes: plain decimals between 1e-4 and 1e16, and integral ones below 2**53.
PLAIN_FLOATS = st.one_of(
    st.floats(min_value=1e-4, max_value=1e16, exclude_max=True),
    st.floats(min_value=-1e16, max_value=-1e-4, exclude_min=True),
    st.integers(-(2**53) + 1, 2**53 - 1).map(float),
    st.sampled_from([0.0, -0.0, 0.1, 0.25, 1.5, 0.12, 0.55, 1.0, 1e-4, -1e-4, 9999999999999998.0]),
)
FLOATS = st.one_of(
    PLAIN_FLOATS,
    st.floats(),  # any double, NaN and infinities included
    st.integers(-(2**70), 2**70).map(float),  # integral, on both sides of 2**53 and 1e16
    st.floats(min_value=1e-6, max_value=1e-3),  # around repr's switch to exponents at 1e-4
    st.floats(min_value=1e15, max_value=1e22),  # around 1e16 (repr) and 1e21 (ECMAScript)
    st.floats(min_value=-1e-3, max_value=1e-3),
    st.sampled_from([5e-324, 1.7976931348623157e308]
                    + [v for x in (1e-4, 1e-7, 1e16, 1e21, 2.0**53) for v in _around(x)]),
)


def _json_like(scalars: st.SearchStrategy[Any], keys: st.SearchStrategy[str], leaves: int) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=5),
            st.lists(children, max_size=5).map(tuple),
            st.dictionaries(keys, children, max_size=6),
        ),
        max_leaves=leaves,
    )


# Values made only of what the fast path takes (so it is exercised, edges included), and values of anything;
# documents (records) hold a few smaller ones.
PLAIN_SCALARS = st.one_of(st.none(), st.booleans(), SAFE_INTEGERS, PLAIN_FLOATS, TEXT)
ANY_SCALARS = st.one_of(st.none(), st.booleans(), INTEGERS, FLOATS, TEXT)
VALUES = st.one_of(_json_like(PLAIN_SCALARS, BMP_TEXT, 25), _json_like(ANY_SCALARS, TEXT, 25))
DOCUMENTS = st.one_of(
    st.dictionaries(BMP_TEXT, _json_like(PLAIN_SCALARS, BMP_TEXT, 6), max_size=18),
    st.dictionaries(TEXT, _json_like(ANY_SCALARS, TEXT, 6), max_size=18),
)


class Colour(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Shouting(str):
    """A str subclass whose own methods lie; canonical JSON holds its characters."""

    def __str__(self) -> str:
        return self.upper()

    def encode(self, *args: Any, **kwargs: Any) -> bytes:  # type: ignore[override]
        return b"lies"


def _outcome(canonicalise: Any, value: Any) -> tuple[str, Any]:
    try:
        return "bytes", canonicalise(value)
    except Exception as exc:
        return "raises", type(exc)


def _assert_same_as_rfc8785(value: Any) -> None:
    assert _outcome(jcs.dumps, value) == _outcome(rfc8785.dumps, value)


@SETTINGS
@given(VALUES)
def test_any_json_like_value_canonicalises_to_the_rfc8785_bytes_or_raises_the_same_error(value: Any) -> None:
    _assert_same_as_rfc8785(value)


@SETTINGS
@given(DOCUMENTS)
def test_any_document_canonicalises_to_the_rfc8785_bytes_or_raises_the_same_error(document: dict) -> None:
    assert _outcome(canonical_json, document) == _outcome(rfc8785.dumps, document)


@SETTINGS
@given(st.lists(FLOATS, min_size=1, max_size=10))
def test_any_float_canonicalises_to_the_rfc8785_bytes(numbers: list[float]) -> None:
    _assert_same_as_rfc8785(numbers)


@SETTINGS
@given(st.dictionaries(st.text(st.sampled_from(BMP_SPECIALS + ASTRAL_SPECIALS), max_size=4), INTEGERS, max_size=12))
def test_keys_sort_by_utf16_code_units_even_where_code_point_order_differs(document: dict) -> None:
    _assert_same_as_rfc8785(document)


def test_every_unicode_scalar_value_is_escaped_or_not_exactly_as_rfc8785_does() -> None:
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)

    assert jcs.dumps(every) == rfc8785.dumps(every)
    assert jcs.dumps({every[:0x200]: 1}) == rfc8785.dumps({every[:0x200]: 1})


@pytest.mark.parametrize(
    "value",
    [
        float("nan"), float("inf"), -float("inf"), 2**53, -(2**53), 2**100,
        "lone \ud800 surrogate", {"lone \udfff": 1}, {"pair \ud83d\ude00": 1},
        {1: "integer key"}, {None: 1}, {True: 1}, {"a": 1, 2: "b"},
        {"a": types.MappingProxyType({"b": 1})}, {1, 2}, b"bytes", pytest.param(object(), id="object()"),
    ],
    ids=repr,
)
def test_what_rfc8785_refuses_is_refused_with_the_same_error(value: Any) -> None:
    assert _outcome(rfc8785.dumps, value)[0] == "raises"
    _assert_same_as_rfc8785(value)


def test_a_value_that_contains_itself_raises_as_it_does_with_rfc8785() -> None:
    loop: list[Any] = []
    loop.append(loop)

    _assert_same_as_rfc8785(loop)


@pytest.mark.parametrize(
    "value",
    [Colour.RED, [Shouting("quiet")], {"k": Shouting("a\nb")}, Level.HIGH, [Level.HIGH], OrderedDict(b=1, a=2),
     {"x": OrderedDict(b=1, a=2)}, (1, (2.5, [3.0])), True, None, "", [], {}],
    ids=repr,
)
def test_subclasses_and_containers_of_other_types_canonicalise_as_rfc8785_does(value: Any) -> None:
    _assert_same_as_rfc8785(value)


def _typical_proxy_record(**changes: Any) -> dict[str, Any]:
    entry = AuditEntry(
        actor="agent-7", source=AuditSource.PROXY, action="proxy.request", agent_id="agent-7", method="GET",
        url="https://api.example.com/v1/items/42?page=2", decision="Allow", rule="allow-reads",
        reason="reads are allowed", risk=0.12, trust=0.55, upstream_status=200, latency_ms=1.734,
        details={"policyName": "billing", "policyVersion": 3},
    )
    sealed = seal(dataclasses.replace(entry, **changes), record_id=41, time=TIME, prev_hash=GENESIS_HASH)
    return sealed.record.document()


@pytest.mark.parametrize(
    "changes",
    [{}, {"risk": 0.0, "trust": 1.0, "latency_ms": 2.0}, {"decision": "Deny", "upstream_status": None, "risk": None},
     {"url": "https://api.example.com/caf\u00e9/\U0001f600?q=\u2028", "details": {"caf\u00e9": "\x00\x1f"}}],
    ids=["all-fields", "integral-floats", "nulls", "non-ascii"],
)
def test_a_proxy_record_is_canonicalised_without_the_slow_rfc8785_path(
    changes: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    document = _typical_proxy_record(**changes)
    expected = rfc8785.dumps(document)

    def refuse(value: Any) -> bytes:
        raise AssertionError("the slow path was taken")

    monkeypatch.setattr(jcs.rfc8785, "dumps", refuse)

    assert canonical_json(document) == expected


def test_a_record_with_an_astral_key_takes_the_slow_path_and_still_matches() -> None:
    document = _typical_proxy_record(details={"\U0001f600": 1, "\ufb01": 2})

    assert canonical_json(document) == rfc8785.dumps(document)
