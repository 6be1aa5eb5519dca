"""The agent list over a real SQLite store: capability bits, q in any alphabet, the planner's statistics kept."""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vectra.config import ConfigError, load_settings
from vectra.domain.errors import Unavailable
from vectra.domain.models import Agent, AgentFilter, AgentSort, AgentStatus, Role
from vectra.store import SqliteStore
from vectra.store.agent_rows import COLLECT_UP_TO, agent_row, agents_page_query, agents_query
from vectra.store.migrations import MIGRATIONS
from vectra.store.sqlite import ANALYSE_AGAIN_AT, ANALYSE_FROM, CAPABILITY_BITS

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _agent(n: int, name: str = "agent", capabilities: tuple[str, ...] = (), did: str | None = None) -> Agent:
    return Agent(id=f"00000000-0000-4000-8000-{n:012d}", name=name, owner_id=None, status=AgentStatus.ACTIVE,
                 policy_name=None, trust_score=0.5, roles=(Role.AGENT,), created_at=NOW + timedelta(seconds=n),
                 last_seen_at=None, secret_hash=b"x", capabilities=capabilities, did=did)


def _ids(store: SqliteStore, **filters: object) -> list[str]:
    page = store.list_agents(AgentFilter(online_since=NOW, **filters), 1, 100)  # type: ignore[arg-type]
    assert page.total_count == len(page.items)
    return [a.id for a in page.items]


def _bits(path: Path) -> dict[str, int]:
    with closing(sqlite3.connect(path)) as conn:
        return dict(conn.execute("SELECT name, bit FROM capability_bits"))


# -- capabilities ------------------------------------------------------------------------------------------------

def test_a_capability_keeps_its_bit_when_the_vocabulary_changes(tmp_path: Path) -> None:
    path = tmp_path / "vectra.db"
    with closing(SqliteStore(path)) as first:  # a vocabulary of read, write
        first.insert_agent(_agent(1, capabilities=("write", "read")))
    assert _bits(path) == {"read": 0, "write": 1}  # the next free bit, in name order within one write

    with closing(SqliteStore(path)) as store:  # the vocabulary is now admin, write: read keeps its bit
        store.insert_agent(_agent(2, capabilities=("write", "admin")))
        store.insert_agent(_agent(3, capabilities=("admin",)))
        assert _bits(path) == {"read": 0, "write": 1, "admin": 2}
        assert _ids(store, capabilities=("read",)) == [_agent(1).id]
        assert _ids(store, capabilities=("write",)) == [_agent(1).id, _agent(2).id]
        assert _ids(store, capabilities=("admin", "write")) == [_agent(2).id]
        assert _ids(store, capabilities=("admin", "admin")) == [_agent(2).id, _agent(3).id]


def test_a_capability_no_agent_ever_had_matches_nothing_and_gets_no_bit(tmp_path: Path, store: SqliteStore) -> None:
    store.insert_agent(_agent(1, capabilities=("read",)))
    assert _ids(store, capabilities=("never",)) == []
    assert _ids(store, capabilities=("read", "never")) == []
    assert _bits(tmp_path / "vectra.db") == {"read": 0}


def test_a_profile_change_moves_the_agent_between_capabilities(store: SqliteStore) -> None:
    agent = _agent(1, capabilities=("read", "write"))
    store.insert_agent(agent)
    changed = store.set_agent_profile(dataclasses.replace(agent, capabilities=("admin",)))
    assert changed is not None and changed.capabilities == ("admin",)
    assert _ids(store, capabilities=("read",)) == []
    assert _ids(store, capabilities=("admin",)) == [agent.id]


