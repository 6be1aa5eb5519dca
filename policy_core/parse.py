"""Document → :class:`~policy_core.model.Policy`: shape checks and validation, with located errors.

Everything that can be wrong with a policy is found here, before compilation: unknown keys in rules and
conditions (a misspelt ``conditons`` would otherwise make a rule match everything), unknown fields and operators,
values of the wrong type for their operator, regexes that RE2 rejects, bad CIDRs, and documents beyond the
bounds below. Each :class:`~policy_core.errors.PolicyError` points at the offending key, e.g.
``rules[2].conditions[0].operator: unknown operator 'equals'``. Unknown keys at the top level of the policy are
ignored (stored documents carry metadata such as ``ruleCount``).
"""

from __future__ import annotations

import ipaddress
import math
import string
from collections.abc import Mapping
from typing import Any

import re2

from .errors import PolicyError
from .fields import KIND_LIST, KIND_MULTI, KIND_NUMBER, KIND_STRING, resolve_field
from .model import AllOf, AnyOf, Condition, ConditionNode, Effect, Not, Policy, RateLimit, Rule
from .operators import canonical_operator

__all__ = [
    "MAX_CONDITIONS",
    "MAX_DEPTH",
    "MAX_LIST_VALUES",
    "MAX_REGEX_LENGTH",
    "MAX_RULES",
    "compile_regex",
    "glob_to_regex",
    "parse_policy",
]

MAX_RULES = 10_000
MAX_DEPTH = 32  # nesting of any/all/not inside a rule
MAX_CONDITIONS = 200_000  # condition nodes in the whole policy
MAX_REGEX_LENGTH = 1_000  # characters of a regex or glob
MAX_LIST_VALUES = 10_000  # elements of an in/notIn/cidr list
MAX_TEXT = 10_000  # characters of a name, reason or description

_RULE_KEYS = frozenset({"name", "priority", "effect", "reason", "conditions", "description"})
_LEAF_KEYS = frozenset({"field", "operator", "value", "ignoreCase"})
_GROUP_KEYS = ("any", "all", "not")


def parse_policy(document: Mapping) -> Policy:
    """Validate a policy document (a mapping, e.g. from :func:`policy_core.load_document`) into the model."""
    if not isinstance(document, Mapping):
        raise PolicyError("", "a policy document must be a mapping")
    name = _text(document.get("name"), "name", required=True)
    rules_doc = document.get("rules", [])
    if rules_doc is None:
        rules_doc = []
    if not isinstance(rules_doc, list):
        raise PolicyError("rules", "must be a list")
    if len(rules_doc) > MAX_RULES:
        raise PolicyError("rules", f"more than {MAX_RULES} rules")
    budget = [MAX_CONDITIONS]
    rules = tuple(_rule(rule, f"rules[{i}]", budget) for i, rule in enumerate(rules_doc))
    seen: dict[str, int] = {}
    for i, rule in enumerate(rules):
        if rule.name in seen:
            raise PolicyError(
                f"rules[{i}].name", f"duplicate rule name {rule.name!r} (also rules[{seen[rule.name]}])"
            )
        seen[rule.name] = i
    return Policy(
        name=name,
        description=_text(document.get("description"), "description") or "",
        owner=_text(document.get("owner"), "owner") or "",
        default=_effect(document.get("default"), "default", default=Effect.DENY),
        rules=rules,
        hitl_threshold=_threshold(document.get("hitlThreshold")),
        rate_limit=_rate_limit(document.get("rateLimit")),
        hitl_expiry_seconds=_positive_int(document.get("hitlExpirySeconds"), "hitlExpirySeconds"),
    )


