from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class GetSessionComplianceRequest(_message.Message):
    __slots__ = ("session_id", "format")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    format: str
    def __init__(self, session_id: _Optional[str] = ..., format: _Optional[str] = ...) -> None: ...

class GetComplianceRequest(_message.Message):
    __slots__ = ("agent_id", "from_time", "to_time", "format")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    from_time: str
    to_time: str
    format: str
    def __init__(self, agent_id: _Optional[str] = ..., from_time: _Optional[str] = ..., to_time: _Optional[str] = ..., format: _Optional[str] = ...) -> None: ...

class ComplianceExport(_message.Message):
    __slots__ = ("content_type", "document")
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    document: bytes
    def __init__(self, content_type: _Optional[str] = ..., document: _Optional[bytes] = ...) -> None: ...
