"""The Policies use cases: list, read, put (create or replace, keeping every version), delete, validate, and
loading a directory of policy documents at start.

A document arrives as JSON or YAML text, or as a mapping a surface has already decoded; both go through
``policy_core.parse_policy``, so REST and gRPC report the same error at the same pointer. What is stored is the
canonical form (``policy_core.policy_to_document``) as JSON text, so an unchanged document adds no version.

Bounds: a document is at most :data:`MAX_DOCUMENT_BYTES` (1 MiB, as text and in its canonical JSON form) with
at most :data:`MAX_RULES` (5,000) rules; the core's own limits on nesting, regexes and lists apply within.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from policy_core import Policy, PolicyError, load_document, parse_policy, policy_to_document
from vectra.domain.errors import Conflict, InvalidInput, NotFound
from vectra.domain.models import Page, Principal, Role
from vectra.domain.policies import PolicyProblem, PolicyRecord, PolicyVersion, PutOutcome
from vectra.services import audit
from vectra.services.auth import require_global_admin, require_reader
from vectra.services.context import ServiceContext
from vectra.services.inputs import check_page, check_policy_name, check_policy_version

__all__ = [
    "DIRECTORY_AUTHOR",
    "MAX_DOCUMENT_BYTES",
    "MAX_RULES",
    "PolicyFileError",
    "PolicySource",
    "delete_policy",
    "get_policy",
    "list_policies",
    "list_policy_versions",
    "load_policies_dir",
    "parse_draft",
    "put_policy",
    "validate_policy",
]

MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_RULES = 5_000
DIRECTORY_AUTHOR = "policies-dir"
#: Who puts the policies of ``--policies-dir`` at start, as the audit log names it.
_DIRECTORY = Principal(subject=DIRECTORY_AUTHOR, roles=frozenset({Role.ADMIN}))
POLICY_FILE_SUFFIXES = (".json", ".yaml", ".yml")

#: A policy document as a surface hands it over: JSON or YAML text, or an already decoded mapping.
PolicySource = str | bytes | Mapping[str, Any] | None


class PolicyFileError(ValueError):
    """A file of the policies directory can't be loaded; the daemon refuses to start."""


async def list_policies(
    ctx: ServiceContext, actor: Principal, page: int = 1, page_size: int = 25
) -> Page[PolicyRecord]:
    require_reader(actor, "reading policies")
    check_page(page, page_size)
    return ctx.store.list_policies(page, page_size)


async def get_policy(ctx: ServiceContext, actor: Principal, name: str, version: int | None = None) -> PolicyRecord:
    """The current version of a policy, or the given one."""
    require_reader(actor, "reading policies")
    check_policy_name(name, "name")
    if version is not None:
        check_policy_version(version)
    record = ctx.store.get_policy(name, version)
    if record is None:
        if version is not None and ctx.store.policy_head(name) is not None:
            raise NotFound(f"policy {name!r} has no version {version}")
        raise NotFound(f"policy {name!r} not found")
    return record


async def put_policy(ctx: ServiceContext, actor: Principal, name: str, source: PolicySource) -> PutOutcome:
    """Create or replace. The name in the path wins: a document naming another policy is refused, one naming
    none takes the path's. An unchanged document keeps the current version. Policies are shared by every realm:
    only an admin of every realm changes them."""
    require_global_admin(actor, "changing a policy")
    check_policy_name(name, "name")
    try:
        policy = _parse(source, name)
    except PolicyError as exc:
        raise InvalidInput(str(exc), pointer=exc.pointer) from None
    outcome = await _save(ctx, actor, name, _canonical(policy), actor.subject, datetime.now(UTC))
    return outcome


async def list_policy_versions(
    ctx: ServiceContext, actor: Principal, name: str, page: int = 1, page_size: int = 25
) -> Page[PolicyVersion]:
    """A policy's versions, newest first."""
    require_reader(actor, "reading policies")
    check_policy_name(name, "name")
    check_page(page, page_size)
    versions = ctx.store.list_policy_versions(name, page, page_size)
    if versions is None:
        raise NotFound(f"policy {name!r} not found")
    return versions


async def delete_policy(ctx: ServiceContext, actor: Principal, name: str) -> None:
    """Delete a policy and its history; refused while an agent is assigned to it."""
    require_global_admin(actor, "deleting a policy")
    check_policy_name(name, "name")

    def delete() -> None:  # in one transaction: no agent can be assigned to it between the count and the delete
        if ctx.store.policy_head(name) is None:
            raise NotFound(f"policy {name!r} not found")
        users = ctx.store.count_agents_using_policy(name)
        if users:
            raise Conflict(f"policy {name!r} is assigned to {users} agent(s); assign them another policy first",
                           agentCount=users)
        if not ctx.store.delete_policy(name):
            raise NotFound(f"policy {name!r} not found")

    await audit.record_change(ctx, actor, "policy.deleted", delete, details={"name": name})


