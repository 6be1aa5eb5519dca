"""Agent registry listing: ``GET /agents`` with each of its filters and sorts at 100,000 agents, against the same
database without the registry's indexes and against 1,000 agents.

Run: ``.venv/bin/python benchmarks/bench_agent_list.py [--quick]``. Builds registries of 1,000 and 100,000 agents
(seeded: 10 realms, random subsets of the eight default capabilities, ~30 % seen in the last five minutes, varied
names, trust, status and owners) by bulk inserts through the store's own connection, then times every case twice:
``SqliteStore.list_agents`` in this process, and ``GET /agents`` against the real daemon over HTTP (one kept-alive
connection, operator token). Prints median and p95 latency per case; at store level also the same query on a copy
of the database without migration 8's ``agents_*`` indexes (and the ratio
indexed / unindexed), and for both levels the ratio to the plain first page at 1,000 agents, so that the growth
1k -> 100k shows. Every case's answer (ids and both counts) must be the same with and without the indexes, and
over HTTP the same as the store's (exit code 1 otherwise). ``EXPLAIN QUERY PLAN`` of each case's two queries
(counts, page) is printed; a full scan of ``agents`` is marked. The online window is 15 minutes (the daemon's
``VECTRA_ONLINE_WINDOW_SECONDS``) so that the agents seen in the last five minutes stay online for the whole run.
``--quick``: fewer runs per case and only the reference case over HTTP at 1,000 agents; ``--store-only``: no daemon.
"""

# no `from __future__ import annotations`: run.py loads this file as a module it doesn't put in sys.modules, and
# dataclasses can't read string annotations there
import argparse
import contextlib
import http.client
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from local_servers import PROXY_CPU, pinned

from tests.e2e.daemon import SERVE, Daemon
from vectra.config import DEFAULT_CAPABILITIES
from vectra.domain.models import Agent, AgentFilter, AgentPage, AgentSort, AgentStatus, Realm
from vectra.store import SqliteStore
from vectra.store.agent_rows import AGENT_SELECT, agent_row, agents_query, capability_mask
from vectra.store.pending_rows import stamp

T = TypeVar("T")
SEED = 20261201
SIZES = (1_000, 100_000)
REALMS = 10
OWNERS = 500
#: the daemon's VECTRA_ONLINE_WINDOW_SECONDS here (its default is 300 s): agents seen in the last five minutes stay
#: online for the whole run, so that every level lists the same agents as online
ONLINE_WINDOW = timedelta(seconds=900)
PAGE_SIZE = 25  # GET /agents' default
#: migration 8's indexes for the agent list; the unindexed copy drops them (agents_created, of migration 1, stays)
REGISTRY_INDEXES = ("agents_did", "agents_realm", "agents_name", "agents_seen", "agents_trust", "agents_status",
                    "agents_owner", "agents_search")
SLOW_MS = 20.0
WORDS = ("billing", "Sales", "support", "Ledger", "crawler", "Mailer", "planner", "Triage", "scout", "Indexer",
         "router", "Auditor", "summary", "Pricing", "backup", "Deploy", "review", "Report", "search", "Tutor")
KINDS = ("agent", "Bot", "worker", "Assistant", "daemon", "Helper", "runner", "Copilot")
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


# --- the registry -------------------------------------------------------------------------------------------------
def realms(rng: random.Random, now: datetime) -> list[Realm]:
    return [Realm(id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), name=f"Realm {i}", slug=f"realm-{i}",
                  color=f"#{rng.getrandbits(24):06x}", created_at=now - timedelta(days=400)) for i in range(REALMS)]