def _text(value: Any, pointer: str, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise PolicyError(pointer, "is required")
        return None
    if not isinstance(value, str):
        raise PolicyError(pointer, "must be a string")
    if required and not value.strip():
        raise PolicyError(pointer, "must not be empty")
    if len(value) > MAX_TEXT:
        raise PolicyError(pointer, f"longer than {MAX_TEXT} characters")
    return value


def _effect(value: Any, pointer: str, *, default: Effect | None = None) -> Effect:
    if value is None and default is not None:
        return default
    if value is None:
        raise PolicyError(pointer, "is required (Allow, Deny or Hitl)")
    effect = Effect.from_text(value)
    if effect is None:
        raise PolicyError(pointer, f"unknown effect {value!r} (Allow, Deny or Hitl)")
    return effect


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _threshold(value: Any) -> float | None:
    if value is None:
        return None
    if not _is_number(value) or not 0 <= value <= 1:
        raise PolicyError("hitlThreshold", "must be a number between 0 and 1")
    return float(value)


def _positive_int(value: Any, pointer: str) -> int | None:
    if value is None:
        return None
    if _is_number(value) and float(value).is_integer() and 1 <= value <= 10**9:
        return int(value)
    raise PolicyError(pointer, "must be a positive integer")


def _rate_limit(value: Any) -> RateLimit | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise PolicyError("rateLimit", "must be a mapping with requests and perSeconds")
    for key in value:
        if key not in ("requests", "perSeconds"):
            raise PolicyError(f"rateLimit.{key}", f"unknown key {key!r}")
    requests = _positive_int(value.get("requests"), "rateLimit.requests")
    per_seconds = _positive_int(value.get("perSeconds"), "rateLimit.perSeconds")
    if requests is None:
        raise PolicyError("rateLimit.requests", "is required")
    if per_seconds is None:
        raise PolicyError("rateLimit.perSeconds", "is required")
    return RateLimit(requests, per_seconds)


def _rule(doc: Any, pointer: str, budget: list[int]) -> Rule:
    if not isinstance(doc, Mapping):
        raise PolicyError(pointer, "a rule must be a mapping")
    for key in doc:
        if key not in _RULE_KEYS:
            raise PolicyError(f"{pointer}.{key}", f"unknown key {key!r}")
    priority = doc.get("priority", 0)
    if priority is None:
        priority = 0
    if not _is_number(priority) or not float(priority).is_integer() or abs(priority) > 10**15:
        raise PolicyError(f"{pointer}.priority", "must be an integer")
    conditions = doc.get("conditions", [])
    return Rule(
        name=_text(doc.get("name"), f"{pointer}.name", required=True),
        effect=_effect(doc.get("effect"), f"{pointer}.effect"),
        priority=int(priority),
        reason=_text(doc.get("reason"), f"{pointer}.reason"),
        conditions=_condition_list(conditions, f"{pointer}.conditions", 1, budget),
        description=_text(doc.get("description"), f"{pointer}.description"),
    )


def _condition_list(doc: Any, pointer: str, depth: int, budget: list[int]) -> tuple[ConditionNode, ...]:
    if doc is None:
        return ()
    if not isinstance(doc, list):
        raise PolicyError(pointer, "must be a list of conditions")
    return tuple(_condition(item, f"{pointer}[{i}]", depth, budget) for i, item in enumerate(doc))


def _condition(doc: Any, pointer: str, depth: int, budget: list[int]) -> ConditionNode:
    if depth > MAX_DEPTH:
        raise PolicyError(pointer, f"conditions nested deeper than {MAX_DEPTH}")
    budget[0] -= 1
    if budget[0] < 0:
        raise PolicyError(pointer, f"more than {MAX_CONDITIONS} conditions in the policy")
    if not isinstance(doc, Mapping):
        raise PolicyError(pointer, "a condition must be a mapping")
    groups = [key for key in _GROUP_KEYS if key in doc]
    if groups:
        if len(doc) != 1:
            extra = next(key for key in doc if key != groups[0])
            raise PolicyError(
                f"{pointer}.{extra}", "a condition is either {field, operator, value} or one of any/all/not"
            )
        key = groups[0]
        inner = f"{pointer}.{key}"
        if key == "not":
            return Not(_condition(doc["not"], inner, depth + 1, budget))
        children = _condition_list(doc[key], inner, depth + 1, budget)
        return AnyOf(children) if key == "any" else AllOf(children)
    for key in doc:
        if key not in _LEAF_KEYS:
            raise PolicyError(f"{pointer}.{key}", f"unknown key {key!r}")
    if "field" not in doc:
        raise PolicyError(f"{pointer}.field", "is required")
    try:
        ref = resolve_field(doc["field"])
    except ValueError as exc:
        raise PolicyError(f"{pointer}.field", str(exc)) from None
    if "operator" not in doc:
        raise PolicyError(f"{pointer}.operator", "is required")
    operator = canonical_operator(doc["operator"])
    if operator is None:
        raise PolicyError(f"{pointer}.operator", f"unknown operator {doc['operator']!r}")
    ignore_case = doc.get("ignoreCase", False)
    if not isinstance(ignore_case, bool):
        raise PolicyError(f"{pointer}.ignoreCase", "must be true or false")
    value = doc.get("value")
    _check_value(operator, ref.kind, ref.canonical, value, ignore_case, f"{pointer}.value")
    return Condition(ref.canonical, operator, value, ignore_case)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool)) or (_is_number(value) and math.isfinite(value))


def _is_json(value: Any, depth: int = 0) -> bool:
    if depth > MAX_DEPTH:
        return False
    if _is_scalar(value):
        return True
    if isinstance(value, list):
        return all(_is_json(item, depth + 1) for item in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_json(v, depth + 1) for k, v in value.items())
    return False


def _is_number_like(value: Any) -> bool:
    from ._values import parse_number

    if _is_number(value):
        return math.isfinite(value)
    return isinstance(value, str) and parse_number(value) is not None