def test_the_store_refuses_a_capability_once_every_bit_is_taken(tmp_path: Path, store: SqliteStore) -> None:
    names = tuple(f"cap{i:02d}" for i in range(CAPABILITY_BITS))
    store.insert_agent(_agent(1, capabilities=names))
    assert sorted(_bits(tmp_path / "vectra.db").values()) == list(range(CAPABILITY_BITS))
    assert _ids(store, capabilities=(names[-1], names[0])) == [_agent(1).id]

    with pytest.raises(Unavailable, match="'one_more' can't be stored"):
        store.insert_agent(_agent(2, capabilities=("one_more",)))
    assert store.get_agent(_agent(2).id) is None  # nothing of the refused write was kept
    assert "one_more" not in _bits(tmp_path / "vectra.db")
    store.insert_agent(_agent(3, capabilities=(names[5],)))  # a name with a bit is still taken
    assert _ids(store, capabilities=(names[5],)) == [_agent(1).id, _agent(3).id]


def test_a_vocabulary_of_more_than_62_capabilities_is_refused() -> None:
    names = [f"cap{i:02d}" for i in range(63)]
    assert len(load_settings({}, {"VECTRA_CAPABILITIES": ",".join(names[:62])}).capabilities) == 62
    with pytest.raises(ConfigError, match="names 63 capabilities; at most 62"):
        load_settings({}, {"VECTRA_CAPABILITIES": ",".join(names)})


# -- q -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("q", ["Émile", "émile", "ÉMILE", "MILE-Z", "ÉMILE-ZOLA"])
def test_q_finds_a_name_whatever_its_case_in_any_alphabet(store: SqliteStore, q: str) -> None:
    store.insert_agent(_agent(1, name="Émile-Zola"))
    store.insert_agent(_agent(2, name="Emile-Other"))  # no accent: not the same letter
    assert _ids(store, q=q) == [_agent(1).id]


def test_q_folds_case_as_unicode_does(store: SqliteStore) -> None:
    store.insert_agent(_agent(1, name="Straße-Bot"))
    store.insert_agent(_agent(2, name="ΣΟΦΊΑ"))
    assert _ids(store, q="STRASSE") == [_agent(1).id]
    assert _ids(store, q="σοφία") == [_agent(2).id]


def test_q_follows_a_renamed_agent(store: SqliteStore) -> None:
    agent = _agent(1, name="Ångström")
    store.insert_agent(agent)
    store.set_agent_profile(dataclasses.replace(agent, name="Łódź"))
    assert _ids(store, q="ångström") == []
    assert _ids(store, q="ŁÓDŹ") == [agent.id]


def test_q_finds_an_id_or_a_did_whatever_its_case(store: SqliteStore) -> None:
    store.insert_agent(_agent(1, name="one", did="did:key:z6MkHaXy"))
    store.insert_agent(_agent(2, name="two"))
    assert _ids(store, q="Z6MKHAXY") == [_agent(1).id]
    assert _ids(store, q="8000-000000000002") == [_agent(2).id]


@pytest.mark.parametrize("q", ['say "hi"', "a*b", "x AND y", "NEAR(p q)", "-minus", "^caret", "o'neil"])
def test_q_takes_the_trigram_index_s_syntax_literally(store: SqliteStore, q: str) -> None:
    store.insert_agent(_agent(1, name=f"[{q}]"))
    store.insert_agent(_agent(2, name="say hi a b x y p q minus caret oneil"))
    assert _ids(store, q=q) == [_agent(1).id]


def test_a_nul_in_a_name_or_in_q_is_searched_like_any_other_character(store: SqliteStore) -> None:
    """FTS5 and SQLite's length() take NUL for the end of the text; q must not (a name may hold one)."""
    store.insert_agent(_agent(1, name="ab\0cdefgh"))
    store.insert_agent(_agent(2, name="abcdefgh"))
    assert _ids(store, q="cdef") == [_agent(1).id, _agent(2).id]
    assert _ids(store, q="b\0cde") == [_agent(1).id]
    assert _ids(store, q="000000000001") == [_agent(1).id]
    assert _ids(store, q="zz\0zz") == []
    assert _ids(store, q="b\0c\nx") == []


