"""Policy documents between typed protobuf messages and the mapping the services parse.

A request's ``Policy`` message becomes the same mapping a REST body decodes to (camelCase keys, unset fields
left out), so ``policy_core.parse_policy`` sees the same document from both surfaces and reports the same
pointers. Answers go the other way, from the stored canonical document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format

from vectra.domain.policies import GatewayDecision, PolicyRecord, PolicyVersion
from vectra.grpc.generated.vectra.v1 import policies_pb2
from vectra.grpc.messages import timestamp_message
from vectra.services import input_errors

__all__ = [
    "decision_message",
    "document_from_message",
    "policy_message",
    "summary_message",
    "version_message",
]

# request → mapping -------------------------------------------------------------------------------
def document_from_message(message: policies_pb2.Policy) -> dict[str, Any]:
    """The policy document a ``Policy`` message describes; empty strings and zeros count as unset."""
    document: dict[str, Any] = {
        key: getattr(message, attr)
        for key, attr in (("name", "name"), ("description", "description"), ("owner", "owner"),
                          ("default", "default"))
        if getattr(message, attr)
    }
    document["rules"] = [_rule_document(rule, f"rules[{index}]") for index, rule in enumerate(message.rules)]
    if message.HasField("hitl_threshold"):
        document["hitlThreshold"] = message.hitl_threshold
    if message.HasField("rate_limit"):
        limit = message.rate_limit
        document["rateLimit"] = {k: v for k, v in (("requests", limit.requests), ("perSeconds", limit.per_seconds))
                                 if v}
    if message.HasField("hitl_expiry_seconds"):
        document["hitlExpirySeconds"] = message.hitl_expiry_seconds
    return document

def _rule_document(rule: policies_pb2.Rule, pointer: str) -> dict[str, Any]:
    document: dict[str, Any] = {"priority": rule.priority}
    if rule.name:
        document["name"] = rule.name
    if rule.effect:
        document["effect"] = rule.effect
    if rule.HasField("reason"):
        document["reason"] = rule.reason
    if rule.HasField("description"):
        document["description"] = rule.description
    document["conditions"] = [_condition_document(c, f"{pointer}.conditions[{index}]")
                              for index, c in enumerate(rule.conditions)]
    return document

def _condition_document(condition: policies_pb2.Condition, pointer: str) -> dict[str, Any]:
    kind = condition.WhichOneof("kind")
    if kind in ("any", "all"):
        return {kind: [_condition_document(c, f"{pointer}.{kind}[{index}]")
                       for index, c in enumerate(getattr(condition, kind).conditions)]}
    if kind == "not":
        return {"not": _condition_document(getattr(condition, "not"), f"{pointer}.not")}
    if kind is None:
        return {}
    leaf = condition.field
    document: dict[str, Any] = {}
    if leaf.field:
        document["field"] = leaf.field
    if leaf.operator:
        document["operator"] = leaf.operator
    if leaf.HasField("value"):
        try:
            document["value"] = _whole_numbers(json_format.MessageToDict(leaf.value))
        except ValueError:  # a number JSON can't hold (infinity, NaN), anywhere in the value
            raise input_errors.malformed(f"{pointer}.value", "JSON: a number must be finite") from None
    if leaf.ignore_case:
        document["ignoreCase"] = True
    return document

def _whole_numbers(value: Any) -> Any:
    """``google.protobuf.Value`` carries every number as a double; JSON's ``100`` comes back as ``100``."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    return value

# domain → answers --------------------------------------------------------------------------------
def policy_message(record: PolicyRecord) -> policies_pb2.Policy:
    document = record.document
    message = policies_pb2.Policy(
        name=record.name,
        description=document.get("description", ""),
        owner=document.get("owner", ""),
        default=document.get("default", "Deny"),
        rules=[_rule_message(rule) for rule in document.get("rules", ())],
        version=record.version,
        current=record.current,
        created_at=timestamp_message(record.created_at),
        updated_at=timestamp_message(record.updated_at),
        updated_by=record.updated_by,
        rule_count=record.rule_count,
    )
    if "hitlThreshold" in document:
        message.hitl_threshold = document["hitlThreshold"]
    if "rateLimit" in document:
        limit = document["rateLimit"]
        message.rate_limit.CopyFrom(
            policies_pb2.RateLimit(requests=limit["requests"], per_seconds=limit["perSeconds"])
        )
    if "hitlExpirySeconds" in document:
        message.hitl_expiry_seconds = document["hitlExpirySeconds"]
    return message

def _rule_message(rule: Mapping[str, Any]) -> policies_pb2.Rule:
    return policies_pb2.Rule(
        name=rule["name"],
        priority=rule.get("priority", 0),
        effect=rule["effect"],
        reason=rule.get("reason"),
        description=rule.get("description"),
        conditions=[_condition_message(c) for c in rule.get("conditions", ())],
    )

def _condition_message(condition: Mapping[str, Any]) -> policies_pb2.Condition:
    for kind in ("any", "all"):
        if kind in condition:
            children = policies_pb2.ConditionList(conditions=[_condition_message(c) for c in condition[kind]])
            return policies_pb2.Condition(**{kind: children})
    if "not" in condition:
        return policies_pb2.Condition(**{"not": _condition_message(condition["not"])})
    leaf = policies_pb2.FieldCondition(
        field=condition["field"], operator=condition["operator"], ignore_case=condition.get("ignoreCase", False)
    )
    if "value" in condition:
        json_format.ParseDict(condition["value"], leaf.value)
    return policies_pb2.Condition(field=leaf)

def summary_message(record: PolicyRecord) -> policies_pb2.PolicySummary:
    document = record.document
    return policies_pb2.PolicySummary(
        name=record.name,
        description=document.get("description", ""),
        owner=document.get("owner", ""),
        default=document.get("default", "Deny"),
        rule_count=record.rule_count,
        version=record.version,
        created_at=timestamp_message(record.created_at),
        updated_at=timestamp_message(record.updated_at),
        updated_by=record.updated_by,
    )

def version_message(version: PolicyVersion) -> policies_pb2.PolicyVersion:
    return policies_pb2.PolicyVersion(
        name=version.name,
        version=version.version,
        created_at=timestamp_message(version.created_at),
        created_by=version.created_by,
        rule_count=version.rule_count,
    )

def decision_message(decision: GatewayDecision) -> policies_pb2.SimulateResponse:
    return policies_pb2.SimulateResponse(
        effect=decision.effect,
        rule=decision.rule,
        reason=decision.reason,
        agent_id=decision.agent_id or "",
        trust_score=decision.trust_score,
        risk_score=decision.risk_score,
        risk_factors=dict(decision.risk_factors),
        hitl_threshold=decision.hitl_threshold,
        policy_name=decision.policy_name,
        policy_version=decision.policy_version,
    )
