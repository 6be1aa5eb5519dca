"""Agents, realms and registrations as rows, and the query of ``GET /agents``.

An agent row is always read joined with its realm (:data:`AGENT_SELECT`), so that an agent carries its realm's
name, slug and colour. Its capabilities are kept twice: as JSON in the row (what is read back) and as the bitmask
``capability_bits`` (what the "having all of" filter tests), of the bits the table ``capability_bits`` assigned to
their names (the store assigns them, :meth:`SqliteStore._capability_bits`). ``q`` searches ``search_text``, which
the store writes with the row (:func:`search_text`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from vectra.domain.models import Agent, AgentFilter, AgentSort, AgentStatus, Governance, Realm, Role, ShadowPolicy
from vectra.domain.registrations import Registration, RegistrationStatus
from vectra.store.pending_rows import stamp

__all__ = [
    "AGENT_SELECT",
    "COLLECT_UP_TO",
    "agent_from_row",
    "agent_row",
    "agents_count_query",
    "agents_page_query",
    "agents_query",
    "capability_mask",
    "realm_from_row",
    "registration_from_row",
    "registration_row",
    "search_fold",
    "search_text",
    "shadow_json",
    "within_scope",
]

_REALM_COLUMNS = (
    "SELECT a.*, r.name AS realm_name, r.slug AS realm_slug, r.color AS realm_color, r.created_at AS realm_created_at"
)
AGENT_SELECT = f"{_REALM_COLUMNS} FROM agents a LEFT JOIN realms r ON r.id = a.realm_id"

_SORT_COLUMNS = {
    AgentSort.NAME: "a.name COLLATE NOCASE",
    AgentSort.REGISTERED_AT: "a.created_at",
    AgentSort.LAST_SEEN: "a.last_seen_at",
    AgentSort.TRUST_SCORE: "a.trust_score",
}


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def realm_from_row(row: Mapping[str, Any], prefix: str = "") -> Realm:
    return Realm(id=row[f"{prefix}id"], name=row[f"{prefix}name"], slug=row[f"{prefix}slug"],
                 color=row[f"{prefix}color"], created_at=datetime.fromisoformat(row[f"{prefix}created_at"]))


def agent_from_row(row: Mapping[str, Any]) -> Agent:
    realm = None
    if row["realm_id"] is not None and row["realm_slug"] is not None:
        realm = Realm(id=row["realm_id"], name=row["realm_name"], slug=row["realm_slug"], color=row["realm_color"],
                      created_at=datetime.fromisoformat(row["realm_created_at"]))
    return Agent(
        id=row["id"],
        name=row["name"],
        owner_id=row["owner_id"],
        status=AgentStatus(row["status"]),
        policy_name=row["policy_name"],
        trust_score=row["trust_score"],
        roles=tuple(Role(r) for r in json.loads(row["roles"])),
        created_at=datetime.fromisoformat(row["created_at"]),
        last_seen_at=_time(row["last_seen_at"]),
        secret_hash=row["secret_hash"],
        capabilities=tuple(json.loads(row["capabilities"])),
        realm=realm,
        version=row["version"],
        description=row["description"],
        metadata=json.loads(row["metadata"]),
        public_key=row["public_key"],
        did=row["did"],
        scope_realms=tuple(json.loads(row["scope_realms"])),
        governance=governance_from_json(row["governance"]),
        parent_agent_id=row["parent_agent_id"],
        shadow=shadow_from_json(row["shadow_policy"]),
    )


def governance_from_json(text: str) -> Governance:
    limits = json.loads(text)
    return Governance(**{name: limits.get(key) for key, name in _GOVERNANCE_KEYS.items()})


def governance_json(governance: Governance) -> str:
    """The limits the agent has of its own (unset ones are left out: they follow the defaults)."""
    return json.dumps({key: getattr(governance, name) for key, name in _GOVERNANCE_KEYS.items()
                       if getattr(governance, name) is not None}, sort_keys=True)


def shadow_from_json(text: str | None) -> ShadowPolicy | None:
    if not text:
        return None
    shadow = json.loads(text)
    return ShadowPolicy(shadow["policyName"], shadow["policyVersion"], datetime.fromisoformat(shadow["since"]))


def shadow_json(shadow: ShadowPolicy | None) -> str | None:
    if shadow is None:
        return None
    return json.dumps({"policyName": shadow.policy_name, "policyVersion": shadow.policy_version,
                       "since": stamp(shadow.since)})


_GOVERNANCE_KEYS = {"maxSessionHours": "max_session_hours", "maxDailySessions": "max_daily_sessions",
                    "maxConcurrentSessions": "max_concurrent_sessions", "maxDelegationDepth": "max_delegation_depth"}


def agent_row(agent: Agent, capability_bits: int, seq: int) -> dict[str, Any]:
    """The row of ``agent``, whose capabilities' bits are ``capability_bits`` (:func:`capability_mask`); ``seq`` is
    its integer key in the search index (one more than the largest yet, see migration 8)."""
    return {
        "id": agent.id,
        "seq": seq,
        "owner_id": agent.owner_id,
        "status": agent.status.value,
        "policy_name": agent.policy_name,
        "trust_score": agent.trust_score,
        "roles": json.dumps([r.value for r in agent.roles]),
        "secret_hash": agent.secret_hash,
        "created_at": stamp(agent.created_at),
        "last_seen_at": stamp(agent.last_seen_at) if agent.last_seen_at else None,
        "parent_agent_id": agent.parent_agent_id,
        "shadow_policy": shadow_json(agent.shadow),
        **profile_columns(agent, capability_bits),
    }


def profile_columns(agent: Agent, capability_bits: int) -> dict[str, Any]:
    """The columns an admin may change after registration (``PATCH /agents/{id}``), and the key; and what is kept
    of them for the list's filters."""
    return {
        "name": agent.name,
        "capabilities": json.dumps(list(agent.capabilities)),
        "capability_bits": capability_bits,
        "search_text": search_text(agent),
        "realm_id": agent.realm.id if agent.realm else None,
        "version": agent.version,
        "description": agent.description,
        "metadata": json.dumps(dict(agent.metadata), sort_keys=True),
        "public_key": agent.public_key,
        "did": agent.did,
        "scope_realms": json.dumps(list(agent.scope_realms)),
        "governance": governance_json(agent.governance),
    }


