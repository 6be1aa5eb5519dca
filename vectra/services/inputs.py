"""Input rules shared by several use cases: pages, agent ids, policy names, bounded strings.

Worded through :mod:`vectra.services.input_errors`, so that every surface refuses the same input with the same
words.
"""

from __future__ import annotations

import re
import uuid

from vectra.services import input_errors

__all__ = [
    "MAX_PAGE",
    "MAX_PAGE_SIZE",
    "bounded_string",
    "canonical_uuid",
    "check_page",
    "check_policy_name",
    "check_policy_version",
    "optional_string",
    "parse_agent_id",
    "parse_uuid",
]

MAX_PAGE = 1_000_000
MAX_PAGE_SIZE = 100
MAX_POLICY_NAME_LENGTH = 128
#: the highest policy version a caller may name
MAX_POLICY_VERSION = 1_000_000_000
POLICY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: ``/policies/validate`` is a path of its own, so no policy may take the name its URL would have.
RESERVED_POLICY_NAME = "validate"


def check_page(page: int, page_size: int) -> None:
    """The pagination rules shared by every list."""
    if isinstance(page, bool) or not isinstance(page, int) or not 1 <= page <= MAX_PAGE:
        raise input_errors.out_of_range("page", 1, MAX_PAGE)
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise input_errors.out_of_range("pageSize", 1, MAX_PAGE_SIZE)


def parse_agent_id(agent_id: str) -> str:
    """A canonical UUID string, or InvalidInput for a malformed id."""
    return parse_uuid("agentId", agent_id)


def parse_uuid(pointer: str, value: object) -> str:
    """``value`` as a canonical UUID string, or InvalidInput naming ``pointer``."""
    canonical = canonical_uuid(value)
    if canonical is None:
        raise input_errors.malformed(pointer, "a UUID")
    return canonical


def canonical_uuid(value: object) -> str | None:
    """The UUID as stored (lower-case, hyphenated), whatever spelling the caller used; None if it is none."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def optional_string(pointer: str, value: object, max_length: int) -> str | None:
    """An optional string of at most ``max_length`` characters; empty is None."""
    if value is None or value == "":
        return None
    return bounded_string(pointer, value, max_length)


def bounded_string(pointer: str, value: object, max_length: int) -> str:
    """A required string of at most ``max_length`` characters (empty counts as missing: gRPC can't tell them
    apart)."""
    if value is None or value == "":
        raise input_errors.required(pointer)
    if not isinstance(value, str):
        raise input_errors.malformed(pointer, "a string")
    if len(value) > max_length:
        raise input_errors.too_long(pointer, max_length)
    return value


def check_policy_name(name: object, pointer: str = "policyName") -> str:
    """A policy name: 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit; not
    :data:`RESERVED_POLICY_NAME`."""
    name = bounded_string(pointer, name, MAX_POLICY_NAME_LENGTH)
    if not POLICY_NAME.fullmatch(name):
        raise input_errors.malformed(pointer, "letters, digits, '.', '_' or '-', starting with a letter or digit")
    if name == RESERVED_POLICY_NAME:
        raise input_errors.reserved(pointer, name)
    return name


def check_policy_version(version: object, pointer: str = "version") -> int:
    """A policy version a caller names: a whole number from 1 to :data:`MAX_POLICY_VERSION`."""
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_POLICY_VERSION:
        raise input_errors.out_of_range(pointer, 1, MAX_POLICY_VERSION)
    return version


_SESSION_ID = re.compile(r"vs_[0-9a-f]{32}")


def parse_session_id(value: object, pointer: str = "sessionId") -> str:
    """A governed session's id (``vs_`` and 32 hexadecimal digits), or InvalidInput naming ``pointer``."""
    if not isinstance(value, str) or not _SESSION_ID.fullmatch(value):
        raise input_errors.malformed(pointer, "a session id (vs_ and 32 hexadecimal digits)")
    return value