def _check_value(operator: str, kind: str, field: str, value: Any, ignore_case: bool, pointer: str) -> None:
    def fail(message: str) -> PolicyError:
        return PolicyError(pointer, message)

    def inapplicable() -> PolicyError:
        return PolicyError(pointer[: -len(".value")] + ".operator", f"{operator} does not apply to {field}")

    if operator in ("exists", "notExists"):
        if value not in (None, True):
            raise fail(f"{operator} takes no value (or true)")
        return
    if operator in ("eq", "ne"):
        if kind == KIND_NUMBER:
            if not _is_number_like(value):
                raise fail(f"{operator} on {field} needs a number")
        elif kind in (KIND_STRING, KIND_MULTI):
            if not _is_scalar(value):
                raise fail(f"{operator} needs a string, number, boolean or null")
        elif not _is_json(value):
            raise fail(f"{operator} needs a JSON value")
        return
    if operator in ("gt", "ge", "lt", "le"):
        if kind == KIND_LIST:
            raise inapplicable()
        if not _is_number_like(value):
            raise fail(f"{operator} needs a number")
        return
    if operator in ("in", "notIn"):
        if not isinstance(value, list):
            raise fail(f"{operator} needs a list")
        if len(value) > MAX_LIST_VALUES:
            raise fail(f"more than {MAX_LIST_VALUES} values")
        for i, item in enumerate(value):
            if kind == KIND_NUMBER and not _is_number_like(item):
                raise PolicyError(f"{pointer}[{i}]", f"{operator} on {field} needs numbers")
            if not _is_scalar(item):
                raise PolicyError(f"{pointer}[{i}]", "must be a string, number, boolean or null")
        return
    if kind == KIND_NUMBER:
        raise inapplicable()
    if operator in ("contains", "notContains"):
        if kind in (KIND_STRING, KIND_MULTI):
            if not isinstance(value, str):
                raise fail(f"{operator} needs a string")
        elif not _is_scalar(value):
            raise fail(f"{operator} needs a string, number, boolean or null")
        return
    if kind == KIND_LIST:
        raise inapplicable()
    if operator in ("startsWith", "endsWith"):
        if not isinstance(value, str):
            raise fail(f"{operator} needs a string")
        return
    if operator in ("regex", "glob"):
        if not isinstance(value, str):
            raise fail(f"{operator} needs a string")
        if len(value) > MAX_REGEX_LENGTH:
            raise fail(f"{operator} longer than {MAX_REGEX_LENGTH} characters")
        pattern = value if operator == "regex" else glob_to_regex(value)
        try:
            compile_regex(pattern, ignore_case)
        except ValueError as exc:
            raise fail(f"invalid {operator}: {exc}") from None
        return
    if operator == "cidr":
        networks = value if isinstance(value, list) else [value]
        if not networks or len(networks) > MAX_LIST_VALUES:
            raise fail(f"cidr needs one to {MAX_LIST_VALUES} networks")
        for i, item in enumerate(networks):
            where = f"{pointer}[{i}]" if isinstance(value, list) else pointer
            if not isinstance(item, str):
                raise PolicyError(where, "a CIDR must be a string such as '10.0.0.0/8'")
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise PolicyError(where, f"invalid CIDR {item!r}: {exc}") from None
        return
    raise fail(f"unsupported operator {operator}")  # pragma: no cover - every canonical operator is handled


def compile_regex(pattern: str, ignore_case: bool):
    """Compile with RE2 (linear-time matching); ``ValueError`` with RE2's message when it is invalid."""
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not ignore_case
    options.max_mem = 8 << 20
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        message = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        raise ValueError(str(message)) from None
    except Exception as exc:  # e.g. a pattern RE2 cannot encode
        raise ValueError(str(exc)) from None


def glob_to_regex(glob: str) -> str:
    """Translate an fnmatch-style glob (``*``, ``?``, ``[abc]``, ``[!abc]``) into an anchored RE2 pattern.

    ``*`` matches any run of characters including ``/``; the whole value must match.
    """
    out = ["^(?s:"]
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        i += 1
        if c == "*":
            while i < n and glob[i] == "*":
                i += 1
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = i
            if j < n and glob[j] == "!":
                j += 1
            if j < n and glob[j] == "]":
                j += 1
            while j < n and glob[j] != "]":
                j += 1
            if j >= n:
                out.append("\\[")
                continue
            body = glob[i:j]
            i = j + 1
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            chars = "".join("\\" + ch if ch in "\\[]^" else ch for ch in body)
            out.append(f"[{'^' if negate else ''}{chars}]")
        else:
            out.append(_escape(c))
    out.append(")$")
    return "".join(out)


_PUNCTUATION = frozenset(string.punctuation) - {"_"}


def _escape(c: str) -> str:
    return "\\" + c if c in _PUNCTUATION else c
