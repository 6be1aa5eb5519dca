"""RFC 8785 (JCS) canonical JSON: ``rfc8785``'s exact bytes, through ``json.dumps`` where that is provably the same.

``rfc8785`` is pure Python and about 3x slower than this for an audit record. ``JSONEncoder`` with sorted keys,
no whitespace, raw UTF-8 and no NaN writes the same bytes for a value made only of the pieces below, so
:func:`dumps` walks the value into a plain copy for it; anything else, and any error, goes to ``rfc8785``, which
then decides the output or raises its own exception. The pieces, and why each is written the same:

- ``None``, ``bool``: ``null``, ``true``, ``false`` either way.
- ``int`` (exactly, not a subclass) within ±(2**53 - 1), ``rfc8785``'s range: both write ``int.__repr__``.
- ``float`` (exactly), finite, non-integral, |x| >= 1e-4: ``repr`` writes these as plain decimals (it switches to
  an exponent below 1e-4 and from 1e16, and every double from 2**52 up is integral), and ``rfc8785`` writes
  ``repr`` as it is unless it ends in ``.0`` or has an exponent. Integral floats within ±2**53 become ``int``:
  ``rfc8785`` writes ``repr`` without its ``.0`` (``-0.0`` as ``0``), which is that integer. Other floats
  (below 1e-4, integral from 2**53 up, NaN, infinite) go to ``rfc8785``.
- ``str`` and its subclasses (``AuditSource``), as their characters: both escape exactly ``"``, ``\\`` and
  U+0000-U+001F, as ``\\b \\t \\n \\f \\r`` or lower-case ``\\u00xx``, and nothing else (not U+007F, U+2028,
  U+2029). A lone surrogate fails ``.encode()`` here, so ``rfc8785`` raises as it always has.
- ``list``, ``tuple`` (exactly), written as arrays by both.
- ``dict`` (exactly) whose keys are exact ``str`` without characters above U+FFFF: JCS sorts keys by UTF-16 code
  units, ``json.dumps`` by code points, and for such keys each character is one code unit of the same value.
  (The orders part only where, at the first difference, one key has a character above U+FFFF and the other one
  in U+E000-U+FFFF; keys with astral characters simply take the slow path.)
"""

from __future__ import annotations

import json
import math
from typing import Any

import rfc8785

__all__ = ["dumps"]

_INT_LIMIT = 2**53 - 1  # rfc8785 refuses integers beyond this
_FLOAT_INT_LIMIT = 2**53  # below it every integral float is exactly an int and repr writes that int and ".0"
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False, check_circular=False
)  # no cycle check: it only ever sees the fresh tree _plain builds
_AS_IS = frozenset({str, bool, type(None)})


class _NotPlain(Exception):
    """The value holds something ``json.dumps`` might write differently from ``rfc8785``."""


def dumps(value: Any) -> bytes:
    """The RFC 8785 canonical JSON of ``value``, byte for byte what ``rfc8785.dumps`` returns (or raises)."""
    try:
        return _ENCODER.encode(_plain(value)).encode()
    except (_NotPlain, ValueError, RecursionError):
        return rfc8785.dumps(value)


def _plain(value: Any) -> Any:
    """``value`` with integral floats as ints and str subclasses as str; _NotPlain if it is not made of the above."""
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is dict:
        plain = {}
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or max(key) <= "\uffff"):
                raise _NotPlain
            plain[key] = item if type(item) in _AS_IS else _plain(item)
        return plain
    if kind is int:
        if -_INT_LIMIT <= value <= _INT_LIMIT:
            return value
        raise _NotPlain
    if kind is float:
        if value.is_integer():
            if -_FLOAT_INT_LIMIT < value < _FLOAT_INT_LIMIT:
                return int(value)
        elif 1e-4 <= abs(value) < math.inf:  # False for NaN and infinities too
            return value
        raise _NotPlain
    if kind is list or kind is tuple:
        return [_plain(item) for item in value]
    if isinstance(value, str):
        return str.__str__(value)
    raise _NotPlain
