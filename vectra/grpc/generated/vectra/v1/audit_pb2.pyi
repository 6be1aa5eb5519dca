from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AuditRecord(_message.Message):
    __slots__ = ("id", "time", "actor", "agent_id", "source", "action", "method", "url", "decision", "rule", "reason", "risk", "trust", "upstream_status", "latency_ms", "details", "schema_version", "prev_hash", "hash")
    ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    TRUST_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_STATUS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    id: int
    time: str
    actor: str
    agent_id: str
    source: str
    action: str
    method: str
    url: str
    decision: str
    rule: str
    reason: str
    risk: float
    trust: float
    upstream_status: int
    latency_ms: float
    details: _struct_pb2.Struct
    schema_version: int
    prev_hash: str
    hash: str
    def __init__(self, id: _Optional[int] = ..., time: _Optional[str] = ..., actor: _Optional[str] = ..., agent_id: _Optional[str] = ..., source: _Optional[str] = ..., action: _Optional[str] = ..., method: _Optional[str] = ..., url: _Optional[str] = ..., decision: _Optional[str] = ..., rule: _Optional[str] = ..., reason: _Optional[str] = ..., risk: _Optional[float] = ..., trust: _Optional[float] = ..., upstream_status: _Optional[int] = ..., latency_ms: _Optional[float] = ..., details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., schema_version: _Optional[int] = ..., prev_hash: _Optional[str] = ..., hash: _Optional[str] = ...) -> None: ...

class ListAuditRequest(_message.Message):
    __slots__ = ("page", "page_size", "agent_id", "decision", "from_time", "to_time", "action", "source", "session_id", "shadow")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SHADOW_FIELD_NUMBER: _ClassVar[int]
    page: int
    page_size: int
    agent_id: str
    decision: str
    from_time: str
    to_time: str
    action: str
    source: str
    session_id: str
    shadow: str
    def __init__(self, page: _Optional[int] = ..., page_size: _Optional[int] = ..., agent_id: _Optional[str] = ..., decision: _Optional[str] = ..., from_time: _Optional[str] = ..., to_time: _Optional[str] = ..., action: _Optional[str] = ..., source: _Optional[str] = ..., session_id: _Optional[str] = ..., shadow: _Optional[str] = ...) -> None: ...

class ListAuditResponse(_message.Message):
    __slots__ = ("items", "page", "page_size", "total_count")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[AuditRecord]
    page: int
    page_size: int
    total_count: int
    def __init__(self, items: _Optional[_Iterable[_Union[AuditRecord, _Mapping]]] = ..., page: _Optional[int] = ..., page_size: _Optional[int] = ..., total_count: _Optional[int] = ...) -> None: ...

class VerifyAuditRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VerifyAuditResponse(_message.Message):
    __slots__ = ("valid", "count", "head_hash", "first_broken_id")
    VALID_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    HEAD_HASH_FIELD_NUMBER: _ClassVar[int]
    FIRST_BROKEN_ID_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    count: int
    head_hash: str
    first_broken_id: int
    def __init__(self, valid: _Optional[bool] = ..., count: _Optional[int] = ..., head_hash: _Optional[str] = ..., first_broken_id: _Optional[int] = ...) -> None: ...