def search_text(agent: Agent) -> str:
    """What ``q`` searches: the name case-folded (all of Unicode: "ÉMILE" finds "Émile"), the id as it is (a
    lower-case UUID) and the did lower-cased (ASCII), one a line. A needle without a line break can't match across
    two of them, so one ``instr`` over this text answers "in the name, the id or the did" without folding every row
    at each query."""
    return f"{search_fold(agent.name)}{_SEPARATOR}{agent.id}{_SEPARATOR}{(agent.did or '').lower()}"


def search_fold(text: str) -> str:
    """Text as ``q`` compares it: case-folded, and NUL (which FTS5 and SQLite's ``length()`` take for the end of the
    text) shown as U+FFFD, in the stored text and the needle alike. Migration 8 calls it too, as ``search_fold``."""
    return text.casefold().replace("\0", "\ufffd")


_SEPARATOR = "\n"
#: the shortest q the trigram index (agent_search) can look up; a shorter one scans agents_search
_TRIGRAM = 3
#: the name's part of search_text (the id and the did have no line break: the name is all before their two)
_NAME_PART = "substr(a.search_text, 1, length(a.search_text) - length(a.id) - length(ifnull(a.did, '')) - 2)"


def capability_mask(names: Iterable[str], bits: Mapping[str, int]) -> int:
    """The bitmask of ``names``, each of which has a bit in ``bits``."""
    return sum(1 << bits[name] for name in set(names))


def agents_query(filters: AgentFilter, bits: Mapping[str, int]) -> tuple[str, list[Any], str]:
    """``(WHERE clause, its parameters, ORDER BY clause)`` for the agents matching ``filters``; ``bits``: the bits of
    the capabilities the filter names that have one (a capability without a bit is one that no agent has had)."""
    conditions: list[str] = []
    params: list[Any] = []
    if filters.q:
        # instr: a substring, with no LIKE wildcards to escape; a needle with a line break can only be in the name
        needle = search_fold(filters.q)
        if len(needle) >= _TRIGRAM and _SEPARATOR not in needle:
            # the trigram index names the candidates (every agent whose text holds the needle, maybe a few more):
            # instr then decides, so the answer is the scan's
            conditions.append("a.seq IN (SELECT rowid FROM agent_search WHERE agent_search MATCH ?)")
            params.append('"' + needle.replace('"', '""') + '"')
        conditions.append(f"instr({_NAME_PART if _SEPARATOR in needle else 'a.search_text'}, ?) > 0")
        params.append(needle)
    if filters.status is not None:
        conditions.append("a.status = ?")
        params.append(filters.status.value)
    if filters.online is not None:
        # offline: never seen ('' sorts before every time) or not since; one comparison rather than an OR, which
        # SQLite answers by collecting the rows of two index ranges and reading each one (3x slower at 100,000)
        conditions.append("a.last_seen_at >= ?" if filters.online else "ifnull(a.last_seen_at, '') < ?")
        params.append(stamp(filters.online_since))
    if filters.realm_ids is not None:
        conditions.append(f"a.realm_id IN ({', '.join('?' * len(filters.realm_ids))})" if filters.realm_ids else "0")
        params += sorted(filters.realm_ids)
    if filters.scope is not None:
        scoped, scope_params = within_scope("a", filters.scope)
        conditions.append(scoped)
        params += scope_params
    if filters.capabilities:
        if all(name in bits for name in filters.capabilities):
            conditions.append("(a.capability_bits & ?) = ?")
            params += [capability_mask(filters.capabilities, bits)] * 2
        else:
            conditions.append("0")
    if filters.owner_id is not None:
        conditions.append("a.owner_id = ?")
        params.append(filters.owner_id)
    where = (" WHERE " + " AND ".join(conditions)) if conditions else ""
    direction = "DESC" if filters.descending else "ASC"
    # never seen sorts as the oldest sighting: first ascending, last descending
    order = f" ORDER BY {_SORT_COLUMNS[filters.sort_by]} {direction}, a.id {direction}"
    return where, params, order


