import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RegistrationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REGISTRATION_STATUS_UNSPECIFIED: _ClassVar[RegistrationStatus]
    REGISTRATION_STATUS_PENDING: _ClassVar[RegistrationStatus]
    REGISTRATION_STATUS_APPROVED: _ClassVar[RegistrationStatus]
    REGISTRATION_STATUS_REJECTED: _ClassVar[RegistrationStatus]
REGISTRATION_STATUS_UNSPECIFIED: RegistrationStatus
REGISTRATION_STATUS_PENDING: RegistrationStatus
REGISTRATION_STATUS_APPROVED: RegistrationStatus
REGISTRATION_STATUS_REJECTED: RegistrationStatus

class Registration(_message.Message):
    __slots__ = ("id", "name", "version", "description", "metadata", "requested_capabilities", "public_key", "did", "source", "status", "requested_at", "decided_at", "decided_by", "reason", "agent_id", "granted_capabilities")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    DID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTED_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    version: str
    description: str
    metadata: _containers.ScalarMap[str, str]
    requested_capabilities: _containers.RepeatedScalarFieldContainer[str]
    public_key: str
    did: str
    source: str
    status: RegistrationStatus
    requested_at: _timestamp_pb2.Timestamp
    decided_at: _timestamp_pb2.Timestamp
    decided_by: str
    reason: str
    agent_id: str
    granted_capabilities: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[str] = ..., description: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., requested_capabilities: _Optional[_Iterable[str]] = ..., public_key: _Optional[str] = ..., did: _Optional[str] = ..., source: _Optional[str] = ..., status: _Optional[_Union[RegistrationStatus, str]] = ..., requested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decided_by: _Optional[str] = ..., reason: _Optional[str] = ..., agent_id: _Optional[str] = ..., granted_capabilities: _Optional[_Iterable[str]] = ...) -> None: ...

class RegistrationState(_message.Message):
    __slots__ = ("id", "status", "name", "did", "requested_capabilities", "requested_at", "decided_at", "reason", "agent_id", "granted_capabilities")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DID_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTED_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: RegistrationStatus
    name: str
    did: str
    requested_capabilities: _containers.RepeatedScalarFieldContainer[str]
    requested_at: _timestamp_pb2.Timestamp
    decided_at: _timestamp_pb2.Timestamp
    reason: str
    agent_id: str
    granted_capabilities: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., status: _Optional[_Union[RegistrationStatus, str]] = ..., name: _Optional[str] = ..., did: _Optional[str] = ..., requested_capabilities: _Optional[_Iterable[str]] = ..., requested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., agent_id: _Optional[str] = ..., granted_capabilities: _Optional[_Iterable[str]] = ...) -> None: ...

class SubmitRegistrationRequest(_message.Message):
    __slots__ = ("name", "version", "description", "metadata", "capabilities", "public_key")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    description: str
    metadata: _containers.ScalarMap[str, str]
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    public_key: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., description: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., capabilities: _Optional[_Iterable[str]] = ..., public_key: _Optional[str] = ...) -> None: ...

class SubmitRegistrationResponse(_message.Message):
    __slots__ = ("id", "status", "did", "message")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: RegistrationStatus
    did: str
    message: str
    def __init__(self, id: _Optional[str] = ..., status: _Optional[_Union[RegistrationStatus, str]] = ..., did: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ListRegistrationsRequest(_message.Message):
    __slots__ = ("page", "page_size", "status")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    page: int
    page_size: int
    status: str
    def __init__(self, page: _Optional[int] = ..., page_size: _Optional[int] = ..., status: _Optional[str] = ...) -> None: ...

class ListRegistrationsResponse(_message.Message):
    __slots__ = ("items", "page", "page_size", "total_count", "total_pages", "available_capabilities")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PAGES_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Registration]
    page: int
    page_size: int
    total_count: int
    total_pages: int
    available_capabilities: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, items: _Optional[_Iterable[_Union[Registration, _Mapping]]] = ..., page: _Optional[int] = ..., page_size: _Optional[int] = ..., total_count: _Optional[int] = ..., total_pages: _Optional[int] = ..., available_capabilities: _Optional[_Iterable[str]] = ...) -> None: ...

class GetRegistrationRequest(_message.Message):
    __slots__ = ("registration_id",)
    REGISTRATION_ID_FIELD_NUMBER: _ClassVar[int]
    registration_id: str
    def __init__(self, registration_id: _Optional[str] = ...) -> None: ...

class CapabilityGrant(_message.Message):
    __slots__ = ("capabilities",)
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, capabilities: _Optional[_Iterable[str]] = ...) -> None: ...

class ApproveRegistrationRequest(_message.Message):
    __slots__ = ("registration_id", "grant", "policy_name", "realm")
    REGISTRATION_ID_FIELD_NUMBER: _ClassVar[int]
    GRANT_FIELD_NUMBER: _ClassVar[int]
    POLICY_NAME_FIELD_NUMBER: _ClassVar[int]
    REALM_FIELD_NUMBER: _ClassVar[int]
    registration_id: str
    grant: CapabilityGrant
    policy_name: str
    realm: str
    def __init__(self, registration_id: _Optional[str] = ..., grant: _Optional[_Union[CapabilityGrant, _Mapping]] = ..., policy_name: _Optional[str] = ..., realm: _Optional[str] = ...) -> None: ...

class ApproveRegistrationResponse(_message.Message):
    __slots__ = ("success", "agent_id", "did", "capabilities")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DID_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    success: bool
    agent_id: str
    did: str
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, success: _Optional[bool] = ..., agent_id: _Optional[str] = ..., did: _Optional[str] = ..., capabilities: _Optional[_Iterable[str]] = ...) -> None: ...

class RejectRegistrationRequest(_message.Message):
    __slots__ = ("registration_id", "reason")
    REGISTRATION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    registration_id: str
    reason: str
    def __init__(self, registration_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RejectRegistrationResponse(_message.Message):
    __slots__ = ("success",)
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    success: bool
    def __init__(self, success: _Optional[bool] = ...) -> None: ...
