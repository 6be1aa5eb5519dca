"""The Registrations use cases: an agent asks to join (self-registration), an admin of every realm approves it
(creating the agent with a subset of what it asked for) or rejects it, and the registrant polls its outcome
(docs/registrations.md).

Submitting is open, or needs an enrollment token (``registration_mode``), and is always rate-limited per source
address. The registration's id is unguessable: knowing it is what lets the registrant read its outcome.
"""

from __future__ import annotations

import dataclasses
import hmac
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from vectra.domain.errors import Conflict, Forbidden, NotFound, RateLimited, Unauthenticated
from vectra.domain.keys import did_of
from vectra.domain.models import Page, Principal, Role
from vectra.domain.registrations import Registration, RegistrationStatus
from vectra.forward import RateLimit
from vectra.services import audit, input_errors, profiles
from vectra.services.agents import create_agent, new_agent, realm_for, required_text
from vectra.services.auth import require_global_admin
from vectra.services.context import ServiceContext
from vectra.services.inputs import bounded_string, check_page, check_policy_name

__all__ = [
    "ALL_STATUSES",
    "ENROLLMENT_TOKEN_HEADER",
    "MAX_REASON_LENGTH",
    "SUBMITTED_MESSAGE",
    "RegistrationList",
    "approve",
    "get_status",
    "list_registrations",
    "reject",
    "submit",
]

MAX_REASON_LENGTH = 2000
#: what a registrant is told on submitting, on either surface
SUBMITTED_MESSAGE = "Registration received. Awaiting admin approval."
#: the header (gRPC: metadata, lower-cased) that carries an enrollment token
ENROLLMENT_TOKEN_HEADER = "Vectra-Enrollment-Token"
MAX_REGISTRATION_ID_LENGTH = 64
#: the ``status`` filter that lists registrations in every status
ALL_STATUSES = "all"
_RATE_PERIOD_SECONDS = 3600.0


@dataclasses.dataclass(frozen=True, slots=True)
class RegistrationList:
    """A page of registrations, and the capabilities an approval may grant (the configured vocabulary)."""

    page: Page[Registration]
    available_capabilities: tuple[str, ...]


async def submit(
    ctx: ServiceContext,
    *,
    source: str,
    enrollment_token: str | None,
    name: object,
    version: object = None,
    description: object = None,
    metadata: object = None,
    capabilities: object = None,
    public_key: object = None,
) -> Registration:
    """A Pending registration from the caller at ``source`` (its address). Refused when self-registration is off
    (403), past the source's hourly allowance (429), without the enrollment token the token mode needs (401),
    while too many wait for a decision (429), and for a key an agent or a waiting registration already has
    (409)."""
    settings = ctx.settings
    if settings.registration_mode == "off":
        raise Forbidden("self-registration is turned off on this gateway", cause="registration_off")
    decision = await ctx.limiter.acquire(f"registration:{source}",
                                         RateLimit(settings.registration_rate_per_hour, _RATE_PERIOD_SECONDS))
    decision.raise_if_denied()
    if settings.registration_mode == "token":
        _check_enrollment_token(settings.enrollment_tokens, enrollment_token)
    key = profiles.check_public_key(public_key, required=True)
    assert key is not None
    registration = Registration(
        id="reg_" + secrets.token_urlsafe(16),
        name=required_text("name", name),
        version=profiles.optional_version(version),
        description=profiles.optional_description(description),
        metadata=profiles.check_metadata("metadata", metadata),
        requested_capabilities=profiles.check_capabilities("capabilities", capabilities, settings.capabilities),
        public_key=key,
        did=did_of(key),
        source=source or None,
        status=RegistrationStatus.PENDING,
        requested_at=datetime.now(UTC),
    )

    def insert() -> Registration:
        if ctx.store.count_pending_registrations() >= settings.max_pending_registrations:
            raise RateLimited(f"{settings.max_pending_registrations} registrations are already waiting for a "
                              "decision; try again later")
        if ctx.store.get_agent_by_did(registration.did) is not None:
            raise Conflict("an agent with this public key is already registered", pointer="publicKey")
        if ctx.store.pending_registration_for(registration.did) is not None:
            raise Conflict("a registration with this public key is already waiting for a decision",
                           pointer="publicKey")
        ctx.store.insert_registration(registration)
        return registration

    registrant = Principal(subject=f"registrant:{source}", roles=frozenset())
    return await audit.record_change(ctx, registrant, "registration.submitted", insert, details={
        "registrationId": registration.id, "name": registration.name, "did": registration.did,
        "requestedCapabilities": list(registration.requested_capabilities), "source": source,
    })


def _check_enrollment_token(configured: Sequence[str], given: str | None) -> None:
    """The token mode's check: ``given`` equals one of the configured tokens (each compared in constant time)."""
    if not given:
        raise Unauthenticated("an enrollment token is required (Vectra-Enrollment-Token)",
                              cause="missing_enrollment_token")
    offered = given.encode()
    matches = [hmac.compare_digest(offered, token.encode()) for token in configured]  # each one, whatever matched
    if not any(matches):
        raise Unauthenticated("invalid enrollment token", cause="bad_enrollment_token")