def test_q_of_one_or_two_characters_is_answered_without_the_trigram_index(store: SqliteStore) -> None:
    store.insert_agent(_agent(1, name="ab"))
    store.insert_agent(_agent(2, name="cd"))
    assert _ids(store, q="B") == [_agent(1).id]
    assert _ids(store, q="cD") == [_agent(2).id]


def test_a_deleted_agent_leaves_the_search_index(store: SqliteStore) -> None:
    store.insert_agent(_agent(1, name="ephemeral"))
    store.insert_agent(_agent(2, name="ephemeral-two"))
    assert store.delete_agent(_agent(1).id)
    store.insert_agent(_agent(3, name="later"))  # takes the next key: no reuse of the deleted one's
    assert _ids(store, q="ephemeral") == [_agent(2).id]
    assert _ids(store, q="later") == [_agent(3).id]


def test_agents_of_before_the_registry_are_found_by_q(tmp_path: Path) -> None:
    """Migration 8 fills the search text and its trigram index for the agents already there."""
    path = tmp_path / "vectra.db"
    with closing(sqlite3.connect(path)) as conn:
        for script in MIGRATIONS[:7]:  # a database as the daemon of before the registry left it
            conn.executescript(script)
        conn.execute("PRAGMA user_version = 7")
        conn.execute("INSERT INTO agents (id, name, owner_id, status, policy_name, trust_score, roles, secret_hash, "
                     "created_at) VALUES ('00000000-0000-4000-8000-000000000001', 'Legacy-Bot', NULL, 'Active', "
                     "NULL, 0.5, '[\"agent\"]', x'', '2026-01-01T00:00:00+00:00')")
        conn.execute("INSERT INTO agents (id, name, owner_id, status, policy_name, trust_score, roles, secret_hash, "
                     "created_at) VALUES ('00000000-0000-4000-8000-000000000009', 'ÉMILE-Straße', NULL, 'Active', "
                     "NULL, 0.5, '[\"agent\"]', x'', '2026-01-01T00:00:00+00:00')")
        conn.commit()
    store = SqliteStore(path)
    try:
        assert _ids(store, q="legacy") == ["00000000-0000-4000-8000-000000000001"]
        # folded as the store folds what it writes itself, not by SQLite's ASCII-only lower()
        assert _ids(store, q="émile-STRASSE") == ["00000000-0000-4000-8000-000000000009"]
        store.insert_agent(_agent(2, name="legacy-new"))
        assert len(_ids(store, q="LEGACY")) == 2
    finally:
        store.close()


def test_q_with_a_line_break_matches_within_the_name_only(store: SqliteStore) -> None:
    store.insert_agent(_agent(1, name="first\nsecond"))
    store.insert_agent(_agent(2, name="tail", did="did:key:zabc"))
    assert _ids(store, q="T\nSEC") == [_agent(1).id]
    # what search_text holds across the end of a name and the start of the id (or of the did) is no match
    assert _ids(store, q="tail\n00000000") == []
    assert _ids(store, q="002\ndid") == []


@pytest.mark.parametrize("matches", [3, COLLECT_UP_TO + 1])  # the page chosen among the collected matches, or not
def test_a_page_of_few_or_many_matches_is_in_order(store: SqliteStore, matches: int) -> None:
    for n in range(matches + 20):
        store.insert_agent(_agent(n, name=f"{'hit' if n < matches else 'other'}-{(n * 37) % 101:03d}"))
    expected = sorted((f"hit-{(n * 37) % 101:03d}", _agent(n).id) for n in range(matches))[::-1]
    page = store.list_agents(AgentFilter(online_since=NOW, q="HIT", sort_by=AgentSort.NAME, descending=True), 2, 2)
    assert page.total_count == matches
    assert [a.id for a in page.items] == [agent_id for _, agent_id in expected[2:4]]


# -- the planner's statistics ------------------------------------------------------------------------------------

