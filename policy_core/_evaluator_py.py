"""The pure-Python evaluator: the reference behaviour, and the fallback when the extension is not built.

It consumes what :func:`policy_core.compile.lower_policy` produces and must behave exactly like
``_evaluator_c`` (the test suite runs every case, and a differential property test, against both).

Semantics (see also :mod:`policy_core.fields` and :mod:`policy_core.operators`):

- A condition on a missing field is false (``notExists`` excepted); so is a type mismatch. Nothing raises: an
  unexpected error while evaluating yields ``Decision("Deny", None, "policy evaluation failed")`` (fail closed).
- The literal's type decides the comparison: a number literal compares numerically, and a string field value
  that is a decimal number (``"42"``, ``"1.5"``) is parsed for it; ``1 == 1.0``; ``true`` is not ``1``; a string
  literal compares only with strings. ``gt``/``ge``/``lt``/``le`` are numeric.
- ``ignoreCase`` lower-cases both sides (regex and glob: RE2's case-insensitive mode). Methods are compared
  upper-cased and hosts and schemes lower-cased regardless.
- ``contains`` is substring for strings and membership for lists (``input.agent.roles``, JSON arrays); ``in``
  is membership of the value in the literal list, and for a list value "shares an element with it".
- ``regex`` searches (unanchored, RE2, linear time); ``glob`` matches the whole value.
- Multi-valued fields (repeated headers or query parameters): see :mod:`policy_core.fields`.
"""

from __future__ import annotations

import time as _time
from collections.abc import Mapping

from . import _values
from ._url import split_url
from ._values import MISSING
from .decision import Decision
from .mcp import mcp_view

__all__ = ["Evaluator", "PolicyRequest", "prepare_request"]

_FAILED = Decision("Deny", None, "policy evaluation failed")
_CACHE_LIMIT = 4096

# Mirror of the codes in fields.py / operators.py / compile.py (kept literal so this module reads alone).
F_METHOD, F_URL, F_SCHEME, F_HOST, F_PORT, F_PATH, F_QUERY, F_QUERY_PARAM, F_HEADER = range(1, 10)
F_BODY, F_JSON, F_BODY_SIZE, F_AGENT_ID, F_AGENT_NAME, F_AGENT_OWNER, F_AGENT_TRUST = range(10, 17)
F_AGENT_ROLES, F_AGENT_KEY, F_RISK, F_TIME_HOUR, F_TIME_WEEKDAY = range(17, 22)
F_MCP_METHOD, F_MCP_TOOL, F_MCP_ARGUMENTS, F_MCP_BATCH = range(22, 26)
OP_EQ, OP_GT, OP_GE, OP_LT, OP_LE, OP_IN, OP_CONTAINS, OP_STARTS, OP_ENDS, OP_REGEX, OP_EXISTS, OP_CIDR = (
    range(1, 13)
)
LIT_NONE, LIT_STR, LIT_NUM, LIT_BOOL, LIT_NULL, LIT_JSON, LIT_SET, LIT_PATTERN, LIT_NETS = range(9)
NODE_LEAF, NODE_ANY, NODE_ALL, NODE_NOT = range(4)


