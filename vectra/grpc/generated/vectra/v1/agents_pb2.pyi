import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vectra.grpc.generated.vectra.v1 import realms_pb2 as _realms_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_STATUS_UNSPECIFIED: _ClassVar[AgentStatus]
    AGENT_STATUS_ACTIVE: _ClassVar[AgentStatus]
    AGENT_STATUS_QUARANTINED: _ClassVar[AgentStatus]
    AGENT_STATUS_REVOKED: _ClassVar[AgentStatus]
AGENT_STATUS_UNSPECIFIED: AgentStatus
AGENT_STATUS_ACTIVE: AgentStatus
AGENT_STATUS_QUARANTINED: AgentStatus
AGENT_STATUS_REVOKED: AgentStatus

class Agent(_message.Message):
    __slots__ = ("id", "name", "owner_id", "status", "policy_name", "trust_score", "roles", "created_at", "last_seen_at", "online", "capabilities", "realm", "version", "description", "metadata", "public_key", "did", "scope_realms", "max_session_hours", "max_daily_sessions", "max_concurrent_sessions", "max_delegation_depth", "parent_agent_id", "shadow_policy")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    POLICY_NAME_FIELD_NUMBER: _ClassVar[int]
    TRUST_SCORE_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    REALM_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    DID_FIELD_NUMBER: _ClassVar[int]
    SCOPE_REALMS_FIELD_NUMBER: _ClassVar[int]
    MAX_SESSION_HOURS_FIELD_NUMBER: _ClassVar[int]
    MAX_DAILY_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_DELEGATION_DEPTH_FIELD_NUMBER: _ClassVar[int]
    PARENT_AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SHADOW_POLICY_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    owner_id: str
    status: AgentStatus
    policy_name: str
    trust_score: float
    roles: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    last_seen_at: _timestamp_pb2.Timestamp
    online: bool
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    realm: _realms_pb2.Realm
    version: str
    description: str
    metadata: _containers.ScalarMap[str, str]
    public_key: str
    did: str
    scope_realms: _containers.RepeatedScalarFieldContainer[str]
    max_session_hours: float
    max_daily_sessions: int
    max_concurrent_sessions: int
    max_delegation_depth: int
    parent_agent_id: str
    shadow_policy: ShadowPolicyRef
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., owner_id: _Optional[str] = ..., status: _Optional[_Union[AgentStatus, str]] = ..., policy_name: _Optional[str] = ..., trust_score: _Optional[float] = ..., roles: _Optional[_Iterable[str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., online: _Optional[bool] = ..., capabilities: _Optional[_Iterable[str]] = ..., realm: _Optional[_Union[_realms_pb2.Realm, _Mapping]] = ..., version: _Optional[str] = ..., description: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., public_key: _Optional[str] = ..., did: _Optional[str] = ..., scope_realms: _Optional[_Iterable[str]] = ..., max_session_hours: _Optional[float] = ..., max_daily_sessions: _Optional[int] = ..., max_concurrent_sessions: _Optional[int] = ..., max_delegation_depth: _Optional[int] = ..., parent_agent_id: _Optional[str] = ..., shadow_policy: _Optional[_Union[ShadowPolicyRef, _Mapping]] = ...) -> None: ...

class ShadowPolicyRef(_message.Message):
    __slots__ = ("policy_name", "policy_version", "since")
    POLICY_NAME_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    policy_name: str
    policy_version: int
    since: _timestamp_pb2.Timestamp
    def __init__(self, policy_name: _Optional[str] = ..., policy_version: _Optional[int] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ShadowStatus(_message.Message):
    __slots__ = ("agent_id", "policy_name", "policy_version", "since", "judged", "agreed", "disagreed")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_NAME_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    JUDGED_FIELD_NUMBER: _ClassVar[int]
    AGREED_FIELD_NUMBER: _ClassVar[int]
    DISAGREED_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    policy_name: str
    policy_version: int
    since: _timestamp_pb2.Timestamp
    judged: int
    agreed: int
    disagreed: int
    def __init__(self, agent_id: _Optional[str] = ..., policy_name: _Optional[str] = ..., policy_version: _Optional[int] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., judged: _Optional[int] = ..., agreed: _Optional[int] = ..., disagreed: _Optional[int] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ("page", "page_size", "q", "status", "online", "realm", "capabilities", "owner_id", "sort_by", "sort_dir")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    Q_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    REALM_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    SORT_BY_FIELD_NUMBER: _ClassVar[int]
    SORT_DIR_FIELD_NUMBER: _ClassVar[int]
    page: int
    page_size: int
    q: str
    status: AgentStatus
    online: bool
    realm: str
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    owner_id: str
    sort_by: str
    sort_dir: str
    def __init__(self, page: _Optional[int] = ..., page_size: _Optional[int] = ..., q: _Optional[str] = ..., status: _Optional[_Union[AgentStatus, str]] = ..., online: _Optional[bool] = ..., realm: _Optional[str] = ..., capabilities: _Optional[_Iterable[str]] = ..., owner_id: _Optional[str] = ..., sort_by: _Optional[str] = ..., sort_dir: _Optional[str] = ...) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ("items", "page", "page_size", "total_count", "total_pages", "online_count")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PAGES_FIELD_NUMBER: _ClassVar[int]
    ONLINE_COUNT_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Agent]
    page: int
    page_size: int
    total_count: int
    total_pages: int
    online_count: int
    def __init__(self, items: _Optional[_Iterable[_Union[Agent, _Mapping]]] = ..., page: _Optional[int] = ..., page_size: _Optional[int] = ..., total_count: _Optional[int] = ..., total_pages: _Optional[int] = ..., online_count: _Optional[int] = ...) -> None: ...

class StringList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Iterable[str]] = ...) -> None: ...

