from google.api import annotations_pb2 as _annotations_pb2
from vectra.grpc.generated.vectra.v1 import proxy_pb2 as _proxy_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HitlRequestSummary(_message.Message):
    __slots__ = ("id", "status", "method", "url", "reason", "agent_id", "timestamp", "expires_at", "rule", "risk", "risk_factors", "policy_name", "policy_version", "digest", "body_size", "decided_by", "decided_at")
    class RiskFactorsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    RISK_FACTORS_FIELD_NUMBER: _ClassVar[int]
    POLICY_NAME_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    BODY_SIZE_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: str
    method: str
    url: str
    reason: str
    agent_id: str
    timestamp: str
    expires_at: str
    rule: str
    risk: float
    risk_factors: _containers.ScalarMap[str, float]
    policy_name: str
    policy_version: int
    digest: str
    body_size: int
    decided_by: str
    decided_at: str
    def __init__(self, id: _Optional[str] = ..., status: _Optional[str] = ..., method: _Optional[str] = ..., url: _Optional[str] = ..., reason: _Optional[str] = ..., agent_id: _Optional[str] = ..., timestamp: _Optional[str] = ..., expires_at: _Optional[str] = ..., rule: _Optional[str] = ..., risk: _Optional[float] = ..., risk_factors: _Optional[_Mapping[str, float]] = ..., policy_name: _Optional[str] = ..., policy_version: _Optional[int] = ..., digest: _Optional[str] = ..., body_size: _Optional[int] = ..., decided_by: _Optional[str] = ..., decided_at: _Optional[str] = ...) -> None: ...

class HitlRequestDetail(_message.Message):
    __slots__ = ("summary", "headers", "body")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    summary: HitlRequestSummary
    headers: _containers.RepeatedCompositeFieldContainer[_proxy_pb2.Header]
    body: bytes
    def __init__(self, summary: _Optional[_Union[HitlRequestSummary, _Mapping]] = ..., headers: _Optional[_Iterable[_Union[_proxy_pb2.Header, _Mapping]]] = ..., body: _Optional[bytes] = ...) -> None: ...

class HitlDecision(_message.Message):
    __slots__ = ("by", "at", "comment")
    BY_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    by: str
    at: str
    comment: str
    def __init__(self, by: _Optional[str] = ..., at: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class HitlUpstreamAnswer(_message.Message):
    __slots__ = ("status", "headers", "body", "body_size", "body_truncated", "error")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    BODY_SIZE_FIELD_NUMBER: _ClassVar[int]
    BODY_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    status: int
    headers: _containers.RepeatedCompositeFieldContainer[_proxy_pb2.Header]
    body: bytes
    body_size: int
    body_truncated: bool
    error: str
    def __init__(self, status: _Optional[int] = ..., headers: _Optional[_Iterable[_Union[_proxy_pb2.Header, _Mapping]]] = ..., body: _Optional[bytes] = ..., body_size: _Optional[int] = ..., body_truncated: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class HitlRequestStatus(_message.Message):
    __slots__ = ("id", "status", "pending", "decision", "response")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: str
    pending: HitlRequestDetail
    decision: HitlDecision
    response: HitlUpstreamAnswer
    def __init__(self, id: _Optional[str] = ..., status: _Optional[str] = ..., pending: _Optional[_Union[HitlRequestDetail, _Mapping]] = ..., decision: _Optional[_Union[HitlDecision, _Mapping]] = ..., response: _Optional[_Union[HitlUpstreamAnswer, _Mapping]] = ...) -> None: ...

class ListHitlRequestsRequest(_message.Message):
    __slots__ = ("agent_id", "status", "page", "page_size")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    status: _containers.RepeatedScalarFieldContainer[str]
    page: int
    page_size: int
    def __init__(self, agent_id: _Optional[str] = ..., status: _Optional[_Iterable[str]] = ..., page: _Optional[int] = ..., page_size: _Optional[int] = ...) -> None: ...

class ListHitlRequestsResponse(_message.Message):
    __slots__ = ("items", "page", "page_size", "total_count")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[HitlRequestSummary]
    page: int
    page_size: int
    total_count: int
    def __init__(self, items: _Optional[_Iterable[_Union[HitlRequestSummary, _Mapping]]] = ..., page: _Optional[int] = ..., page_size: _Optional[int] = ..., total_count: _Optional[int] = ...) -> None: ...

class GetHitlRequestRequest(_message.Message):
    __slots__ = ("id", "wait")
    ID_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    id: str
    wait: float
    def __init__(self, id: _Optional[str] = ..., wait: _Optional[float] = ...) -> None: ...

class ApproveHitlRequestRequest(_message.Message):
    __slots__ = ("id", "comment", "digest")
    ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    id: str
    comment: str
    digest: str
    def __init__(self, id: _Optional[str] = ..., comment: _Optional[str] = ..., digest: _Optional[str] = ...) -> None: ...

class ApproveHitlRequestResponse(_message.Message):
    __slots__ = ("request", "answer")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    request: HitlRequestStatus
    answer: HitlUpstreamAnswer
    def __init__(self, request: _Optional[_Union[HitlRequestStatus, _Mapping]] = ..., answer: _Optional[_Union[HitlUpstreamAnswer, _Mapping]] = ...) -> None: ...

class DenyHitlRequestRequest(_message.Message):
    __slots__ = ("id", "comment")
    ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    comment: str
    def __init__(self, id: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class WatchHitlRequestRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...