def agents_count_query(filters: AgentFilter, bits: Mapping[str, int]) -> tuple[str, list[Any]]:
    """The query answering ``(matches, online matches)`` for ``filters`` (``bits`` as :func:`agents_query`'s).
    Without a filter, two plain counts, each answered from an index alone (every agent from the smallest index, the
    online ones from a range of ``agents_seen``), instead of reading every agent's ``last_seen_at``; online only:
    every match is online; offline only: all the matches but for that filter less the online ones (no index range
    holds the agents never seen or seen long ago, so that alone would be a scan); else one pass counts both."""
    if filters.online:
        where, params, _ = agents_query(filters, bits)
        return f"SELECT count(*), count(*) FROM agents a{where}", params
    if filters.online is False:
        counts, params = agents_count_query(dataclasses.replace(filters, online=None), bits)
        return f"SELECT matches - online, 0 FROM ({counts})", params
    where, params, _ = agents_query(filters, bits)
    since = stamp(filters.online_since)
    if not where:
        return ("SELECT (SELECT count(*) FROM agents) AS matches, "
                "(SELECT count(*) FROM agents WHERE last_seen_at >= ?) AS online", [since])
    return (f"SELECT count(*) AS matches, coalesce(sum(a.last_seen_at >= ?), 0) AS online FROM agents a{where}",
            [since, *params])


#: up to this many matches, a page is chosen among the matches collected through the best index for the filters,
#: rather than by walking the sort's index until the page is full: with few matches that walk reads (nearly) every
#: agent, one row at a time (a q of one match at 100,000 agents: 53 ms, against 20 ms for a scan of agents_search)
COLLECT_UP_TO = 100


def agents_page_query(where: str, order: str, matches: int) -> str:
    """One page of the ``matches`` agents (their count) with their realms (parameters: ``where``'s, then LIMIT and
    OFFSET). The page is chosen before the join, so that the rows an OFFSET skips are not joined to their realm."""
    source = f"agents a WHERE a.rowid IN (SELECT a.rowid FROM agents a{where})" if (
        where and matches <= COLLECT_UP_TO) else f"agents a{where}"
    return (f"{_REALM_COLUMNS} FROM (SELECT * FROM {source}{order} LIMIT ? OFFSET ?) a "
            f"LEFT JOIN realms r ON r.id = a.realm_id{order}")


def within_scope(alias: str, scope: frozenset[str]) -> tuple[str, list[str]]:
    """The agents a caller limited to the realms ``scope`` oversees (``services.agents.visible_agent`` in SQL): in
    one of those realms, and, for an admin or reviewer, limited to some of them too."""
    marks = ", ".join("?" * len(scope))
    if not scope:
        return "0", []
    sql = (f"({alias}.realm_id IN ({marks}) AND (({alias}.roles NOT LIKE '%\"admin\"%' "
           f"AND {alias}.roles NOT LIKE '%\"reviewer\"%') OR ({alias}.scope_realms <> '[]' AND NOT EXISTS "
           f"(SELECT 1 FROM json_each({alias}.scope_realms) WHERE value NOT IN ({marks})))))")
    return sql, [*sorted(scope), *sorted(scope)]


def registration_row(registration: Registration) -> dict[str, Any]:
    return {
        "id": registration.id,
        "name": registration.name,
        "version": registration.version,
        "description": registration.description,
        "metadata": json.dumps(dict(registration.metadata), sort_keys=True),
        "requested_capabilities": json.dumps(list(registration.requested_capabilities)),
        "public_key": registration.public_key,
        "did": registration.did,
        "source": registration.source,
        "status": registration.status.value,
        "requested_at": stamp(registration.requested_at),
        "decided_at": stamp(registration.decided_at) if registration.decided_at else None,
        "decided_by": registration.decided_by,
        "reason": registration.reason,
        "agent_id": registration.agent_id,
        "granted_capabilities": json.dumps(list(registration.granted_capabilities)),
    }


def registration_from_row(row: Mapping[str, Any]) -> Registration:
    return Registration(
        id=row["id"],
        name=row["name"],
        version=row["version"],
        description=row["description"],
        metadata=json.loads(row["metadata"]),
        requested_capabilities=tuple(json.loads(row["requested_capabilities"])),
        public_key=row["public_key"],
        did=row["did"],
        source=row["source"],
        status=RegistrationStatus(row["status"]),
        requested_at=datetime.fromisoformat(row["requested_at"]),
        decided_at=_time(row["decided_at"]),
        decided_by=row["decided_by"],
        reason=row["reason"],
        agent_id=row["agent_id"],
        granted_capabilities=tuple(json.loads(row["granted_capabilities"] or "[]")),
    )