async def get_status(ctx: ServiceContext, registration_id: object) -> Registration:
    """The registration, for whoever knows its id (the registrant polls it without a token): its status and
    outcome, not where it came from nor who decided."""
    return dataclasses.replace(_found(ctx, registration_id), source=None, decided_by=None)


async def list_registrations(ctx: ServiceContext, actor: Principal, status: str | None = None, page: int = 1,
                             page_size: int = 25) -> RegistrationList:
    """Newest first; Pending ones unless ``status`` names another, or ``all``."""
    require_global_admin(actor, "listing registrations")
    check_page(page, page_size)
    wanted = _status_filter(status)
    return RegistrationList(ctx.store.list_registrations(wanted, page, page_size), ctx.settings.capabilities)


async def approve(ctx: ServiceContext, actor: Principal, registration_id: object, *,
                  capabilities: Sequence[str] | None = None, policy_name: str | None = None,
                  realm: str | None = None) -> Registration:
    """Make the agent the registration asked for, granting ``capabilities`` (a subset of those requested; all of
    them when None), under ``policy_name`` and in ``realm`` when given; the agent and the settled registration
    commit together with their record, or neither does."""
    require_global_admin(actor, "approving a registration")
    current = _found(ctx, registration_id)
    granted = _granted(ctx, current, capabilities)
    policy = check_policy_name(policy_name) if policy_name else None
    home = realm_for(ctx, actor, realm)  # an admin of every realm: any realm, or none
    agent = new_agent(
        name=current.name,
        owner_id=None,
        roles=(Role.AGENT,),
        secret_hash=b"",  # no secret: the agent proves itself with its key
        policy_name=policy,
        capabilities=granted,
        realm=home,
        version=current.version,
        description=current.description,
        metadata=dict(current.metadata),
        public_key=current.public_key,
        did=current.did,
    )
    settled = dataclasses.replace(current, status=RegistrationStatus.APPROVED, decided_at=agent.created_at,
                                  decided_by=actor.subject, agent_id=agent.id, granted_capabilities=granted)

    def make() -> Registration:
        if policy is not None and ctx.store.policy_head(policy) is None:
            raise NotFound(f"policy {policy!r} not found", pointer="policyName")
        _settle(ctx, settled)
        create_agent(ctx, agent)  # a key taken meanwhile (409) undoes the settling too
        return settled

    return await audit.record_change(ctx, actor, "registration.approved", make, agent_id=agent.id, details={
        "registrationId": current.id, "did": current.did, "grantedCapabilities": list(granted),
        "policyName": policy, "realm": home.id if home else None,
    })


async def reject(ctx: ServiceContext, actor: Principal, registration_id: object, reason: object) -> Registration:
    """Turn the registration down, saying why (the registrant reads the reason when it polls)."""
    require_global_admin(actor, "rejecting a registration")
    current = _found(ctx, registration_id)
    why = bounded_string("reason", reason, MAX_REASON_LENGTH)
    if not why.strip():
        raise input_errors.blank("reason")
    settled = dataclasses.replace(current, status=RegistrationStatus.REJECTED, decided_at=datetime.now(UTC),
                                  decided_by=actor.subject, reason=why)

    def make() -> Registration:
        _settle(ctx, settled)
        return settled

    return await audit.record_change(ctx, actor, "registration.rejected", make, details={
        "registrationId": current.id, "did": current.did, "reason": why,
    })


def _found(ctx: ServiceContext, registration_id: object) -> Registration:
    reference = bounded_string("registrationId", registration_id, MAX_REGISTRATION_ID_LENGTH)
    registration = ctx.store.get_registration(reference)
    if registration is None:
        raise NotFound("registration not found")
    return registration


def _settle(ctx: ServiceContext, settled: Registration) -> None:
    """Pending → decided, or 409 for a registration decided already (by another admin, maybe just now)."""
    if not ctx.store.settle_registration(settled):
        now = ctx.store.get_registration(settled.id)
        raise Conflict(f"the registration is {now.status.value if now else 'decided'} already")


def _granted(ctx: ServiceContext, registration: Registration, capabilities: object) -> tuple[str, ...]:
    """What an approval grants: capabilities of the vocabulary, each one the registration asked for."""
    if capabilities is None:
        return registration.requested_capabilities
    granted = profiles.check_capabilities("capabilities", capabilities, ctx.settings.capabilities)
    requested = registration.requested_capabilities
    for index, capability in enumerate(capabilities):  # type: ignore[arg-type] (a list: checked above)
        if capability not in requested:
            raise input_errors.ruled(
                f"capabilities[{index}]",
                f"({capability}) was not requested; grant some of: {', '.join(requested) or 'none was requested'}")
    return granted


def _status_filter(status: str | None) -> RegistrationStatus | None:
    if status is None or status == "":
        return RegistrationStatus.PENDING
    if status == ALL_STATUSES:
        return None
    choices = [s.value for s in RegistrationStatus]
    if status not in choices:
        raise input_errors.not_one_of("status", [*choices, ALL_STATUSES])
    return RegistrationStatus(status)