async def validate_policy(ctx: ServiceContext, actor: Principal, source: PolicySource) -> list[PolicyProblem]:
    """What is wrong with a document (empty when it is valid); nothing is stored. A body that is no document at all
    is InvalidInput, as it is on a put."""
    require_reader(actor, "validating policies")
    try:
        document = _decode(source)
    except PolicyError as exc:  # no document at all (empty, bad syntax, not a mapping): bad input, not a verdict
        raise InvalidInput(str(exc), pointer=exc.pointer) from None
    try:
        _parse(document, None)
    except PolicyError as exc:
        return [PolicyProblem(exc.pointer, exc.message)]
    return []


def parse_draft(source: PolicySource) -> Policy:
    """A policy that is not stored (a draft tried by a simulation), validated like a put."""
    return _parse(source, None)


async def load_policies_dir(ctx: ServiceContext, directory: Path) -> list[PutOutcome]:
    """Put every ``*.json``, ``*.yaml`` and ``*.yml`` of ``directory``, each as the policy it names (or, naming
    none, the policy called like the file). Every file is checked before any is stored; the first bad one raises
    :class:`PolicyFileError` with a one-line message naming the file and the pointer."""
    if not directory.is_dir():
        raise PolicyFileError(f"{directory}: not a directory")
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in POLICY_FILE_SUFFIXES and p.is_file())
    policies: dict[str, tuple[Path, Policy]] = {}
    for path in files:
        try:
            text = path.read_bytes()
            document = _decode(text)
            name = _checked_name(document.get("name", path.stem))
            policy = _parse(document, name)
        except PolicyError as exc:
            raise PolicyFileError(_one_line(f"{path}: {exc}")) from None
        except OSError as exc:
            raise PolicyFileError(_one_line(f"{path}: {exc.strerror or exc}")) from None
        if name in policies:
            raise PolicyFileError(f"{path}: policy {name!r} is also defined by {policies[name][0]}")
        policies[name] = (path, policy)
    now = datetime.now(UTC)
    outcomes = []
    for name, (_, policy) in policies.items():
        outcomes.append(await _save(ctx, _DIRECTORY, name, _canonical(policy), DIRECTORY_AUTHOR, now))
    return outcomes


async def _save(ctx: ServiceContext, actor: Principal, name: str, document: str, author: str,
                at: datetime) -> PutOutcome:
    """Store a version and record it, in one transaction (an unchanged document changes nothing and records
    nothing)."""

    def recorded(outcome: PutOutcome) -> dict[str, Any] | None:
        return {"name": name, "version": outcome.policy.version, "created": outcome.created} if outcome.changed \
            else None

    return await audit.record_change(ctx, actor, "policy.put",
                                     lambda: ctx.store.save_policy(name, document, author, at), details=recorded)



def _decode(source: PolicySource) -> Mapping[str, Any]:
    if source is None or source == b"" or source == "":
        raise PolicyError("", "a policy document is required")
    if isinstance(source, (str, bytes, bytearray)):
        size = len(source) if not isinstance(source, str) else len(source.encode("utf-8", "surrogatepass"))
        if size > MAX_DOCUMENT_BYTES:
            raise PolicyError("", f"policy document larger than {MAX_DOCUMENT_BYTES} bytes")
        return load_document(bytes(source) if isinstance(source, bytearray) else source)
    if not isinstance(source, Mapping):
        raise PolicyError("", "a policy document must be a mapping")
    return source


def _parse(source: PolicySource, name: str | None) -> Policy:
    document = _decode(source)
    if name is not None:
        given = document.get("name")
        if given is None:
            document = {**document, "name": name}
        elif given != name:
            raise PolicyError("name", f"the document names policy {given!r}, the path {name!r}")
    rules = document.get("rules")
    if isinstance(rules, list) and len(rules) > MAX_RULES:
        raise PolicyError("rules", f"more than {MAX_RULES} rules")
    policy = parse_policy(document)
    if name is None:
        _checked_name(policy.name)
    return policy


def _checked_name(name: object) -> str:
    """The policy name rule of the agents' ``policyName``, as a located policy error."""
    try:
        return check_policy_name(name, "name")
    except InvalidInput as exc:
        raise PolicyError("name", exc.detail.removeprefix("name ")) from None


def _canonical(policy: Policy) -> str:
    try:
        text = json.dumps(policy_to_document(policy), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        size = len(text.encode())
    except UnicodeEncodeError:  # a YAML "\ud800" escape: a lone surrogate is not Unicode text
        raise InvalidInput("the policy document holds text that is not valid Unicode", pointer="") from None
    except (TypeError, ValueError) as exc:  # parse_policy admits only JSON values; kept as a guard
        raise InvalidInput(f"policy is not representable as JSON: {exc}") from None
    if size > MAX_DOCUMENT_BYTES:
        raise InvalidInput(f"policy document larger than {MAX_DOCUMENT_BYTES} bytes", pointer="")
    return text


def _one_line(text: str) -> str:
    return " ".join(text.split())
