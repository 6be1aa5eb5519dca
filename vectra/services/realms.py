"""The Realms use cases, and how the other use cases find a realm by id or slug.

A realm groups agents; an admin or reviewer may be limited to some realms (``scopeRealms``), and then every realm
but those, with their agents and parked requests, does not exist for it: 404, never 403. Only an admin of every
realm creates, changes or deletes realms (docs/registry.md).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from datetime import UTC, datetime

from vectra.domain.errors import Conflict, NotFound
from vectra.domain.models import Page, Principal, Realm, Role
from vectra.services import audit, input_errors
from vectra.services.auth import require, require_global_admin, require_reader
from vectra.services.context import ServiceContext
from vectra.services.inputs import bounded_string, check_page, optional_string

__all__ = [
    "create_realm",
    "delete_realm",
    "find_visible_realm",
    "get_realm",
    "list_realms",
    "resolve_realms",
    "update_realm",
]

MAX_REALM_NAME = 100
MAX_REALM_REFERENCE = 100
MAX_SCOPE_REALMS = 50
DEFAULT_COLOR = "#6b7280"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def find_visible_realm(ctx: ServiceContext, actor: Principal, id_or_slug: str) -> Realm | None:
    """The realm with this id or slug, if it exists for ``actor``."""
    realm = ctx.store.find_realm(id_or_slug)
    return realm if realm is not None and actor.sees(realm) else None


def resolve_realms(ctx: ServiceContext, actor: Principal, pointer: str, values: object) -> tuple[str, ...]:
    """Realm ids or slugs, each visible to ``actor``, as ids (each once, in the given order)."""
    if values is None:
        return ()
    if not isinstance(values, (list, tuple)):
        raise input_errors.malformed(pointer, "a list")
    if len(values) > MAX_SCOPE_REALMS:
        raise input_errors.too_many(pointer, MAX_SCOPE_REALMS)
    ids: list[str] = []
    for index, value in enumerate(values):
        reference = bounded_string(f"{pointer}[{index}]", value, MAX_REALM_REFERENCE)
        realm = find_visible_realm(ctx, actor, reference)
        if realm is None:
            raise NotFound(f"realm {reference!r} not found", pointer=f"{pointer}[{index}]")
        if realm.id not in ids:
            ids.append(realm.id)
    return tuple(ids)


async def list_realms(ctx: ServiceContext, actor: Principal, page: int = 1, page_size: int = 25) -> Page[Realm]:
    require_reader(actor, "listing realms")
    check_page(page, page_size)
    return ctx.store.list_realms(actor.scope, page, page_size)


async def get_realm(ctx: ServiceContext, actor: Principal, id_or_slug: str) -> Realm:
    require_reader(actor, "reading a realm")
    return _visible(ctx, actor, id_or_slug)


async def create_realm(ctx: ServiceContext, actor: Principal, *, name: object, slug: object,
                       color: object = None) -> Realm:
    require_global_admin(actor, "creating a realm")
    realm = Realm(id=f"realm_{uuid.uuid4().hex[:16]}", name=_name(name), slug=_slug(slug),
                  color=_color(color) or DEFAULT_COLOR, created_at=datetime.now(UTC))

    def create() -> Realm:
        _refuse_taken(ctx, realm.slug)
        ctx.store.insert_realm(realm)
        return realm

    return await audit.record_change(ctx, actor, "realm.created", create,
                                     details={"realmId": realm.id, "slug": realm.slug, "name": realm.name})


async def update_realm(ctx: ServiceContext, actor: Principal, id_or_slug: str, *, name: object = None,
                       slug: object = None, color: object = None) -> Realm:
    """Change what is given (name, slug, colour); the id never changes."""
    require(actor, Role.ADMIN)
    current = _visible(ctx, actor, id_or_slug)  # another realm is not found, before its own is refused
    require_global_admin(actor, "changing a realm")
    updated = dataclasses.replace(
        current,
        name=current.name if name is None else _name(name),
        slug=current.slug if slug is None or slug == "" else _slug(slug),
        color=_color(color) or current.color,
    )

    def update() -> Realm:
        if updated.slug != current.slug:
            _refuse_taken(ctx, updated.slug)
        if not ctx.store.update_realm(updated):
            raise NotFound(f"realm {id_or_slug!r} not found")
        return updated

    try:
        return await audit.record_change(ctx, actor, "realm.updated", update,
                                         details={"realmId": current.id, "slug": updated.slug, "name": updated.name})
    finally:
        ctx.agents.clear()  # cached agents carry their realm's name and slug


async def delete_realm(ctx: ServiceContext, actor: Principal, id_or_slug: str) -> None:
    """Only an empty realm: its agents are moved, and its admins' scope changed, first."""
    require(actor, Role.ADMIN)
    realm = _visible(ctx, actor, id_or_slug)
    require_global_admin(actor, "deleting a realm")

    def delete() -> None:
        members = ctx.store.count_realm_members(realm.id)
        if members:
            raise Conflict(f"realm {realm.slug!r} still has {members} agents or overseers; move them first")
        if not ctx.store.delete_realm(realm.id):
            raise NotFound(f"realm {id_or_slug!r} not found")

    await audit.record_change(ctx, actor, "realm.deleted", delete, details={"realmId": realm.id, "slug": realm.slug})


def _visible(ctx: ServiceContext, actor: Principal, id_or_slug: object) -> Realm:
    reference = bounded_string("realmId", id_or_slug, MAX_REALM_REFERENCE)
    realm = find_visible_realm(ctx, actor, reference)
    if realm is None:
        raise NotFound(f"realm {reference!r} not found")
    return realm


def _refuse_taken(ctx: ServiceContext, slug: str) -> None:
    if ctx.store.find_realm(slug) is not None:
        raise Conflict(f"realm slug {slug!r} is taken", pointer="slug")


def _name(value: object) -> str:
    name = bounded_string("name", value, MAX_REALM_NAME)
    if not name.strip():
        raise input_errors.blank("name")
    return name


def _slug(value: object) -> str:
    slug = bounded_string("slug", value, 63)
    if not _SLUG.fullmatch(slug):
        raise input_errors.malformed("slug", "1 to 63 of a-z, 0-9 and '-', starting with a letter or digit")
    return slug


def _color(value: object) -> str | None:
    color = optional_string("color", value, 7)
    if color is not None and not _COLOR.fullmatch(color):
        raise input_errors.malformed("color", "a colour as #rrggbb")
    return color.lower() if color else None
