"""Model → evaluator: lowering, value normalisation and the rule index.

:func:`compile_policy` validates (if given a document), sorts the rules (priority descending, document order on
ties), lowers every condition to a flat tuple of integer codes and pre-normalised values, compiles regexes and
globs with RE2 and CIDRs with :mod:`ipaddress`, builds the method/host index, and hands the result to the
selected evaluator (:mod:`policy_core.evaluator`).

Lowered leaf: ``(field_code, field_arg, op_code, negate, ignore_case, literal_kind, literal, aux)``; groups are
``(NODE_ANY | NODE_ALL, children)`` and ``(NODE_NOT, child)``. Values are normalised here once: methods
upper-cased, hosts and schemes lower-cased, ``ignoreCase`` literals lower-cased, numeric strings parsed into
numbers for numeric fields, ``in`` lists split into a string set and a number set.

The index: a rule whose top-level conditions require ``input.method eq/in ...`` and/or ``input.host eq/in ...``
is filed under each (method, host) pair it allows, with ``None`` for "any"; every other rule is filed under
``(None, None)``. For a request the evaluator merges the four buckets ``(m, h)``, ``(m, None)``, ``(None, h)``,
``(None, None)`` in global rule order and caches the merged list per (method, host) (bounded), so a request
only looks at rules that can match its method and host. The indexed conditions are still evaluated, so the
index can only skip rules, never change a decision.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

from . import fields as F
from .decision import Decision
from .errors import PolicyError
from .model import AllOf, AnyOf, Condition, ConditionNode, Not, Policy
from .operators import OP_CIDR, OP_CONTAINS, OP_ENDS, OP_EQ, OP_EXISTS, OP_IN, OP_REGEX, OP_STARTS, OPERATORS
from .parse import compile_regex, glob_to_regex, parse_policy

__all__ = ["CompiledPolicy", "compile_policy", "lower_policy", "reads_body"]

NODE_LEAF = 0
NODE_ANY = 1
NODE_ALL = 2
NODE_NOT = 3

LIT_NONE = 0
LIT_STR = 1
LIT_NUM = 2
LIT_BOOL = 3
LIT_NULL = 4
LIT_JSON = 5
LIT_SET = 6
LIT_PATTERN = 7
LIT_NETS = 8

#: A rule allowing more (method, host) pairs than this is indexed by host (or method) alone.
MAX_INDEX_PAIRS = 64


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any) -> int | float:
    from ._values import parse_number

    if _is_number(value):
        return value
    number = parse_number(value)
    assert number is not None  # validated by parse
    return number


def _normaliser(code: int, ignore_case: bool) -> tuple[Callable[[str], str], bool]:
    """How a string literal is normalised for a field, and whether the evaluator must still fold case."""
    if code == F.F_METHOD:
        return str.upper, False
    if code in (F.F_HOST, F.F_SCHEME):
        return str.lower, False
    if ignore_case:
        return str.lower, True
    return (lambda text: text), False


def _scalar_literal(value: Any, normalise: Callable[[str], str], numeric: bool) -> tuple[int, Any]:
    if isinstance(value, str):
        return (LIT_NUM, _number(value)) if numeric else (LIT_STR, normalise(value))
    if isinstance(value, bool):
        return LIT_BOOL, value
    if value is None:
        return LIT_NULL, None
    if _is_number(value):
        return LIT_NUM, value
    return LIT_JSON, value


def lower_condition(node: ConditionNode) -> tuple:
    """Lower one model condition to the evaluators' tuple form."""
    if isinstance(node, AnyOf):
        return (NODE_ANY, tuple(lower_condition(child) for child in node.conditions))
    if isinstance(node, AllOf):
        return (NODE_ALL, tuple(lower_condition(child) for child in node.conditions))
    if isinstance(node, Not):
        return (NODE_NOT, lower_condition(node.condition))
    assert isinstance(node, Condition)
    ref = F.resolve_field(node.field)
    op, negate = OPERATORS[node.operator]
    normalise, fold = _normaliser(ref.code, node.ignore_case)
    numeric = ref.kind == F.KIND_NUMBER
    value = node.value
    kind, literal, aux = LIT_NONE, None, None
    if op in (OP_EQ, OP_CONTAINS):
        kind, literal = _scalar_literal(value, normalise, numeric and op == OP_EQ)
    elif op == OP_IN:
        strings, numbers, flags = set(), set(), set()
        for item in value:
            if isinstance(item, str) and not numeric:
                strings.add(normalise(item))
            elif isinstance(item, bool) or item is None:
                flags.add(item)
            else:
                numbers.add(_number(item))
        kind = LIT_SET
        aux = (frozenset(strings), frozenset(numbers), True in flags, False in flags, None in flags)
    elif op == OP_REGEX:
        pattern = value if node.operator == "regex" else glob_to_regex(value)
        kind, aux = LIT_PATTERN, compile_regex(pattern, node.ignore_case)
        fold = False
    elif op == OP_CIDR:
        networks = value if isinstance(value, list) else [value]
        kind, aux = LIT_NETS, tuple(ipaddress.ip_network(item, strict=False) for item in networks)
    elif op == OP_EXISTS:
        kind = LIT_NONE
    elif isinstance(value, str) and op in (OP_STARTS, OP_ENDS):
        kind, literal = LIT_STR, normalise(value)
    else:  # gt ge lt le
        kind, literal = LIT_NUM, _number(value)
    return (NODE_LEAF, ref.code, ref.arg, op, negate, fold, kind, literal, aux)