class PolicyRequest:
    """A request prepared for evaluation. URL, headers, body and JSON are parsed lazily, at most once, so a
    request evaluated against several policies (or scored for risk) pays for parsing once.

    Build it with :meth:`from_parts` (the proxy's path) or :meth:`from_mapping`. ``time`` defaults to the moment
    it is first needed. :meth:`from_mapping` reads ``method`` and ``url`` at once and the other keys when a rule
    first needs them, so do not change the mapping while the prepared request is in use.

    ``url_parts()``, ``host``, ``path`` and ``body_size`` expose what the policy sees (absent parts are
    ``policy_core._values.MISSING``), e.g. for the risk scorer or logs.
    """

    __slots__ = (
        "_agent",
        "_body",
        "_body_size",
        "_body_text",
        "_headers",
        "_headers_raw",
        "_json",
        "_mcp",
        "_query_params",
        "_risk",
        "_source",
        "_time",
        "_time_parts",
        "_url_parts",
        "method",
        "url",
    )

    def __init__(self, method=None, url=None, headers=None, body=None, agent=None, risk=None, time=None):
        self.method = method.upper() if isinstance(method, str) else MISSING
        self.url = url if isinstance(url, str) else MISSING
        self._headers_raw = headers
        self._headers = None
        self._body = body
        self._body_text = None
        self._body_size = None
        self._json = None
        self._mcp = None
        self._agent = agent if isinstance(agent, Mapping) else None
        self._risk = risk
        self._time = time
        self._time_parts = None
        self._url_parts = None
        self._query_params = None
        self._source = None

    @classmethod
    def from_parts(
        cls, method, url, headers=None, body=None, agent=None, risk=None, time=None
    ) -> PolicyRequest:
        return cls(method, url, headers, body, agent, risk, time)

    @classmethod
    def from_mapping(cls, request: Mapping) -> PolicyRequest:
        """Read ``method`` and ``url`` now; the other keys only when a policy asks for them."""
        prepared = cls(request.get("method"), request.get("url"))
        prepared._source = request
        return prepared

    def _load(self) -> None:
        source = self._source
        if source is not None:
            self._source = None
            get = source.get
            self._headers_raw, self._body = get("headers"), get("body")
            agent = get("agent")
            self._agent = agent if isinstance(agent, Mapping) else None
            self._risk, self._time = get("risk"), get("time")

    def to_mapping(self) -> dict:
        self._load()
        return {
            "method": None if self.method is MISSING else self.method,
            "url": None if self.url is MISSING else self.url,
            "headers": self._headers_raw,
            "body": self._body,
            "agent": self._agent,
            "risk": self._risk,
            "time": self._time,
        }

    # -- lazily computed parts -------------------------------------------------------------------------------

    def url_parts(self) -> tuple:
        if self._url_parts is None:
            if self.url is MISSING:
                self._url_parts = (MISSING, MISSING, MISSING, MISSING, MISSING)
            else:
                self._url_parts = tuple(MISSING if part is None else part for part in split_url(self.url))
        return self._url_parts

    @property
    def host(self):
        return self.url_parts()[1]

    @property
    def path(self):
        return self.url_parts()[3]

    def headers(self) -> dict:
        self._load()
        if self._headers is None:
            self._headers = _values.collect_headers(self._headers_raw)
        return self._headers

    def query_params(self) -> dict:
        if self._query_params is None:
            query = self.url_parts()[4]
            self._query_params = {} if query is MISSING else _values.parse_query(query)
        return self._query_params

    def body_text(self):
        self._load()
        if self._body_size is None:
            self._body_text, self._body_size = _values.body_parts(self._body)
        return self._body_text

    @property
    def body_size(self) -> int:
        self.body_text()
        return self._body_size

    def json(self):
        if self._json is None:
            self._json = _values.parse_json(self.body_text(), self.body_size)
        return self._json

    def mcp(self) -> tuple:
        """``(method, tool, arguments, batch)`` of the body as an MCP message (see :mod:`policy_core.mcp`)."""
        if self._mcp is None:
            self._mcp = mcp_view(self.json())
        return self._mcp

    def time_parts(self) -> tuple:
        self._load()
        if self._time_parts is None:
            self._time_parts = _values.time_parts(_time.time() if self._time is None else self._time)
        return self._time_parts

    def field(self, code: int, arg):
        """The value of a field, or ``MISSING``."""
        if code == F_METHOD:
            return self.method
        if code == F_URL:
            return self.url
        if F_SCHEME <= code <= F_QUERY:
            return self.url_parts()[code - F_SCHEME]
        if code == F_HEADER:
            return self.headers().get(arg, MISSING)
        if code == F_QUERY_PARAM:
            return self.query_params().get(arg, MISSING)
        if code == F_BODY:
            return self.body_text()
        if code == F_BODY_SIZE:
            return self.body_size
        if code == F_JSON:
            document = self.json()
            return document if document is MISSING else _values.walk_json(document, arg)
        if F_MCP_METHOD <= code <= F_MCP_BATCH:
            value = self.mcp()[code - F_MCP_METHOD]
            if code == F_MCP_ARGUMENTS and value is not MISSING:
                return _values.walk_json(value, arg)
            return value
        self._load()
        if code == F_RISK:
            risk = self._risk
            if isinstance(risk, Mapping):
                risk = risk.get("score")
            return _values.request_number(risk)
        if code == F_TIME_HOUR:
            return self.time_parts()[0]
        if code == F_TIME_WEEKDAY:
            return self.time_parts()[1]
        agent = self._agent
        if agent is None:
            return MISSING
        if code == F_AGENT_ID:
            return _values.agent_text(agent, "id")
        if code == F_AGENT_NAME:
            return _values.agent_text(agent, "name")
        if code == F_AGENT_OWNER:
            return _values.agent_text(agent, "ownerId", "owner_id")
        if code == F_AGENT_TRUST:
            return _values.agent_number(agent, "trustScore", "trust_score")
        if code == F_AGENT_ROLES:
            return _values.agent_roles(agent)
        return agent.get(arg, MISSING)  # F_AGENT_KEY