class Metadata(_message.Message):
    __slots__ = ("entries",)
    class EntriesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.ScalarMap[str, str]
    def __init__(self, entries: _Optional[_Mapping[str, str]] = ...) -> None: ...

class UpdateAgentRequest(_message.Message):
    __slots__ = ("agent_id", "name", "capabilities", "realm", "version", "description", "metadata", "scope_realms", "max_session_hours", "max_daily_sessions", "max_concurrent_sessions", "max_delegation_depth")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    REALM_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    SCOPE_REALMS_FIELD_NUMBER: _ClassVar[int]
    MAX_SESSION_HOURS_FIELD_NUMBER: _ClassVar[int]
    MAX_DAILY_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_DELEGATION_DEPTH_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    name: str
    capabilities: StringList
    realm: str
    version: str
    description: str
    metadata: Metadata
    scope_realms: StringList
    max_session_hours: HoursLimit
    max_daily_sessions: CountLimit
    max_concurrent_sessions: CountLimit
    max_delegation_depth: CountLimit
    def __init__(self, agent_id: _Optional[str] = ..., name: _Optional[str] = ..., capabilities: _Optional[_Union[StringList, _Mapping]] = ..., realm: _Optional[str] = ..., version: _Optional[str] = ..., description: _Optional[str] = ..., metadata: _Optional[_Union[Metadata, _Mapping]] = ..., scope_realms: _Optional[_Union[StringList, _Mapping]] = ..., max_session_hours: _Optional[_Union[HoursLimit, _Mapping]] = ..., max_daily_sessions: _Optional[_Union[CountLimit, _Mapping]] = ..., max_concurrent_sessions: _Optional[_Union[CountLimit, _Mapping]] = ..., max_delegation_depth: _Optional[_Union[CountLimit, _Mapping]] = ...) -> None: ...

class HoursLimit(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: float
    def __init__(self, value: _Optional[float] = ...) -> None: ...

class CountLimit(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: int
    def __init__(self, value: _Optional[int] = ...) -> None: ...

class GetAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class RegisterAgentRequest(_message.Message):
    __slots__ = ("name", "owner_id", "client_secret", "roles", "capabilities", "realm", "version", "description", "metadata", "public_key", "scope_realms", "max_session_hours", "max_daily_sessions", "max_concurrent_sessions", "max_delegation_depth", "parent_agent_id")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    REALM_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SCOPE_REALMS_FIELD_NUMBER: _ClassVar[int]
    MAX_SESSION_HOURS_FIELD_NUMBER: _ClassVar[int]
    MAX_DAILY_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    MAX_DELEGATION_DEPTH_FIELD_NUMBER: _ClassVar[int]
    PARENT_AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    owner_id: str
    client_secret: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    realm: str
    version: str
    description: str
    metadata: _containers.ScalarMap[str, str]
    public_key: str
    scope_realms: _containers.RepeatedScalarFieldContainer[str]
    max_session_hours: float
    max_daily_sessions: int
    max_concurrent_sessions: int
    max_delegation_depth: int
    parent_agent_id: str
    def __init__(self, name: _Optional[str] = ..., owner_id: _Optional[str] = ..., client_secret: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., capabilities: _Optional[_Iterable[str]] = ..., realm: _Optional[str] = ..., version: _Optional[str] = ..., description: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., public_key: _Optional[str] = ..., scope_realms: _Optional[_Iterable[str]] = ..., max_session_hours: _Optional[float] = ..., max_daily_sessions: _Optional[int] = ..., max_concurrent_sessions: _Optional[int] = ..., max_delegation_depth: _Optional[int] = ..., parent_agent_id: _Optional[str] = ...) -> None: ...

class RegisterAgentResponse(_message.Message):
    __slots__ = ("id", "name", "client_secret", "did")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    DID_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    client_secret: str
    did: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., client_secret: _Optional[str] = ..., did: _Optional[str] = ...) -> None: ...

class AssignPolicyRequest(_message.Message):
    __slots__ = ("agent_id", "policy_name")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_NAME_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    policy_name: str
    def __init__(self, agent_id: _Optional[str] = ..., policy_name: _Optional[str] = ...) -> None: ...

class DeleteAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class DeleteAgentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RevokeAgentRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class LiftQuarantineRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class PutShadowPolicyRequest(_message.Message):
    __slots__ = ("agent_id", "policy_name", "version")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    policy_name: str
    version: int
    def __init__(self, agent_id: _Optional[str] = ..., policy_name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class GetShadowPolicyRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class DeleteShadowPolicyRequest(_message.Message):
    __slots__ = ("agent_id",)
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    def __init__(self, agent_id: _Optional[str] = ...) -> None: ...

class DeleteShadowPolicyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
