from google.api import annotations_pb2 as _annotations_pb2
from vectra.grpc.generated.vectra.v1 import policies_pb2 as _policies_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReplayRequest(_message.Message):
    __slots__ = ("session_id", "agent_id", "from_time", "to_time", "policy")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    agent_id: str
    from_time: str
    to_time: str
    policy: ReplayPolicy
    def __init__(self, session_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., from_time: _Optional[str] = ..., to_time: _Optional[str] = ..., policy: _Optional[_Union[ReplayPolicy, _Mapping]] = ...) -> None: ...

class ReplayPolicy(_message.Message):
    __slots__ = ("name", "version", "document")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    document: _policies_pb2.Policy
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., document: _Optional[_Union[_policies_pb2.Policy, _Mapping]] = ...) -> None: ...

class PolicyRef(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ReplayChange(_message.Message):
    __slots__ = ("audit_id", "time", "method", "url", "tool", "original_decision", "replayed_decision", "original_rule", "rule", "reason", "body_truncated")
    AUDIT_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    TOOL_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_DECISION_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_DECISION_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_RULE_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    BODY_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    audit_id: int
    time: str
    method: str
    url: str
    tool: str
    original_decision: str
    replayed_decision: str
    original_rule: str
    rule: str
    reason: str
    body_truncated: bool
    def __init__(self, audit_id: _Optional[int] = ..., time: _Optional[str] = ..., method: _Optional[str] = ..., url: _Optional[str] = ..., tool: _Optional[str] = ..., original_decision: _Optional[str] = ..., replayed_decision: _Optional[str] = ..., original_rule: _Optional[str] = ..., rule: _Optional[str] = ..., reason: _Optional[str] = ..., body_truncated: _Optional[bool] = ...) -> None: ...

class ReplayReport(_message.Message):
    __slots__ = ("total_replayed", "consistent", "changed", "incomplete", "policy", "changes")
    TOTAL_REPLAYED_FIELD_NUMBER: _ClassVar[int]
    CONSISTENT_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    INCOMPLETE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    total_replayed: int
    consistent: int
    changed: int
    incomplete: int
    policy: PolicyRef
    changes: _containers.RepeatedCompositeFieldContainer[ReplayChange]
    def __init__(self, total_replayed: _Optional[int] = ..., consistent: _Optional[int] = ..., changed: _Optional[int] = ..., incomplete: _Optional[int] = ..., policy: _Optional[_Union[PolicyRef, _Mapping]] = ..., changes: _Optional[_Iterable[_Union[ReplayChange, _Mapping]]] = ...) -> None: ...
