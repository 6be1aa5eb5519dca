"""Operator names and the codes the evaluators switch on.

Every operator is a positive test plus an optional negation: ``ne`` is "not ``eq``", ``notIn`` "not ``in``",
``notContains`` "not ``contains``", ``notExists`` "not ``exists``". A negated operator still needs the field to
be present and comparable: ``ne 5`` on a missing field, or on a JSON object, is false (only ``notExists`` is
true for a missing field). Use ``{not: {...}}`` for "anything but": it is true whenever its child is false.

Names are case-insensitive and ``_``/``-`` are ignored (``NOT_IN`` is ``notIn``).
"""

from __future__ import annotations

__all__ = ["OPERATORS", "canonical_operator"]

OP_EQ = 1
OP_GT = 2
OP_GE = 3
OP_LT = 4
OP_LE = 5
OP_IN = 6
OP_CONTAINS = 7
OP_STARTS = 8
OP_ENDS = 9
OP_REGEX = 10  # regex and glob (globs are translated to anchored regexes)
OP_EXISTS = 11
OP_CIDR = 12

#: canonical name -> (positive op code, negated)
OPERATORS: dict[str, tuple[int, bool]] = {
    "eq": (OP_EQ, False),
    "ne": (OP_EQ, True),
    "gt": (OP_GT, False),
    "ge": (OP_GE, False),
    "lt": (OP_LT, False),
    "le": (OP_LE, False),
    "in": (OP_IN, False),
    "notIn": (OP_IN, True),
    "contains": (OP_CONTAINS, False),
    "notContains": (OP_CONTAINS, True),
    "startsWith": (OP_STARTS, False),
    "endsWith": (OP_ENDS, False),
    "regex": (OP_REGEX, False),
    "glob": (OP_REGEX, False),
    "exists": (OP_EXISTS, False),
    "notExists": (OP_EXISTS, True),
    "cidr": (OP_CIDR, False),
}

_ALIASES = {"neq": "ne", "gte": "ge", "lte": "le"}
_BY_KEY = {name.lower(): name for name in OPERATORS} | _ALIASES


def canonical_operator(name: object) -> str | None:
    """The canonical name of an operator (``"NotIn"`` → ``"notIn"``), or ``None`` if there is none."""
    if not isinstance(name, str):
        return None
    return _BY_KEY.get(name.replace("_", "").replace("-", "").lower())