def prepare_request(request: Mapping) -> PolicyRequest:
    """A :class:`PolicyRequest` from a request mapping."""
    return PolicyRequest.from_mapping(request)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_number(value):
    if _is_number(value):
        return value
    if isinstance(value, str):
        return _values.parse_number(value)
    return None


class Leaf:
    """A compiled ``field operator value`` test."""

    __slots__ = ("arg", "aux", "code", "fold", "kind", "literal", "multi", "negate", "op")

    def __init__(self, code, arg, op, negate, fold, kind, literal, aux):
        self.code, self.arg, self.op, self.negate = code, arg, op, negate
        self.fold, self.kind, self.literal, self.aux = fold, kind, literal, aux
        self.multi = code in (F_HEADER, F_QUERY_PARAM)

    def matches(self, request: PolicyRequest) -> bool:
        value = request.field(self.code, self.arg)
        if value is MISSING:
            return self.op == OP_EXISTS and self.negate
        if self.op == OP_EXISTS:
            return not self.negate
        if self.multi:
            outcome = -1
            for item in value:
                result = self.test(item)
                if result == 1:
                    outcome = 1
                    break
                if result == 0:
                    outcome = 0
        else:
            outcome = self.test(value)
        if outcome == -1:
            return False
        return (outcome == 1) != self.negate

    def test(self, value) -> int:
        """1 if the positive operator holds for ``value``, 0 if not, -1 if the types don't compare."""
        op, kind, literal = self.op, self.kind, self.literal
        if isinstance(value, str) and self.fold:
            value = value.lower()
        if op == OP_EQ:
            return self.equals(value)
        if op in (OP_GT, OP_GE, OP_LT, OP_LE):
            number = _as_number(value)
            if number is None:
                return -1
            if op == OP_GT:
                return int(number > literal)
            if op == OP_GE:
                return int(number >= literal)
            if op == OP_LT:
                return int(number < literal)
            return int(number <= literal)
        if op == OP_IN:
            if isinstance(value, (list, tuple)):
                for item in value:
                    if isinstance(item, str) and self.fold:
                        item = item.lower()
                    if self.in_set(item) == 1:
                        return 1
                return 0
            return self.in_set(value)
        if op == OP_CONTAINS:
            if isinstance(value, str):
                return int(literal in value) if kind == LIT_STR else -1
            if isinstance(value, (list, tuple)):
                for item in value:
                    if isinstance(item, str) and self.fold:
                        item = item.lower()
                    if self.equals(item) == 1:
                        return 1
                return 0
            return -1
        if not isinstance(value, str):
            return -1
        if op == OP_STARTS:
            return int(value.startswith(literal))
        if op == OP_ENDS:
            return int(value.endswith(literal))
        if op == OP_REGEX:
            return int(self.aux.search(value) is not None)
        if op == OP_CIDR:
            return _values.ip_in_networks(value, self.aux)
        return -1

    def equals(self, value) -> int:
        kind, literal = self.kind, self.literal
        if kind == LIT_STR:
            return int(value == literal) if isinstance(value, str) else -1
        if kind == LIT_NUM:
            number = _as_number(value)
            return -1 if number is None else int(number == literal)
        if kind == LIT_BOOL:
            return int(value is literal) if isinstance(value, bool) else -1
        if kind == LIT_NULL:
            return int(value is None)
        if kind == LIT_JSON:
            if isinstance(value, (list, tuple, Mapping)):
                return int(_values.json_equal(value, literal))
            return -1
        return -1

    def in_set(self, value) -> int:
        """``in`` for one scalar (already case-folded when ``ignoreCase``)."""
        strings, numbers, has_true, has_false, has_null = self.aux
        if isinstance(value, str):
            if value in strings:
                return 1
            if numbers:
                number = _values.parse_number(value)
                return int(number is not None and number in numbers)
            return 0
        if isinstance(value, bool):
            return int(has_true if value else has_false)
        if _is_number(value):
            return int(value in numbers)
        if value is None:
            return int(has_null)
        return -1


