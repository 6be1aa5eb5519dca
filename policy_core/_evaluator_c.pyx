# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The compiled evaluator: the same behaviour as ``_evaluator_py`` (read that module for the semantics), typed.

What makes it fast:

- conditions are ``cdef class`` nodes called through C vtables; field, operator and literal kinds are C ints;
- the URL is scanned once, in one forward pass, by a typed port of :func:`policy_core._url.split_url` that
  records offsets (compiled once per string width, reading the characters directly); only the parts a policy
  reads are sliced out, and path tests run inside the URL without slicing at all (``memcmp`` on one-byte text);
- a ``dict`` request is read with C-level dict access, and only ``method`` and ``url`` up front: headers, body,
  agent, risk and time are read (into a separate ``_Extras`` object) when a rule first asks for them;
- request objects come from a freelist; decisions are built when the policy is compiled;
- the candidate rules for a request come from a cache keyed by host with one slot per common method, filled by
  merging the index buckets; in front of it, a direct-mapped table finds a plain lower-case host by a hash of its
  bytes inside the URL (checked with ``memcmp``), so no host string is built or hashed for most requests.

Cold paths (headers, query strings, bodies, JSON, MCP messages, CIDRs, number parsing) call the same helpers as
the twin, in :mod:`policy_core._values` and :mod:`policy_core.mcp`; the differential property tests hold the two
implementations to the same answers.
"""

cimport cython
from cpython.unicode cimport PyUnicode_Tailmatch
from libc.string cimport memcmp

import time as _time
from collections.abc import Mapping

from policy_core import _values
from policy_core.mcp import mcp_view

cdef extern from "Python.h":
    ctypedef unsigned char Py_UCS1
    ctypedef unsigned short Py_UCS2
    int PyUnicode_KIND(object text)
    enum:
        PyUnicode_1BYTE_KIND
        PyUnicode_2BYTE_KIND
    void* PyUnicode_DATA(object text)
    Py_UCS4 PyUnicode_READ(int kind, void* data, Py_ssize_t index) nogil
from policy_core.decision import Decision

cdef object MISSING = _values.MISSING
cdef object _parse_number = _values.parse_number
cdef object _collect_headers = _values.collect_headers
cdef object _parse_query = _values.parse_query
cdef object _body_parts = _values.body_parts
cdef object _parse_json = _values.parse_json
cdef object _walk_json = _values.walk_json
cdef object _request_number = _values.request_number
cdef object _agent_text = _values.agent_text
cdef object _agent_number = _values.agent_number
cdef object _agent_roles = _values.agent_roles
cdef object _time_parts = _values.time_parts
cdef object _ip_in_networks = _values.ip_in_networks
cdef object _json_equal = _values.json_equal
cdef object _mcp_view = mcp_view
cdef object _Mapping = Mapping
cdef object _now = _time.time

cdef object _FAILED = Decision("Deny", None, "policy evaluation failed")
cdef Py_ssize_t _CACHE_LIMIT = 4096

cdef enum:
    F_METHOD = 1
    F_URL = 2
    F_SCHEME = 3
    F_HOST = 4
    F_PORT = 5
    F_PATH = 6
    F_QUERY = 7
    F_QUERY_PARAM = 8
    F_HEADER = 9
    F_BODY = 10
    F_JSON = 11
    F_BODY_SIZE = 12
    F_AGENT_ID = 13
    F_AGENT_NAME = 14
    F_AGENT_OWNER = 15
    F_AGENT_TRUST = 16
    F_AGENT_ROLES = 17
    F_AGENT_KEY = 18
    F_RISK = 19
    F_TIME_HOUR = 20
    F_TIME_WEEKDAY = 21
    F_MCP_METHOD = 22
    F_MCP_TOOL = 23
    F_MCP_ARGUMENTS = 24
    F_MCP_BATCH = 25

cdef enum:
    OP_EQ = 1
    OP_GT = 2
    OP_GE = 3
    OP_LT = 4
    OP_LE = 5
    OP_IN = 6
    OP_CONTAINS = 7
    OP_STARTS = 8
    OP_ENDS = 9
    OP_REGEX = 10
    OP_EXISTS = 11
    OP_CIDR = 12

cdef enum:
    LIT_NONE = 0
    LIT_STR = 1
    LIT_NUM = 2
    LIT_BOOL = 3
    LIT_NULL = 4
    LIT_JSON = 5
    LIT_SET = 6
    LIT_PATTERN = 7
    LIT_NETS = 8

cdef enum:
    NODE_LEAF = 0
    NODE_ANY = 1
    NODE_ALL = 2
    NODE_NOT = 3

cdef inline object _upper(object method):
    cdef Py_ssize_t i, n
    cdef int kind
    cdef void* data
    cdef Py_UCS4 c
    if not isinstance(method, str):
        return MISSING
    n = len(<str>method)
    kind = PyUnicode_KIND(method)
    data = PyUnicode_DATA(method)
    for i in range(n):
        c = PyUnicode_READ(kind, data, i)
        if (c >= u'a' and c <= u'z') or c > 127:
            return (<str>method).upper()
    return method


cdef inline bint _is_number(object value):
    return (isinstance(value, int) or isinstance(value, float)) and not isinstance(value, bool)


cdef inline object _as_number(object value):
    if _is_number(value):
        return value
    if isinstance(value, str):
        return _parse_number(value)
    return None


cdef inline bint _scheme_char(Py_UCS4 c):
    return (
        (c >= u'a' and c <= u'z') or (c >= u'A' and c <= u'Z') or (c >= u'0' and c <= u'9')
        or c == u'+' or c == u'-' or c == u'.'
    )


cdef class _Extras:
    """The parts of a request other than the URL: raw inputs and their lazily parsed forms."""

    cdef object headers_raw
    cdef object body
    cdef object agent
    cdef object risk
    cdef object time
    cdef dict headers
    cdef dict query_params
    cdef bint body_done
    cdef bint json_done
    cdef bint time_done
    cdef object body_text
    cdef object body_size
    cdef object json
    cdef tuple mcp  # (method, tool, arguments, batch), None until a rule asks
    cdef object hour
    cdef object weekday


@cython.freelist(32)
cdef class PolicyRequest:
    """A request prepared for evaluation; parts are parsed lazily, at most once.

    Same API and behaviour as ``_evaluator_py.PolicyRequest`` (read its docstring): ``from_parts`` for the
    proxy, ``from_mapping`` (reads keys other than ``method`` and ``url`` only when a rule needs them).
    """

    cdef readonly object method
    cdef readonly object url
    cdef object _source  # the request mapping, read lazily for headers, body, agent, risk and time
    cdef _Extras x  # everything but the URL, allocated when first needed
    cdef bint _url_done
    cdef object _scheme
    cdef object _host
    cdef object _port
    cdef object _path
    cdef object _query
    cdef Py_ssize_t _scheme_end, _host_start, _host_end, _path_start, _path_end, _query_start, _query_end
    cdef long _port_value

    def __init__(self, method=None, url=None, headers=None, body=None, agent=None, risk=None, time=None):
        _fill(self, method, url, headers, body, agent, risk, time)

    @classmethod
    def from_parts(cls, method, url, headers=None, body=None, agent=None, risk=None, time=None):
        return _make(method, url, headers, body, agent, risk, time)

    @classmethod
    def from_mapping(cls, request):
        return _from_mapping(request)

    def to_mapping(self):
        self._load()
        return {
            "method": None if self.method is MISSING else self.method,
            "url": None if self.url is MISSING else self.url,
            "headers": self.x.headers_raw,
            "body": self.x.body,
            "agent": self.x.agent,
            "risk": self.x.risk,
            "time": self.x.time,
        }

    def url_parts(self):
        return (self._get_scheme(), self._get_host(), self._get_port(), self._get_path(), self._get_query())

    @property
    def host(self):
        return self._get_host()

    @property
    def path(self):
        return self._get_path()

    @property
    def body_size(self):
        self._load_body()
        return self.x.body_size

    def field(self, int code, arg=None):
        """The value of a field, or ``MISSING``."""
        return self.get(code, arg)

    cdef int _split(self) except -1:
        """``policy_core._url.split_url`` as one typed scan that records offsets; parts are sliced lazily."""
        cdef int kind
        if self._url_done:
            return 0
        self._url_done = True
        self._scheme_end = -1
        self._host_start = -1
        self._query_start = -1
        self._port_value = -1
        self._scheme = self._host = self._port = self._path = self._query = MISSING
        if self.url is MISSING:
            return 0
        kind = PyUnicode_KIND(self.url)
        if kind == PyUnicode_1BYTE_KIND:
            _scan_url(self, <Py_UCS1*>PyUnicode_DATA(self.url), len(<str>self.url))
        elif kind == PyUnicode_2BYTE_KIND:
            _scan_url(self, <Py_UCS2*>PyUnicode_DATA(self.url), len(<str>self.url))
        else:
            _scan_url(self, <Py_UCS4*>PyUnicode_DATA(self.url), len(<str>self.url))
        return 0

    cdef object _get_host(self):
        cdef str host
        cdef bint fold
        cdef int kind
        self._split()
        if self._host is MISSING and self._host_start >= 0:
            kind = PyUnicode_KIND(self.url)
            if kind == PyUnicode_1BYTE_KIND:
                fold = _needs_lower(<Py_UCS1*>PyUnicode_DATA(self.url), self._host_start, self._host_end)
            elif kind == PyUnicode_2BYTE_KIND:
                fold = _needs_lower(<Py_UCS2*>PyUnicode_DATA(self.url), self._host_start, self._host_end)
            else:
                fold = _needs_lower(<Py_UCS4*>PyUnicode_DATA(self.url), self._host_start, self._host_end)
            host = (<str>self.url)[self._host_start:self._host_end]
            self._host = host.lower() if fold else host
        return self._host

    cdef object _get_path(self):
        self._split()
        if self._path is MISSING and self.url is not MISSING:
            if self._path_end > self._path_start:
                self._path = (<str>self.url)[self._path_start:self._path_end]
            else:
                self._path = "/"
        return self._path

    cdef object _get_scheme(self):
        self._split()
        if self._scheme is MISSING and self._scheme_end > 0:
            self._scheme = (<str>self.url)[:self._scheme_end].lower()
        return self._scheme

    cdef object _get_port(self):
        cdef object scheme
        self._split()
        if self._port is MISSING:
            if self._port_value >= 0:
                self._port = self._port_value
            elif self._port_value == -2:
                scheme = self._get_scheme()
                if scheme == "https" or scheme == "wss":
                    self._port = 443
                elif scheme == "http" or scheme == "ws":
                    self._port = 80
        return self._port

    cdef object _get_query(self):
        self._split()
        if self._query is MISSING and self._query_start >= 0:
            self._query = (<str>self.url)[self._query_start:self._query_end]
        return self._query

    cdef int _load(self) except -1:
        cdef object source = self._source
        cdef dict d
        if self.x is None:
            self.x = _Extras.__new__(_Extras)
        if source is not None:
            self._source = None
            if type(source) is dict:
                d = <dict>source
                _fill_rest(self, d.get("headers"), d.get("body"), d.get("agent"), d.get("risk"), d.get("time"))
            else:
                get = source.get
                _fill_rest(self, get("headers"), get("body"), get("agent"), get("risk"), get("time"))
        return 0

    cdef int _load_body(self) except -1:
        self._load()
        if not self.x.body_done:
            self.x.body_done = True
            self.x.body_text, self.x.body_size = _body_parts(self.x.body)
        return 0

    cdef object _load_json(self):
        if not self.x.json_done:
            self.x.json_done = True
            self._load_body()
            self.x.json = _parse_json(self.x.body_text, self.x.body_size)
        return self.x.json

    cdef object get(self, int code, object arg):
        cdef object value
        cdef dict agent
        if code == F_METHOD:
            return self.method
        if code == F_HOST:
            return self._get_host()
        if code == F_PATH:
            return self._get_path()
        if code == F_URL:
            return self.url
        if code == F_SCHEME:
            return self._get_scheme()
        if code == F_PORT:
            return self._get_port()
        if code == F_QUERY:
            return self._get_query()
        if code >= F_QUERY_PARAM:
            self._load()
        if code == F_HEADER:
            if self.x.headers is None:
                self.x.headers = _collect_headers(self.x.headers_raw)
            return self.x.headers.get(arg, MISSING)
        if code == F_QUERY_PARAM:
            if self.x.query_params is None:
                self.x.query_params = {} if self._get_query() is MISSING else _parse_query(self._query)
            return self.x.query_params.get(arg, MISSING)
        if code == F_BODY:
            self._load_body()
            return self.x.body_text
        if code == F_BODY_SIZE:
            self._load_body()
            return self.x.body_size
        if code == F_JSON:
            value = self._load_json()
            if value is MISSING:
                return MISSING
            return _walk_json(value, arg)
        if code >= F_MCP_METHOD and code <= F_MCP_BATCH:
            if self.x.mcp is None:
                self.x.mcp = _mcp_view(self._load_json())
            value = self.x.mcp[code - F_MCP_METHOD]
            if code == F_MCP_ARGUMENTS and value is not MISSING:
                return _walk_json(value, arg)
            return value
        if code == F_RISK:
            value = self.x.risk
            if isinstance(value, _Mapping):
                value = value.get("score")
            return _request_number(value)
        if code == F_TIME_HOUR or code == F_TIME_WEEKDAY:
            if not self.x.time_done:
                self.x.time_done = True
                self.x.hour, self.x.weekday = _time_parts(_now() if self.x.time is None else self.x.time)
            return self.x.hour if code == F_TIME_HOUR else self.x.weekday
        if self.x.agent is None:
            return MISSING
        if code == F_AGENT_ID:
            return _agent_text(self.x.agent, "id")
        if code == F_AGENT_NAME:
            return _agent_text(self.x.agent, "name")
        if code == F_AGENT_OWNER:
            return _agent_text(self.x.agent, "ownerId", "owner_id")
        if code == F_AGENT_TRUST:
            return _agent_number(self.x.agent, "trustScore", "trust_score")
        if code == F_AGENT_ROLES:
            return _agent_roles(self.x.agent)
        if type(self.x.agent) is dict:
            agent = <dict>self.x.agent
            return agent.get(arg, MISSING)
        return self.x.agent.get(arg, MISSING)


ctypedef fused _char:
    Py_UCS1
    Py_UCS2
    Py_UCS4


cdef void _scan_url(PolicyRequest r, const _char* data, Py_ssize_t n) noexcept:
    """Record the offsets of scheme, host, port, path and query of a URL held as ``n`` code units of ``data``.

    Written once over a fused character type, so that Cython emits one direct-indexing scan per string kind
    (URLs are nearly always one byte a character) instead of a kind switch at every character.
    """
    cdef Py_ssize_t i, k, a, e, hs, he, ps, pe, pts, pte, stop, at, colon
    cdef Py_UCS4 c
    cdef long port
    e = 0
    # Scheme: a letter, then letters, digits, '+', '-', '.', up to '://'.
    k = 0
    while k < n and _scheme_char(data[k]):
        k += 1
    c = data[0] if n > 0 else 0
    if (
        k > 0
        and k + 2 < n
        and ((c >= u'a' and c <= u'z') or (c >= u'A' and c <= u'Z'))
        and data[k] == u':'
        and data[k + 1] == u'/'
        and data[k + 2] == u'/'
    ):
        r._scheme_end = k
        # Authority: up to the first '/', '?' or '#'; the host starts after its last '@', and a ':' after that
        # '@' starts the port. One forward pass records both.
        a = k + 3
        e = n
        at = colon = -1
        for i in range(a, n):
            c = data[i]
            if c == u'/' or c == u'?' or c == u'#':
                e = i
                break
            if c == u'@':
                at = i
                colon = -1
            elif c == u':':
                colon = i
        hs = at + 1 if at >= 0 else a
        he = e
        pts = pte = -1
        if hs < e and data[hs] == u'[':
            he = -1
            for i in range(hs + 1, e):
                if data[i] == u']':
                    he = i
                    break
            if he < 0:
                hs += 1
                he = e
            else:
                hs += 1
                if he + 1 < e and data[he + 1] == u':':
                    pts, pte = he + 2, e
        elif colon >= 0:
            he = colon
            pts, pte = colon + 1, e
        if he > hs:
            r._host_start = hs
            r._host_end = he
        if pts < 0 or pte == pts:
            r._port_value = -2  # default for the scheme, decided when asked
        elif pte - pts <= 5:
            port = 0
            for i in range(pts, pte):
                c = data[i]
                if c < u'0' or c > u'9':
                    port = -1
                    break
                port = port * 10 + (<long>c - 48)
            if port > 65535:
                port = -1
            r._port_value = port
    # Path and query: from the end of the authority (or the start) to '#', split at the first '?'.
    ps = e
    pe = -1
    stop = n
    for i in range(e, n):
        c = data[i]
        if c == u'#':
            stop = i
            break
        if c == u'?' and pe < 0:
            pe = i
    if pe >= 0:
        r._query_start = pe + 1
        r._query_end = stop
    else:
        pe = stop
    r._path_start = ps
    r._path_end = pe


cdef bint _needs_lower(const _char* data, Py_ssize_t start, Py_ssize_t end) noexcept:
    """Whether ``data[start:end]`` has a character that ``str.lower`` may change (ASCII capitals, non-ASCII)."""
    cdef Py_ssize_t i
    cdef Py_UCS4 c
    for i in range(start, end):
        c = data[i]
        if (c >= u'A' and c <= u'Z') or c > 127:
            return True
    return False


cdef inline int _tailmatch(str text, str literal, Py_ssize_t start, Py_ssize_t end, int direction) except -1:
    """``PyUnicode_Tailmatch``, with a ``memcmp`` when both strings are one byte a character (URLs nearly are)."""
    cdef Py_ssize_t size = len(literal)
    if PyUnicode_KIND(text) == PyUnicode_1BYTE_KIND and PyUnicode_KIND(literal) == PyUnicode_1BYTE_KIND:
        if size > end - start:
            return 0
        if direction > 0:
            start = end - size
        return memcmp(<char*>PyUnicode_DATA(text) + start, PyUnicode_DATA(literal), size) == 0
    return PyUnicode_Tailmatch(text, literal, start, end, direction)


cdef inline void _fill(PolicyRequest r, object method, object url, object headers, object body, object agent,
                       object risk, object time):
    r.method = _upper(method)
    r.url = url if isinstance(url, str) else MISSING
    _fill_rest(r, headers, body, agent, risk, time)


cdef inline void _fill_rest(PolicyRequest r, object headers, object body, object agent, object risk, object time):
    if r.x is None:
        r.x = _Extras.__new__(_Extras)
    r.x.headers_raw = headers
    r.x.body = body
    r.x.agent = agent if (type(agent) is dict or isinstance(agent, _Mapping)) else None
    r.x.risk = risk
    r.x.time = time


cdef inline PolicyRequest _make(object method, object url, object headers, object body, object agent,
                                object risk, object time):
    cdef PolicyRequest r = PolicyRequest.__new__(PolicyRequest)
    _fill(r, method, url, headers, body, agent, risk, time)
    return r


cdef PolicyRequest _from_mapping(object request):
    cdef PolicyRequest r = PolicyRequest.__new__(PolicyRequest)
    cdef object url
    if type(request) is dict:
        r.method = _upper((<dict>request).get("method"))
        url = (<dict>request).get("url")
    else:
        r.method = _upper(request.get("method"))
        url = request.get("url")
    r.url = url if isinstance(url, str) else MISSING
    r._source = request
    return r


def prepare_request(request):
    """A :class:`PolicyRequest` from a request mapping."""
    return _from_mapping(request)


cdef class _Node:
    cdef int matches(self, PolicyRequest request) except -1:
        return 0


cdef class _Leaf(_Node):
    cdef int code
    cdef object arg
    cdef int op
    cdef bint negate
    cdef bint fold
    cdef bint multi
    cdef int kind
    cdef object literal
    cdef str s_literal
    cdef object aux
    cdef frozenset strings
    cdef frozenset numbers
    cdef bint has_true, has_false, has_null

    def __init__(self, int code, arg, int op, bint negate, bint fold, int kind, literal, aux):
        self.code = code
        self.arg = arg
        self.op = op
        self.negate = negate
        self.fold = fold
        self.multi = code == F_HEADER or code == F_QUERY_PARAM
        self.kind = kind
        self.literal = literal
        self.s_literal = literal if isinstance(literal, str) else None
        self.aux = aux
        if kind == LIT_SET:
            self.strings, self.numbers, self.has_true, self.has_false, self.has_null = aux

    cdef int matches(self, PolicyRequest request) except -1:
        cdef object value
        cdef int outcome, result
        cdef object item
        cdef Py_ssize_t start, end
        if self.code == F_PATH and self.kind == LIT_STR and not self.fold:
            # Test the path inside the URL without slicing it out (same result as on the slice).
            request._split()
            start, end = request._path_start, request._path_end
            if request._path is MISSING and request.url is not MISSING and end > start:
                if self.op == OP_STARTS:
                    return _tailmatch(request.url, self.s_literal, start, end, -1)
                if self.op == OP_ENDS:
                    return _tailmatch(request.url, self.s_literal, start, end, 1)
                if self.op == OP_EQ:
                    result = len(self.s_literal) == end - start and (
                        _tailmatch(request.url, self.s_literal, start, end, -1) == 1
                    )
                    return result != self.negate
        value = request.get(self.code, self.arg)
        if value is MISSING:
            return self.op == OP_EXISTS and self.negate
        if self.op == OP_EXISTS:
            return not self.negate
        if self.multi:
            outcome = -1
            for item in <tuple>value:
                result = self.test(item)
                if result == 1:
                    outcome = 1
                    break
                if result == 0:
                    outcome = 0
        else:
            outcome = self.test(value)
        if outcome == -1:
            return 0
        return (outcome == 1) != self.negate

    cdef int test(self, object value) except -2:
        cdef int op = self.op
        cdef object number, item
        if isinstance(value, str):
            if self.fold:
                value = (<str>value).lower()
            if op == OP_EQ:
                if self.kind == LIT_STR:
                    return (<str>value) == self.s_literal
                return self.equals(value)
            if op == OP_STARTS:
                return (<str>value).startswith(self.s_literal)
            if op == OP_ENDS:
                return (<str>value).endswith(self.s_literal)
            if op == OP_CONTAINS:
                if self.kind == LIT_STR:
                    return self.s_literal in (<str>value)
                return -1
            if op == OP_REGEX:
                return self.aux.search(value) is not None
            if op == OP_IN:
                return self.in_set(value)
            if op == OP_CIDR:
                return _ip_in_networks(value, self.aux)
        if op == OP_EQ:
            return self.equals(value)
        if op == OP_GT or op == OP_GE or op == OP_LT or op == OP_LE:
            number = _as_number(value)
            if number is None:
                return -1
            if op == OP_GT:
                return number > self.literal
            if op == OP_GE:
                return number >= self.literal
            if op == OP_LT:
                return number < self.literal
            return number <= self.literal
        if op == OP_IN:
            if isinstance(value, (list, tuple)):
                for item in value:
                    if self.fold and isinstance(item, str):
                        item = (<str>item).lower()
                    if self.in_set(item) == 1:
                        return 1
                return 0
            return self.in_set(value)
        if op == OP_CONTAINS:
            if isinstance(value, (list, tuple)):
                for item in value:
                    if self.fold and isinstance(item, str):
                        item = (<str>item).lower()
                    if self.equals(item) == 1:
                        return 1
                return 0
            return -1
        return -1

    cdef int equals(self, object value) except -2:
        cdef int kind = self.kind
        cdef object number
        if kind == LIT_STR:
            if isinstance(value, str):
                return (<str>value) == self.s_literal
            return -1
        if kind == LIT_NUM:
            number = _as_number(value)
            if number is None:
                return -1
            return number == self.literal
        if kind == LIT_BOOL:
            if isinstance(value, bool):
                return value is self.literal
            return -1
        if kind == LIT_NULL:
            return value is None
        if kind == LIT_JSON:
            if isinstance(value, (list, tuple)) or isinstance(value, _Mapping):
                return 1 if _json_equal(value, self.literal) else 0
            return -1
        return -1

    cdef int in_set(self, object value) except -2:
        cdef object number
        if isinstance(value, str):
            if value in self.strings:
                return 1
            if self.numbers:
                number = _parse_number(value)
                return number is not None and number in self.numbers
            return 0
        if isinstance(value, bool):
            return self.has_true if value else self.has_false
        if _is_number(value):
            return value in self.numbers
        if value is None:
            return self.has_null
        return -1


cdef class _Group(_Node):
    cdef list children
    cdef bint is_any

    def __init__(self, list children, bint is_any):
        self.children = children
        self.is_any = is_any

    cdef int matches(self, PolicyRequest request) except -1:
        cdef Py_ssize_t i, n = len(self.children)
        cdef _Node child
        for i in range(n):
            child = <_Node>self.children[i]
            if child.matches(request):
                if self.is_any:
                    return 1
            elif not self.is_any:
                return 0
        return 0 if self.is_any else 1


cdef class _Not(_Node):
    cdef _Node child

    def __init__(self, _Node child):
        self.child = child

    cdef int matches(self, PolicyRequest request) except -1:
        return not self.child.matches(request)


cdef _Node _build(tuple node):
    cdef int tag = node[0]
    if tag == NODE_LEAF:
        return _Leaf(*node[1:])
    if tag == NODE_ANY or tag == NODE_ALL:
        return _Group([_build(child) for child in node[1]], tag == NODE_ANY)
    return _Not(_build(node[1]))


cdef class _Rule:
    cdef object decision
    cdef list conditions

    def __init__(self, decision, conditions):
        self.decision = decision
        self.conditions = [_build(node) for node in conditions]

    cdef inline int matches(self, PolicyRequest request) except -1:
        cdef Py_ssize_t i, n = len(self.conditions)
        for i in range(n):
            if not (<_Node>self.conditions[i]).matches(request):
                return 0
        return 1


cdef int _METHOD_SLOTS = 10


cdef inline bint _is(str text, int kind, void* data, const char* ascii, Py_ssize_t n):
    cdef Py_ssize_t i
    for i in range(n):
        if PyUnicode_READ(kind, data, i) != <Py_UCS4>ascii[i]:
            return False
    return True


cdef int _method_slot(object method):
    """A slot for the candidate cache: 0-8 for the common (upper-cased) methods, 9 for none, -1 for others."""
    cdef str m
    cdef Py_ssize_t n
    cdef int kind
    cdef void* data
    if method is MISSING:
        return 9
    m = <str>method
    n = len(m)
    kind = PyUnicode_KIND(m)
    data = PyUnicode_DATA(m)
    if n == 3:
        if _is(m, kind, data, b"GET", 3):
            return 0
        if _is(m, kind, data, b"PUT", 3):
            return 1
    elif n == 4:
        if _is(m, kind, data, b"POST", 4):
            return 2
        if _is(m, kind, data, b"HEAD", 4):
            return 3
    elif n == 5:
        if _is(m, kind, data, b"PATCH", 5):
            return 4
        if _is(m, kind, data, b"TRACE", 5):
            return 5
    elif n == 6:
        if _is(m, kind, data, b"DELETE", 6):
            return 6
    elif n == 7:
        if _is(m, kind, data, b"OPTIONS", 7):
            return 7
        if _is(m, kind, data, b"CONNECT", 7):
            return 8
    return -1


cdef Py_ssize_t _FAST_MASK = 4095  # as many hosts as the candidate cache keeps


cdef inline long _host_hash(const char* data, Py_ssize_t size) noexcept:
    """FNV-1a of a host's bytes, or -1 when it has a character other than lower-case ASCII letters, digits, '.'
    and '-' (such a host takes the general path, where it is lower-cased)."""
    cdef unsigned int h = 2166136261  # 32 bits: the multiplication wraps as FNV-1a wants
    cdef Py_ssize_t i
    cdef unsigned char c
    if size <= 0 or size > 255:
        return -1
    for i in range(size):
        c = <unsigned char>data[i]
        if not ((c >= 97 and c <= 122) or (c >= 48 and c <= 57) or c == 46 or c == 45):
            return -1
        h = (h ^ c) * <unsigned int>16777619
    return <long>h


cdef class Evaluator:
    """Evaluates a lowered policy (see :func:`policy_core.compile.lower_policy`)."""

    cdef list rules
    cdef object default
    cdef dict buckets
    cdef bint indexed
    cdef dict cache
    cdef Py_ssize_t cache_size
    cdef dict other_cache
    cdef Py_ssize_t other_size
    cdef list fast_hosts  # the direct-mapped front of ``cache``: host strings ...
    cdef list fast_slots  # ... and their slot lists, at ``_host_hash(host) & _FAST_MASK``

    def __init__(self, rules, default, buckets):
        self.rules = [_Rule(decision, conditions) for decision, conditions in rules]
        self.default = default
        self.buckets = {key: list(positions) for key, positions in buckets.items()}
        self.indexed = any(key != (None, None) for key in self.buckets)
        self.cache = {}
        self.cache_size = 0
        self.other_cache = {}
        self.other_size = 0
        self.fast_hosts = [None] * (_FAST_MASK + 1)
        self.fast_slots = [None] * (_FAST_MASK + 1)

    cdef list candidates_for(self, PolicyRequest r):
        """The candidate rules for a request. When the URL's host is plain lower-case ASCII (nearly always), it is
        looked up in a small direct-mapped table by a hash of its bytes inside the URL and compared with
        ``memcmp``, so no host string is built or hashed; anything else goes through :meth:`candidates`."""
        cdef int slot = _method_slot(r.method)
        cdef Py_ssize_t start, size, index = -1
        cdef long hashed
        cdef object known, found
        cdef const char* url
        if slot >= 0 and r.url is not MISSING and PyUnicode_KIND(r.url) == PyUnicode_1BYTE_KIND:
            r._split()
            start = r._host_start
            size = r._host_end - start
            if start >= 0:
                url = <const char*>PyUnicode_DATA(r.url)
                hashed = _host_hash(url + start, size)
                if hashed >= 0:
                    index = hashed & _FAST_MASK
                    known = self.fast_hosts[index]
                    if (
                        known is not None
                        and len(<str>known) == size
                        and memcmp(PyUnicode_DATA(known), url + start, size) == 0
                    ):
                        found = (<list>self.fast_slots[index])[slot]
                        if found is not None:
                            return <list>found
        found = self.candidates(r.method, r._get_host())
        if index >= 0:  # a plain host: remember its slots (the list ``candidates`` just filled) up front
            self.fast_hosts[index] = r._host
            self.fast_slots[index] = self.cache[r._host]
        return <list>found

    cdef list candidates(self, object method, object host):
        """The rules that can match a (method, host), in evaluation order.

        Cached per host in a list with one slot per common method (one dict lookup on the hot path); other
        methods are cached per (method, host) in a nested dict. Both caches are bounded.
        """
        cdef object slots, found, by_host
        cdef int slot
        if host is MISSING:
            host = None
        slot = _method_slot(method)
        if slot >= 0:
            slots = self.cache.get(host)
            if slots is not None:
                found = (<list>slots)[slot]
                if found is not None:
                    return <list>found
            found = self._merge(None if method is MISSING else method, host)
            if slots is None:
                if self.cache_size >= _CACHE_LIMIT:
                    self.cache.clear()
                    self.cache_size = 0
                slots = [None] * _METHOD_SLOTS
                self.cache[host] = slots
                self.cache_size += 1
            (<list>slots)[slot] = found
            return <list>found
        by_host = self.other_cache.get(method)
        if by_host is not None:
            found = (<dict>by_host).get(host)
            if found is not None:
                return <list>found
        found = self._merge(method, host)
        if self.other_size >= _CACHE_LIMIT:
            self.other_cache.clear()
            self.other_size = 0
        self.other_cache.setdefault(method, {})[host] = found
        self.other_size += 1
        return <list>found

    cdef list _merge(self, object method, object host):
        """Merge the four buckets that can hold rules for (method, host), in global rule order."""
        cdef list keys = [(None, None)]
        if host is not None:
            keys.append((None, host))
        if method is not None:
            keys.append((method, None))
            if host is not None:
                keys.append((method, host))
        positions = sorted([p for key in keys for p in self.buckets.get(key, ())])
        return [self.rules[p] for p in positions]

    def evaluate(self, request):
        """The decision for ``request`` (a mapping or a :class:`PolicyRequest`). Never raises."""
        try:
            return self._evaluate(request)
        except Exception:
            return _FAILED

    cdef object _evaluate(self, object request):
        cdef PolicyRequest r
        cdef list rules
        cdef Py_ssize_t i, n
        cdef _Rule rule
        if type(request) is dict:
            r = _from_mapping(request)
        elif isinstance(request, PolicyRequest):
            r = <PolicyRequest>request
        elif isinstance(request, _Mapping):
            r = _from_mapping(request)
        elif hasattr(request, "to_mapping"):
            r = _from_mapping(request.to_mapping())
        else:
            r = _make(None, None, None, None, None, None, None)
        if self.indexed:
            rules = self.candidates_for(r)
        else:
            rules = self.rules
        n = len(rules)
        for i in range(n):
            rule = <_Rule>rules[i]
            if rule.matches(r):
                return rule.decision
        return self.default
