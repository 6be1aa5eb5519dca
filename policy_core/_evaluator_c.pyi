"""Type stub for the compiled evaluator (``_evaluator_c.pyx``); the twin ``_evaluator_py`` has the same API."""

from collections.abc import Mapping
from typing import Any

from .decision import Decision

class PolicyRequest:
    method: Any
    url: Any
    def __init__(
        self,
        method: Any = None,
        url: Any = None,
        headers: Any = None,
        body: Any = None,
        agent: Any = None,
        risk: Any = None,
        time: Any = None,
    ) -> None: ...
    @classmethod
    def from_parts(
        cls,
        method: Any,
        url: Any,
        headers: Any = None,
        body: Any = None,
        agent: Any = None,
        risk: Any = None,
        time: Any = None,
    ) -> PolicyRequest: ...
    @classmethod
    def from_mapping(cls, request: Mapping[str, Any]) -> PolicyRequest: ...
    def to_mapping(self) -> dict[str, Any]: ...
    def url_parts(self) -> tuple[Any, Any, Any, Any, Any]: ...
    @property
    def host(self) -> Any: ...
    @property
    def path(self) -> Any: ...
    @property
    def body_size(self) -> int: ...
    def field(self, code: int, arg: Any = None) -> Any: ...

def prepare_request(request: Mapping[str, Any]) -> PolicyRequest: ...

class Evaluator:
    def __init__(
        self,
        rules: list[tuple[Decision, tuple[Any, ...]]],
        default: Decision,
        buckets: dict[tuple[str | None, str | None], list[int]],
    ) -> None: ...
    def evaluate(self, request: Mapping[str, Any] | PolicyRequest | Any) -> Decision: ...
