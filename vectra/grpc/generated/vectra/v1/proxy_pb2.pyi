from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Header(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class ForwardRequest(_message.Message):
    __slots__ = ("method", "url", "headers", "body", "session_id")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    method: str
    url: str
    headers: _containers.RepeatedCompositeFieldContainer[Header]
    body: bytes
    session_id: str
    def __init__(self, method: _Optional[str] = ..., url: _Optional[str] = ..., headers: _Optional[_Iterable[_Union[Header, _Mapping]]] = ..., body: _Optional[bytes] = ..., session_id: _Optional[str] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("effect", "rule", "reason", "risk", "trust", "hitl_threshold", "policy_name", "policy_version")
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    TRUST_FIELD_NUMBER: _ClassVar[int]
    HITL_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    POLICY_NAME_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    effect: str
    rule: str
    reason: str
    risk: float
    trust: float
    hitl_threshold: float
    policy_name: str
    policy_version: int
    def __init__(self, effect: _Optional[str] = ..., rule: _Optional[str] = ..., reason: _Optional[str] = ..., risk: _Optional[float] = ..., trust: _Optional[float] = ..., hitl_threshold: _Optional[float] = ..., policy_name: _Optional[str] = ..., policy_version: _Optional[int] = ...) -> None: ...

class PendingRequest(_message.Message):
    __slots__ = ("id", "status", "reason", "expires_at", "location")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: str
    reason: str
    expires_at: str
    location: str
    def __init__(self, id: _Optional[str] = ..., status: _Optional[str] = ..., reason: _Optional[str] = ..., expires_at: _Optional[str] = ..., location: _Optional[str] = ...) -> None: ...

class ForwardResponse(_message.Message):
    __slots__ = ("decision", "status", "headers", "body", "pending", "gateway_headers")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_HEADERS_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    status: int
    headers: _containers.RepeatedCompositeFieldContainer[Header]
    body: bytes
    pending: PendingRequest
    gateway_headers: _containers.RepeatedCompositeFieldContainer[Header]
    def __init__(self, decision: _Optional[_Union[Decision, _Mapping]] = ..., status: _Optional[int] = ..., headers: _Optional[_Iterable[_Union[Header, _Mapping]]] = ..., body: _Optional[bytes] = ..., pending: _Optional[_Union[PendingRequest, _Mapping]] = ..., gateway_headers: _Optional[_Iterable[_Union[Header, _Mapping]]] = ...) -> None: ...

class CheckRequest(_message.Message):
    __slots__ = ("method", "url", "headers", "body", "session_id")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    method: str
    url: str
    headers: _containers.RepeatedCompositeFieldContainer[Header]
    body: bytes
    session_id: str
    def __init__(self, method: _Optional[str] = ..., url: _Optional[str] = ..., headers: _Optional[_Iterable[_Union[Header, _Mapping]]] = ..., body: _Optional[bytes] = ..., session_id: _Optional[str] = ...) -> None: ...

class CheckResponse(_message.Message):
    __slots__ = ("decision", "retry_after_seconds")
    DECISION_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    retry_after_seconds: int
    def __init__(self, decision: _Optional[_Union[Decision, _Mapping]] = ..., retry_after_seconds: _Optional[int] = ...) -> None: ...

class CheckBatch(_message.Message):
    __slots__ = ("checks",)
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    checks: _containers.RepeatedCompositeFieldContainer[CheckRequest]
    def __init__(self, checks: _Optional[_Iterable[_Union[CheckRequest, _Mapping]]] = ...) -> None: ...

class CheckBatchResult(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[CheckResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[CheckResponse, _Mapping]]] = ...) -> None: ...