def _required(conditions: tuple, code: int) -> tuple[frozenset | None, int]:
    """The values a rule's top-level conditions require of the method or host field, and which condition
    requires them: ``(values, index)``, or ``(None, -1)``."""
    for index, node in enumerate(conditions):
        if node[0] != NODE_LEAF or node[1] != code or node[4]:
            continue
        if node[3] == OP_EQ and node[6] == LIT_STR:
            return frozenset((node[7],)), index
        if node[3] == OP_IN and not node[8][1] and not any(node[8][2:]):
            return node[8][0], index
    return None, -1


def lower_policy(policy: Policy) -> tuple[list, Decision, dict]:
    """``(rules, default_decision, buckets)`` for an evaluator: rules in evaluation order as
    ``(Decision, lowered_conditions)``, and the index ``{(method|None, host|None): [rule positions]}``.

    A condition that put a rule into a method- or host-specific bucket holds for every request that reaches
    the rule through that bucket, so it is left out of the rule's lowered conditions (the model keeps it).
    """
    order = sorted(range(len(policy.rules)), key=lambda i: -policy.rules[i].priority)  # stable: ties keep order
    rules = []
    buckets: dict[tuple, list[int]] = {}
    for position, i in enumerate(order):
        rule = policy.rules[i]
        conditions = tuple(lower_condition(node) for node in rule.conditions)
        methods, method_at = _required(conditions, F.F_METHOD)
        hosts, host_at = _required(conditions, F.F_HOST)
        if methods is not None and hosts is not None and len(methods) * len(hosts) > MAX_INDEX_PAIRS:
            methods = None
        if methods is not None and not 0 < len(methods) <= MAX_INDEX_PAIRS:
            methods = None  # `in []` never matches: leave the condition to say so
        if hosts is not None and not 0 < len(hosts) <= MAX_INDEX_PAIRS:
            hosts = None
        for m in methods or (None,):
            for h in hosts or (None,):
                buckets.setdefault((m, h), []).append(position)
        implied = {method_at if methods is not None else -1, host_at if hosts is not None else -1}
        kept = tuple(node for index, node in enumerate(conditions) if index not in implied)
        rules.append((Decision(str(rule.effect), rule.name, rule.reason), kept))
    return rules, Decision(str(policy.default)), buckets


class CompiledPolicy:
    """A policy ready to evaluate. ``evaluate(request)`` never raises (see :mod:`policy_core.evaluator`).

    ``reads_body``: some condition tests a field read from the body (``input.body``, ``input.json``,
    ``input.bodySize``, ``input.mcp.*``), so a proxy must hold the whole body before deciding.

    ``request`` is a mapping (``method``, ``url``, ``headers``, ``body``, ``agent``, ``risk``, ``time``) or a
    :class:`~policy_core.PolicyRequest` prepared once for several evaluations.
    """

    __slots__ = (
        "default",
        "description",
        "evaluate",
        "hitl_expiry_seconds",
        "hitl_threshold",
        "implementation",
        "name",
        "owner",
        "policy",
        "rate_limit",
        "reads_body",
        "rule_count",
    )

    evaluate: Callable[[Any], Decision]

    def __init__(self, policy: Policy, module: Any, implementation: str) -> None:
        self.policy = policy
        self.name = policy.name
        self.description = policy.description
        self.owner = policy.owner
        self.default = str(policy.default)
        self.rule_count = len(policy.rules)
        self.hitl_threshold = policy.hitl_threshold
        limit = policy.rate_limit
        self.rate_limit = (
            None if limit is None else {"requests": limit.requests, "perSeconds": limit.per_seconds}
        )
        self.hitl_expiry_seconds = policy.hitl_expiry_seconds
        self.implementation = implementation
        self.reads_body = reads_body(policy)
        rules, default, buckets = lower_policy(policy)
        self.evaluate = module.Evaluator(rules, default, buckets).evaluate

    def __repr__(self) -> str:
        return f"<CompiledPolicy {self.name!r} rules={self.rule_count} implementation={self.implementation}>"


def reads_body(policy: Policy) -> bool:
    """Whether a condition of ``policy`` tests a field read from the body (:data:`policy_core.fields.BODY_CODES`)."""
    nodes: list[ConditionNode] = [condition for rule in policy.rules for condition in rule.conditions]
    while nodes:
        node = nodes.pop()
        if isinstance(node, Condition):
            if F.resolve_field(node.field).code in F.BODY_CODES:
                return True
        elif isinstance(node, (AnyOf, AllOf)):
            nodes.extend(node.conditions)
        elif isinstance(node, Not):
            nodes.append(node.condition)
    return False


def compile_policy(document: Mapping | Policy, *, implementation: str | None = None) -> CompiledPolicy:
    """Validate (documents) and compile. ``implementation`` (``"cython"``/``"python"``) overrides the evaluator
    chosen at import; tests use it to run the same policy on both."""
    from . import evaluator

    policy = document if isinstance(document, Policy) else parse_policy(document)
    module, name = evaluator.select(implementation)
    try:
        return CompiledPolicy(policy, module, name)
    except PolicyError:
        raise
    except (ValueError, OverflowError) as exc:  # pragma: no cover - parse_policy rejects these first
        raise PolicyError("", f"cannot compile policy: {exc}") from None
