"""Policy text ⇄ mapping: :func:`load_document` (JSON or YAML) and :func:`policy_to_document` (canonical form)."""

from __future__ import annotations

import json
from typing import Any

import yaml

from .errors import PolicyError
from .model import AllOf, AnyOf, Condition, ConditionNode, Not, Policy, Rule

__all__ = ["MAX_DOCUMENT_BYTES", "load_document", "policy_to_document"]

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(text: str) -> Any:
    """Safe YAML without aliases: a few bytes of aliases can expand to gigabytes ("billion laughs")."""
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            raise PolicyError(
                "", f"YAML aliases are not allowed in policies ({event.start_mark})".replace("\n", " ")
            )
    return yaml.load(text, Loader=_Loader)


def load_document(text: str | bytes) -> dict:
    """Parse policy text, JSON or YAML (told apart by content: JSON is tried first when it starts with ``{``).

    Raises ``PolicyError("", ...)`` on bad syntax, on a document that is not a mapping, on YAML aliases and on
    text beyond ``MAX_DOCUMENT_BYTES``.
    """
    if isinstance(text, (bytes, bytearray)):
        if len(text) > MAX_DOCUMENT_BYTES:
            raise PolicyError("", "policy document too large")
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PolicyError("", f"policy document is not UTF-8: {exc}") from None
    if not isinstance(text, str):
        raise PolicyError("", "policy document must be text")
    if len(text) > MAX_DOCUMENT_BYTES:
        raise PolicyError("", "policy document too large")
    document: Any
    stripped = text.lstrip("\ufeff \t\r\n")
    try:
        if stripped.startswith("{"):
            try:
                document = json.loads(stripped)
            except json.JSONDecodeError:
                document = _load_yaml(stripped)  # YAML flow style is not JSON
        else:
            document = _load_yaml(stripped)
    except yaml.YAMLError as exc:
        raise PolicyError("", f"invalid JSON or YAML: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise PolicyError("", f"invalid JSON or YAML: {exc}") from None
    if not isinstance(document, dict):
        raise PolicyError("", "a policy document must be a mapping")
    return document


def policy_to_document(policy: Policy) -> dict:
    """The canonical JSON form of a policy model: camelCase keys, canonical field and operator names, rules in
    document order; optional keys appear only when set. ``parse_policy(policy_to_document(p)) == p``."""
    document: dict[str, Any] = {
        "name": policy.name,
        "description": policy.description,
        "owner": policy.owner,
        "default": str(policy.default),
        "rules": [_rule(rule) for rule in policy.rules],
    }
    if policy.hitl_threshold is not None:
        document["hitlThreshold"] = policy.hitl_threshold
    if policy.rate_limit is not None:
        document["rateLimit"] = {
            "requests": policy.rate_limit.requests,
            "perSeconds": policy.rate_limit.per_seconds,
        }
    if policy.hitl_expiry_seconds is not None:
        document["hitlExpirySeconds"] = policy.hitl_expiry_seconds
    return document


def _rule(rule: Rule) -> dict:
    document: dict[str, Any] = {"name": rule.name, "priority": rule.priority, "effect": str(rule.effect)}
    if rule.description is not None:
        document["description"] = rule.description
    if rule.reason is not None:
        document["reason"] = rule.reason
    document["conditions"] = [_condition(node) for node in rule.conditions]
    return document


def _condition(node: ConditionNode) -> dict:
    if isinstance(node, Condition):
        document: dict[str, Any] = {"field": node.field, "operator": node.operator}
        if node.operator not in ("exists", "notExists") or node.value is not None:
            document["value"] = node.value
        if node.ignore_case:
            document["ignoreCase"] = True
        return document
    if isinstance(node, AnyOf):
        return {"any": [_condition(child) for child in node.conditions]}
    if isinstance(node, AllOf):
        return {"all": [_condition(child) for child in node.conditions]}
    if isinstance(node, Not):
        return {"not": _condition(node.condition)}
    raise TypeError(f"not a condition: {node!r}")