def make_agent(rng: random.Random, i: int, count: int, now: datetime, all_realms: list[Realm]) -> Agent:
    roll = rng.random()
    if roll < 0.30:
        seen: datetime | None = now - timedelta(seconds=rng.uniform(0, 300))
    elif roll < 0.80:
        seen = now - timedelta(seconds=rng.uniform(ONLINE_WINDOW.total_seconds() + 60, 60 * 86400))
    else:
        seen = None
    status = rng.choices((AgentStatus.ACTIVE, AgentStatus.QUARANTINED, AgentStatus.REVOKED), (85, 10, 5))[0]
    key = "z6Mk" + "".join(rng.choice(_BASE58) for _ in range(44)) if rng.random() < 0.5 else None
    return Agent(
        id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        name=f"{rng.choice(WORDS)}-{rng.choice(KINDS)}-{i:06d}",
        owner_id=f"team-{rng.randrange(OWNERS):03d}" if rng.random() < 0.9 else None,
        status=status,
        policy_name=None,
        trust_score=round(rng.random(), 3),
        roles=(),
        # registered over the last year, in order, a few agents at the same moment
        created_at=now - timedelta(days=365) + timedelta(seconds=(i // 3) * 3 * 365 * 86400 / count),
        last_seen_at=seen,
        secret_hash=b"",
        capabilities=tuple(c for c in DEFAULT_CAPABILITIES if rng.random() < 0.4),
        realm=rng.choice(all_realms) if rng.random() < 0.95 else None,
        description="benchmark agent",
        public_key=key,
        did=f"did:key:{key}" if key else None,
    )


@dataclass
class Registry:
    path: Path
    count: int
    realms: list[Realm]
    populated_s: float


def populate(path: Path, count: int) -> Registry:
    """A fresh store at ``path`` with ``count`` agents, inserted in one transaction of bulk inserts."""
    rng = random.Random(SEED + count)
    now = datetime.now(UTC)
    started = time.perf_counter()
    store = SqliteStore(path)
    all_realms = realms(rng, now)
    for realm in all_realms:
        store.insert_realm(realm)
    agents = [make_agent(rng, i, count, now, all_realms) for i in range(count)]
    with store._transaction() as conn:
        conn.execute("PRAGMA cache_size = -262144")  # 256 MiB: the random ids' index pages stay in memory
        bits = store._capability_bits(conn, DEFAULT_CAPABILITIES, assign=True)
        rows = [agent_row(a, capability_mask(a.capabilities, bits), seq) for seq, a in enumerate(agents, 1)]
        columns = list(rows[0])
        conn.executemany(f"INSERT INTO agents ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})",
                         rows)
    store.close()
    return Registry(path, count, all_realms, time.perf_counter() - started)


def unindexed_copy(source: Path, target: Path) -> None:
    """``source`` copied to ``target`` (through SQLite's backup, WAL included), without the registry's indexes."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
        for index in REGISTRY_INDEXES:
            dst.execute(f"DROP INDEX {index}")
    src.close()
    dst.close()


# --- the cases ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    label: str
    filters: dict[str, Any] = field(default_factory=dict)  # AgentFilter's fields, realm given by its index
    page: int = 1
    page_size: int = PAGE_SIZE

    def agent_filter(self, registry: Registry, online_since: datetime) -> AgentFilter:
        fields = dict(self.filters)
        if "realm" in fields:
            fields["realm_ids"] = frozenset({registry.realms[fields.pop("realm")].id})
        return AgentFilter(online_since=online_since, **fields)

    def query(self, registry: Registry) -> dict[str, Any]:
        """The same case as ``GET /agents`` query parameters."""
        f = self.filters
        params: dict[str, Any] = {}
        if "q" in f:
            params["q"] = f["q"]
        if "status" in f:
            params["status"] = f["status"].value
        if "online" in f:
            params["online"] = "true" if f["online"] else "false"
        if "realm" in f:
            params["realm"] = registry.realms[f["realm"]].slug
        if "capabilities" in f:
            params["capabilities"] = ",".join(f["capabilities"])
        if "owner_id" in f:
            params["ownerId"] = f["owner_id"]
        if "sort_by" in f:
            params["sortBy"] = f["sort_by"].value
            params["sortDir"] = "desc" if f.get("descending") else "asc"
        if self.page != 1:
            params["page"] = self.page
        if self.page_size != PAGE_SIZE:
            params["pageSize"] = self.page_size
        return params


PLAIN = Case("no filter, page 1")
CASES: tuple[Case, ...] = (
    PLAIN,
    Case("no filter, page 500 of 100", page=500, page_size=100),
    *(Case(f"sortBy={sort.value} {'desc' if descending else 'asc'}", {"sort_by": sort, "descending": descending})
      for sort in AgentSort for descending in (False, True)),
    Case("q, few matches (000421)", {"q": "000421"}),
    Case("q, many matches (SALES)", {"q": "SALES"}),
    Case("q, 2 characters (ot)", {"q": "ot"}),
    Case("status=Revoked", {"status": AgentStatus.REVOKED}),
    Case("status=Active, sortBy=name asc", {"status": AgentStatus.ACTIVE, "sort_by": AgentSort.NAME}),
    Case("online=true", {"online": True}),
    Case("online=false", {"online": False}),
    Case("realm", {"realm": 3}),
    Case("capabilities: 1", {"capabilities": ("api_call",)}),
    Case("capabilities: 3", {"capabilities": ("api_call", "file_access", "mail_send")}),
    Case("ownerId", {"owner_id": "team-042"}),
    Case("realm + 2 caps + online, lastSeen desc",
         {"realm": 3, "capabilities": ("api_call", "code_execution"), "online": True,
          "sort_by": AgentSort.LAST_SEEN, "descending": True}),
)


# --- timing -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timing:
    median_ms: float
    p95_ms: float
    runs: int


@dataclass(frozen=True)
class Runs:
    """How many times a case is timed: ``repeat``, or fewer (but ``least``) once ``budget_s`` is spent."""

    repeat: int
    budget_s: float
    least: int


def timed(call: Callable[[], T], runs: Runs) -> tuple[Timing, T]:
    """Median and p95 of ``call`` over ``runs``, and what its first call (not timed) answered."""
    first = call()  # warm: the pages a query reads are in the cache, as on a daemon in use
    samples: list[float] = []
    deadline = time.perf_counter() + runs.budget_s
    while len(samples) < runs.repeat and (len(samples) < runs.least or time.perf_counter() < deadline):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return Timing(statistics.median(samples), p95, len(samples)), first


def answer(page: AgentPage) -> tuple[list[str], int, int]:
    return [a.id for a in page.items], page.total_count, page.online_count


def query_plan(store: SqliteStore, filters: AgentFilter, case: Case) -> tuple[str, str]:
    """``EXPLAIN QUERY PLAN`` of the two queries of ``list_agents``: the counts and the page."""
    bits = store._capability_bits(store._conn, filters.capabilities)
    where, params, order = agents_query(filters, bits)
    limits = [case.page_size, (case.page - 1) * case.page_size]
    try:
        from vectra.store.agent_rows import agents_count_query, agents_page_query
    except ImportError:  # the store before this benchmark's changes: one count, the page joined before its LIMIT
        counts = (f"SELECT count(*), coalesce(sum(a.last_seen_at >= ?), 0) FROM agents a{where}",
                  [stamp(filters.online_since), *params])
        page = (f"{AGENT_SELECT}{where}{order} LIMIT ? OFFSET ?", [*params, *limits])
    else:
        counts = agents_count_query(filters, bits)
        matches = store._conn.execute(*counts).fetchone()[0]
        page = (agents_page_query(where, order, matches), [*params, *limits])
    return (_plan(store._conn.execute(f"EXPLAIN QUERY PLAN {counts[0]}", counts[1]).fetchall()),
            _plan(store._conn.execute(f"EXPLAIN QUERY PLAN {page[0]}", page[1]).fetchall()))


def _plan(rows: list[tuple]) -> str:
    """The plan's steps, shortened; of a page chosen in a subquery, that subquery's steps alone (the join of its
    rows to their realms and their sort after it are the same for every case)."""
    routines = [r[0] for r in rows if str(r[-1]).startswith("CO-ROUTINE")]
    if routines:
        kept = set(routines)
        for r in rows:  # in order: a step's parent is listed before it
            if r[1] in kept:
                kept.add(r[0])
        rows = [r for r in rows if r[1] in kept]
    return "; ".join(str(r[-1]).replace("SEARCH ", "").replace(" USING ", " ").replace("COVERING INDEX", "covering")
                     for r in rows if "realms" not in str(r[-1]))


def full_scan(plan: str) -> bool:
    return any(step.strip() in ("SCAN a", "SCAN agents") for step in plan.split(";"))


# --- store level --------------------------------------------------------------------------------------------------
@dataclass
class StoreResults:
    timings: dict[str, Timing] = field(default_factory=dict)
    answers: dict[str, tuple[list[str], int, int]] = field(default_factory=dict)
    plans: dict[str, tuple[str, str]] = field(default_factory=dict)


def measure_store(registry: Registry, path: Path, cases: tuple[Case, ...], runs: Runs,
                  plans: bool = False) -> StoreResults:
    results = StoreResults()
    store = SqliteStore(path)
    try:
        for case in cases:
            filters = case.agent_filter(registry, datetime.now(UTC) - ONLINE_WINDOW)
            results.timings[case.label], first = timed(
                lambda f=filters, c=case: store.list_agents(f, c.page, c.page_size), runs)
            results.answers[case.label] = answer(first)
            if plans:
                results.plans[case.label] = query_plan(store, filters, case)
    finally:
        store.close()
    return results


# --- HTTP ---------------------------------------------------------------------------------------------------------
@contextmanager
def daemon(data_dir: Path) -> Iterator[Daemon]:
    """The real daemon (pinned to one CPU, as in the proxy benchmark) on ``data_dir``'s populated database."""
    env = {"VECTRA_ONLINE_WINDOW_SECONDS": str(int(ONLINE_WINDOW.total_seconds()))}
    server = Daemon(data_dir, env=env, command=pinned(SERVE, PROXY_CPU))
    server.start(timeout=60)
    try:
        yield server
    finally:
        server.stop()


class Client:
    """One kept-alive HTTP/1.1 connection to the daemon, with the operator token."""

    def __init__(self, server: Daemon) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=60)
        self.headers = {"Authorization": f"Bearer {server.admin_token}"}

    def get(self, params: dict[str, Any]) -> dict[str, Any]:
        self.connection.request("GET", "/agents" + ("?" + urlencode(params) if params else ""), headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET /agents?{urlencode(params)}: {response.status} {body[:300]!r}")
        return json.loads(body)

    def close(self) -> None:
        self.connection.close()


def filters_wired(client: Client, registry: Registry) -> bool:
    """Whether this build's ``GET /agents`` applies the filters (a build without them ignores the parameters)."""
    everything = client.get({"pageSize": 1})["totalCount"]
    return client.get({"pageSize": 1, "status": "Revoked"})["totalCount"] != everything


def measure_http(registry: Registry, cases: tuple[Case, ...], runs: Runs) -> tuple[dict[str, Timing], list[str], bool]:
    """Timings per case over HTTP, the cases whose answer differs from the store's, and whether filters work."""
    timings: dict[str, Timing] = {}
    mismatches: list[str] = []
    with daemon(registry.path.parent) as server, contextlib.closing(SqliteStore(registry.path)) as store:
        client = Client(server)
        try:
            wired = filters_wired(client, registry)
            for case in cases:
                if case.filters and not wired:
                    continue
                params = case.query(registry)
                timings[case.label], got = timed(lambda params=params: client.get(params), runs)
                filters = case.agent_filter(registry, datetime.now(UTC) - ONLINE_WINDOW)
                ids, total, online = answer(store.list_agents(filters, case.page, case.page_size))
                if [a["id"] for a in got["items"]] != ids or got["totalCount"] != total or (
                        got.get("onlineCount", online) != online):
                    mismatches.append(case.label)
        finally:
            client.close()
    return timings, mismatches, wired


# --- report -------------------------------------------------------------------------------------------------------
def _ms(t: Timing | None) -> str:
    return f"{t.median_ms:9.2f}" if t else f"{'-':>9}"


def _p95(t: Timing | None) -> str:
    return f"{t.p95_ms:9.2f}" if t else f"{'-':>9}"


def _ratio(a: Timing | None, b: Timing | None) -> str:
    return f"{a.median_ms / b.median_ms:8.2f}x" if a and b else f"{'-':>9}"


def report_store(small: StoreResults, big: StoreResults, bare: StoreResults, count: int) -> int:
    base = small.timings[PLAIN.label]
    print(f"\nstore: SqliteStore.list_agents, ms (median over the runs; p95); reference: no filter, page 1 at "
          f"{SIZES[0]:,} agents = {base.median_ms:.2f} ms")
    print(f"{'case':<42}{'matches':>8}{'1k med':>9}{'100k med':>9}{'100k p95':>9}{'no-idx':>9}"
          f"{'idx/noidx':>10}{'vs 1k':>9}")
    slow = 0
    for case in CASES:
        label = case.label
        t, u = big.timings[label], bare.timings.get(label)
        slow += t.median_ms > SLOW_MS
        print(f"{label:<42}{big.answers[label][1]:>8,}{_ms(small.timings[label])}{_ms(t)}{_p95(t)}{_ms(u)}"
              f"{_ratio(t, u):>10}{_ratio(t, base)}{'  SLOW' if t.median_ms > SLOW_MS else ''}")
    print(f"runs per case: {min(t.runs for t in big.timings.values())}-{max(t.runs for t in big.timings.values())}"
          f" (indexed), {min(t.runs for t in bare.timings.values())}-{max(t.runs for t in bare.timings.values())}"
          f" (unindexed); SLOW: median > {SLOW_MS:.0f} ms at {count:,} agents")
    return slow


def report_plans(big: StoreResults) -> None:
    print(f"\nquery plans at {SIZES[-1]:,} agents (counts | page); SCAN a = a full scan of agents")
    for case in CASES:
        counts, rows = big.plans[case.label]
        mark = "  <- full scan" if full_scan(counts) or full_scan(rows) else ""
        print(f"  {case.label:<42}{counts} | {rows}{mark}")


def report_http(small: dict[str, Timing], big: dict[str, Timing], store: StoreResults, wired: bool) -> None:
    base = small.get(PLAIN.label)
    print(f"\nHTTP: GET /agents on the daemon, ms (median; p95); reference: GET /agents at {SIZES[0]:,} agents = "
          f"{base.median_ms:.2f} ms" if base else "")
    if not wired:
        print("  (this build's GET /agents ignores the filters: only the unfiltered cases are measured)")
    print(f"{'case':<42}{'1k med':>9}{'100k med':>9}{'100k p95':>9}{'store':>9}{'HTTP-store':>11}{'vs 1k':>9}")
    for case in CASES:
        label = case.label
        t = big.get(label)
        if t is None:
            continue
        s = store.timings[label]
        print(f"{label:<42}{_ms(small.get(label))}{_ms(t)}{_p95(t)}{_ms(s)}"
              f"{t.median_ms - s.median_ms:>11.2f}{_ratio(t, base)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs per case (a smoke run)")
    parser.add_argument("--store-only", action="store_true", help="skip the daemon (HTTP) measurements")
    args, _ = parser.parse_known_args()
    runs = Runs(10, 0.25, 3) if args.quick else Runs(50, 3.0, 5)
    bare = Runs(5, 0.1, 3) if args.quick else Runs(20, 2.0, 5)  # the unindexed copy: slow, its figures steadier
    print(f"SQLite {sqlite3.sqlite_version}; {runs.repeat} runs per case (fewer, at least {runs.least}, past "
          f"{runs.budget_s} s)", flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vectra-bench-agents-") as folder:
        tmp = Path(folder)
        registries = {}
        for count in SIZES:
            (tmp / str(count)).mkdir()
            registries[count] = populate(tmp / str(count) / "vectra.db", count)
            print(f"populated {count:,} agents in {registries[count].populated_s:.1f} s", flush=True)
        small, big = registries[SIZES[0]], registries[SIZES[-1]]
        bare_path = tmp / "unindexed.db"
        unindexed_copy(big.path, bare_path)
        small_store = measure_store(small, small.path, CASES, runs)
        big_store = measure_store(big, big.path, CASES, runs, plans=True)
        bare_store = measure_store(big, bare_path, CASES, bare)
        differ = [c.label for c in CASES if big_store.answers[c.label] != bare_store.answers[c.label]]
        slow = report_store(small_store, big_store, bare_store, big.count)
        report_plans(big_store)
        if differ:
            print(f"\nANSWERS DIFFER WITH AND WITHOUT THE INDEXES: {', '.join(differ)}")
        if args.store_only:
            return 1 if differ else 0
        # quick: at 1,000 agents only the reference (the plain first page)
        small_http, small_mismatch, _ = measure_http(small, (PLAIN,) if args.quick else CASES, runs)
        big_http, big_mismatch, wired = measure_http(big, CASES, runs)
        report_http(small_http, big_http, big_store, wired)
        if small_mismatch or big_mismatch:
            print(f"\nHTTP ANSWERS DIFFER FROM THE STORE'S: {', '.join(sorted(set(small_mismatch + big_mismatch)))}")
        print(f"\n{slow} case(s) slower than {SLOW_MS:.0f} ms at store level; {time.perf_counter() - started:.0f} s "
              f"in all")
    return 1 if differ or small_mismatch or big_mismatch else 0


if __name__ == "__main__":
    raise SystemExit(main())
