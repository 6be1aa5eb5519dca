import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Policy(_message.Message):
    __slots__ = ("name", "description", "owner", "default", "rules", "hitl_threshold", "rate_limit", "hitl_expiry_seconds", "version", "current", "created_at", "updated_at", "updated_by", "rule_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    HITL_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    HITL_EXPIRY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    RULE_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    owner: str
    default: str
    rules: _containers.RepeatedCompositeFieldContainer[Rule]
    hitl_threshold: float
    rate_limit: RateLimit
    hitl_expiry_seconds: int
    version: int
    current: bool
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    updated_by: str
    rule_count: int
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., owner: _Optional[str] = ..., default: _Optional[str] = ..., rules: _Optional[_Iterable[_Union[Rule, _Mapping]]] = ..., hitl_threshold: _Optional[float] = ..., rate_limit: _Optional[_Union[RateLimit, _Mapping]] = ..., hitl_expiry_seconds: _Optional[int] = ..., version: _Optional[int] = ..., current: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_by: _Optional[str] = ..., rule_count: _Optional[int] = ...) -> None: ...

class Rule(_message.Message):
    __slots__ = ("name", "priority", "effect", "reason", "conditions", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    priority: int
    effect: str
    reason: str
    conditions: _containers.RepeatedCompositeFieldContainer[Condition]
    description: str
    def __init__(self, name: _Optional[str] = ..., priority: _Optional[int] = ..., effect: _Optional[str] = ..., reason: _Optional[str] = ..., conditions: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., description: _Optional[str] = ...) -> None: ...

class Condition(_message.Message):
    __slots__ = ("field", "any", "all")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    ANY_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    NOT_FIELD_NUMBER: _ClassVar[int]
    field: FieldCondition
    any: ConditionList
    all: ConditionList
    def __init__(self, field: _Optional[_Union[FieldCondition, _Mapping]] = ..., any: _Optional[_Union[ConditionList, _Mapping]] = ..., all: _Optional[_Union[ConditionList, _Mapping]] = ..., **kwargs) -> None: ...

class FieldCondition(_message.Message):
    __slots__ = ("field", "operator", "value", "ignore_case")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    IGNORE_CASE_FIELD_NUMBER: _ClassVar[int]
    field: str
    operator: str
    value: _struct_pb2.Value
    ignore_case: bool
    def __init__(self, field: _Optional[str] = ..., operator: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., ignore_case: _Optional[bool] = ...) -> None: ...

class ConditionList(_message.Message):
    __slots__ = ("conditions",)
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    conditions: _containers.RepeatedCompositeFieldContainer[Condition]
    def __init__(self, conditions: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ...) -> None: ...

class RateLimit(_message.Message):
    __slots__ = ("requests", "per_seconds")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    PER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    requests: int
    per_seconds: int
    def __init__(self, requests: _Optional[int] = ..., per_seconds: _Optional[int] = ...) -> None: ...

class PolicySummary(_message.Message):
    __slots__ = ("name", "description", "owner", "default", "rule_count", "version", "created_at", "updated_at", "updated_by")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_FIELD_NUMBER: _ClassVar[int]
    RULE_COUNT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    owner: str
    default: str
    rule_count: int
    version: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    updated_by: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., owner: _Optional[str] = ..., default: _Optional[str] = ..., rule_count: _Optional[int] = ..., version: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_by: _Optional[str] = ...) -> None: ...

class ListPoliciesRequest(_message.Message):
    __slots__ = ("page", "page_size")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    page: int
    page_size: int
    def __init__(self, page: _Optional[int] = ..., page_size: _Optional[int] = ...) -> None: ...

class ListPoliciesResponse(_message.Message):
    __slots__ = ("items", "page", "page_size", "total_count")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[PolicySummary]
    page: int
    page_size: int
    total_count: int
    def __init__(self, items: _Optional[_Iterable[_Union[PolicySummary, _Mapping]]] = ..., page: _Optional[int] = ..., page_size: _Optional[int] = ..., total_count: _Optional[int] = ...) -> None: ...

class GetPolicyRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class PutPolicyRequest(_message.Message):
    __slots__ = ("name", "document")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    document: Policy
    def __init__(self, name: _Optional[str] = ..., document: _Optional[_Union[Policy, _Mapping]] = ...) -> None: ...

class PutPolicyResponse(_message.Message):
    __slots__ = ("policy", "created", "changed")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    policy: Policy
    created: bool
    changed: bool
    def __init__(self, policy: _Optional[_Union[Policy, _Mapping]] = ..., created: _Optional[bool] = ..., changed: _Optional[bool] = ...) -> None: ...

class DeletePolicyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeletePolicyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPolicyVersionsRequest(_message.Message):
    __slots__ = ("name", "page", "page_size")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    name: str
    page: int
    page_size: int
    def __init__(self, name: _Optional[str] = ..., page: _Optional[int] = ..., page_size: _Optional[int] = ...) -> None: ...

class PolicyVersion(_message.Message):
    __slots__ = ("name", "version", "created_at", "created_by", "rule_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    RULE_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    created_at: _timestamp_pb2.Timestamp
    created_by: str
    rule_count: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., rule_count: _Optional[int] = ...) -> None: ...

class ListPolicyVersionsResponse(_message.Message):
    __slots__ = ("items", "page", "page_size", "total_count")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[PolicyVersion]
    page: int
    page_size: int
    total_count: int
    def __init__(self, items: _Optional[_Iterable[_Union[PolicyVersion, _Mapping]]] = ..., page: _Optional[int] = ..., page_size: _Optional[int] = ..., total_count: _Optional[int] = ...) -> None: ...

class ValidatePolicyRequest(_message.Message):
    __slots__ = ("document",)
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    document: Policy
    def __init__(self, document: _Optional[_Union[Policy, _Mapping]] = ...) -> None: ...

class PolicyProblem(_message.Message):
    __slots__ = ("pointer", "message")
    POINTER_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    pointer: str
    message: str
    def __init__(self, pointer: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ValidatePolicyResponse(_message.Message):
    __slots__ = ("valid", "errors")
    VALID_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    errors: _containers.RepeatedCompositeFieldContainer[PolicyProblem]
    def __init__(self, valid: _Optional[bool] = ..., errors: _Optional[_Iterable[_Union[PolicyProblem, _Mapping]]] = ...) -> None: ...

class SimulatedAgent(_message.Message):
    __slots__ = ("id", "name", "owner_id", "trust_score", "roles", "policy_name", "policy", "capabilities", "realm")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    TRUST_SCORE_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    POLICY_NAME_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    REALM_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    owner_id: str
    trust_score: float
    roles: _containers.RepeatedScalarFieldContainer[str]
    policy_name: str
    policy: Policy
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    realm: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., owner_id: _Optional[str] = ..., trust_score: _Optional[float] = ..., roles: _Optional[_Iterable[str]] = ..., policy_name: _Optional[str] = ..., policy: _Optional[_Union[Policy, _Mapping]] = ..., capabilities: _Optional[_Iterable[str]] = ..., realm: _Optional[str] = ...) -> None: ...

class SimulatedRequest(_message.Message):
    __slots__ = ("method", "url", "headers", "body")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    METHOD_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    method: str
    url: str
    headers: _containers.ScalarMap[str, str]
    body: bytes
    def __init__(self, method: _Optional[str] = ..., url: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., body: _Optional[bytes] = ...) -> None: ...

class SimulateRequest(_message.Message):
    __slots__ = ("agent_id", "agent", "request")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    agent: SimulatedAgent
    request: SimulatedRequest
    def __init__(self, agent_id: _Optional[str] = ..., agent: _Optional[_Union[SimulatedAgent, _Mapping]] = ..., request: _Optional[_Union[SimulatedRequest, _Mapping]] = ...) -> None: ...

class SimulateResponse(_message.Message):
    __slots__ = ("effect", "rule", "reason", "agent_id", "trust_score", "risk_score", "risk_factors", "hitl_threshold", "policy_name", "policy_version")
    class RiskFactorsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TRUST_SCORE_FIELD_NUMBER: _ClassVar[int]
    RISK_SCORE_FIELD_NUMBER: _ClassVar[int]
    RISK_FACTORS_FIELD_NUMBER: _ClassVar[int]
    HITL_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    POLICY_NAME_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    effect: str
    rule: str
    reason: str
    agent_id: str
    trust_score: float
    risk_score: float
    risk_factors: _containers.ScalarMap[str, float]
    hitl_threshold: float
    policy_name: str
    policy_version: int
    def __init__(self, effect: _Optional[str] = ..., rule: _Optional[str] = ..., reason: _Optional[str] = ..., agent_id: _Optional[str] = ..., trust_score: _Optional[float] = ..., risk_score: _Optional[float] = ..., risk_factors: _Optional[_Mapping[str, float]] = ..., hitl_threshold: _Optional[float] = ..., policy_name: _Optional[str] = ..., policy_version: _Optional[int] = ...) -> None: ...