class AnyOf:
    __slots__ = ("children",)

    def __init__(self, children):
        self.children = children

    def matches(self, request) -> bool:
        return any(child.matches(request) for child in self.children)


class AllOf:
    __slots__ = ("children",)

    def __init__(self, children):
        self.children = children

    def matches(self, request) -> bool:
        return all(child.matches(request) for child in self.children)


class Not:
    __slots__ = ("child",)

    def __init__(self, child):
        self.child = child

    def matches(self, request) -> bool:
        return not self.child.matches(request)


def _build(node):
    tag = node[0]
    if tag == NODE_LEAF:
        return Leaf(*node[1:])
    if tag == NODE_ANY:
        return AnyOf([_build(child) for child in node[1]])
    if tag == NODE_ALL:
        return AllOf([_build(child) for child in node[1]])
    return Not(_build(node[1]))


class Rule:
    __slots__ = ("conditions", "decision")

    def __init__(self, decision, conditions):
        self.decision = decision
        self.conditions = [_build(node) for node in conditions]

    def matches(self, request) -> bool:
        return all(condition.matches(request) for condition in self.conditions)


class Evaluator:
    """Evaluates a lowered policy (see :func:`policy_core.compile.lower_policy`)."""

    def __init__(self, rules, default, buckets):
        self.rules = [Rule(decision, conditions) for decision, conditions in rules]
        self.default = default
        self.buckets = {key: list(positions) for key, positions in buckets.items()}
        self.indexed = any(key != (None, None) for key in self.buckets)
        self.cache: dict = {}
        self.cache_size = 0

    def candidates(self, method, host) -> list:
        """The rules that can match a (method, host), in evaluation order (cached)."""
        if not self.indexed:
            return self.rules
        method = None if method is MISSING else method
        host = None if host is MISSING else host
        by_host = self.cache.get(method)
        if by_host is not None:
            found = by_host.get(host)
            if found is not None:
                return found
        keys = [(None, None)]
        if host is not None:
            keys.append((None, host))
        if method is not None:
            keys.append((method, None))
            if host is not None:
                keys.append((method, host))
        positions = sorted(p for key in keys for p in self.buckets.get(key, ()))
        found = [self.rules[p] for p in positions]
        if self.cache_size >= _CACHE_LIMIT:
            self.cache.clear()
            self.cache_size = 0
        self.cache.setdefault(method, {})[host] = found
        self.cache_size += 1
        return found

    def evaluate(self, request) -> Decision:
        """The decision for ``request`` (a mapping or a :class:`PolicyRequest`). Never raises."""
        try:
            if not isinstance(request, PolicyRequest):
                if isinstance(request, Mapping):
                    request = PolicyRequest.from_mapping(request)
                elif hasattr(request, "to_mapping"):
                    request = PolicyRequest.from_mapping(request.to_mapping())
                else:
                    request = PolicyRequest()
            for rule in self.candidates(request.method, request.host if self.indexed else None):
                if rule.matches(request):
                    return rule.decision
            return self.default
        except Exception:
            return _FAILED