def _add_agents(path: Path, first: int, count: int) -> None:
    """``count`` agents written by another connection (another daemon on the same file): 85 % active."""
    rows = [agent_row(dataclasses.replace(_agent(n, name=f"agent-{(n * 7919) % count:06d}"),
                                          status=AgentStatus.ACTIVE if n % 20 < 17 else AgentStatus.REVOKED), 0, n + 1)
            for n in range(first, first + count)]
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executemany(f"INSERT INTO agents ({', '.join(rows[0])}) VALUES ({', '.join(':' + c for c in rows[0])})",
                         rows)


def _active_by_name_plan(path: Path) -> str:
    """How SQLite, reading the statistics as they now are, finds a page of the active agents by name."""
    where, params, order = agents_query(AgentFilter(online_since=NOW, status=AgentStatus.ACTIVE,
                                                    sort_by=AgentSort.NAME), {})
    with closing(sqlite3.connect(path)) as conn:
        query = agents_page_query(where, order, ANALYSE_FROM)
        plan = conn.execute(f"EXPLAIN QUERY PLAN {query}", [*params, 25, 0]).fetchall()
    return "; ".join(row[-1] for row in plan)


def _analysed(path: Path) -> int | None:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT max(CAST(stat AS INTEGER)) FROM sqlite_stat1 WHERE tbl = 'agents'").fetchone()[0]


def test_no_statistics_are_gathered_of_a_handful_of_agents(tmp_path: Path) -> None:
    path = tmp_path / "vectra.db"
    with closing(SqliteStore(path)) as store:
        for n in range(10):
            store.insert_agent(_agent(n))
        store.probe_write(NOW)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone() is None


def test_statistics_of_a_small_registry_are_refreshed_as_it_grows(tmp_path: Path) -> None:
    path = tmp_path / "vectra.db"
    store = SqliteStore(path)
    for n in range(10):
        store.insert_agent(_agent(n))
    store._conn.execute("ANALYZE agents")  # statistics of ten agents (an operator's ANALYZE, or an older Vectra)
    store.probe_write(NOW)
    assert _analysed(path) == 10

    _add_agents(path, 10, ANALYSE_FROM * 8)
    store.probe_write(NOW + timedelta(seconds=2))  # the probe looks every few minutes, not every time
    assert _analysed(path) == 10
    store.probe_write(NOW + timedelta(minutes=5))
    assert _analysed(path) == ANALYSE_FROM * 8 + 10
    store.close()


def test_statistics_let_a_common_status_be_listed_by_name_through_the_name_index(tmp_path: Path) -> None:
    path = tmp_path / "vectra.db"
    with closing(SqliteStore(path)):
        pass
    _add_agents(path, 0, ANALYSE_FROM * 8)
    # without statistics, SQLite takes the status index (and then sorts every active agent: 85 % of them)
    assert "SEARCH a USING INDEX agents_status (status=?)" in _active_by_name_plan(path)
    with closing(SqliteStore(path)):  # analyses them as it opens
        assert _analysed(path) == ANALYSE_FROM * 8
    plan = _active_by_name_plan(path)
    assert "SCAN a USING INDEX agents_name" in plan and "agents_status" not in plan


def test_statistics_are_refreshed_when_the_store_opens_and_closes(tmp_path: Path) -> None:
    path = tmp_path / "vectra.db"
    with closing(SqliteStore(path)):
        pass
    _add_agents(path, 0, ANALYSE_FROM)
    with closing(SqliteStore(path)) as store:
        assert _analysed(path) == ANALYSE_FROM
        _add_agents(path, ANALYSE_FROM, ANALYSE_FROM * (ANALYSE_AGAIN_AT - 1) - 1)
        store.insert_agent(_agent(10 * ANALYSE_FROM))  # now ANALYSE_AGAIN_AT times as many
        assert _analysed(path) == ANALYSE_FROM
    assert _analysed(path) == ANALYSE_FROM * ANALYSE_AGAIN_AT
