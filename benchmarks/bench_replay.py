"""Policy replay: 100,000 recorded calls judged again by a stricter candidate policy, read from a real SQLite store.

Run: ``.venv/bin/python benchmarks/bench_replay.py [--quick]``. Builds a fresh store (the daemon's own settings)
with 100,000 ``proxy.request`` records of one agent over a day, appended through the store's append path as
sealed records of the hash chain, each with the ``details`` the proxy writes (``effect``; ``request`` and
``agent`` by the proxy's own ``request_view``/``agent_view``: redacted headers, a body kept up to 16 KiB with its
encoding, size and truncation; ``mcp`` for JSON-RPC bodies): a seeded mix of reads, JSON writes, MCP
``tools/call``/``tools/list`` bodies and batches, binary uploads (base64) and a few bodies past the 16 KiB kept;
each record's effect is what the live policy decided about the whole call, with a risk score drawn per call.
1,000 of the 100,000 are calls refused before any decision (rate limited: skipped), and 5,000 records of other
agents are interleaved (outside the scope: the store reads around them).

Then replays the agent's day (``ReplayScope(agent_id, from, to)``: the 100,000 records) with a stricter
candidate: through the ``replay`` service (agent lookup, compile, worker thread, store), and with
``replay_records`` over the store's ``iter_audit_matching`` with the compiled evaluator and with its pure-Python
twin. Each is timed ``--rounds`` times (default 3, interleaved; best kept), wall clock and CPU. The split is
measured by streaming the same records without judging them: reading alone (SQL, JSON, ``AuditRecord``), then
reading and ``recorded_call`` (the facts); judging is the whole less both (CPU seconds, steadier than wall clock on a
shared machine). Prints seconds, records/s, twin / compiled (whole and judging alone) and the split. The
compiled evaluator, the twin and the service must give the same report, and the live policy replayed must change
nothing (exit code 1 otherwise).
"""

# no `from __future__ import annotations`: run.py loads this file as a module it doesn't put in sys.modules
import argparse
import asyncio
import dataclasses
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policy_core import CompiledPolicy, compile_policy, mcp_call
from vectra.config import Settings
from vectra.domain.audit import GENESIS_HASH, AuditEntry, AuditFilter, SealedRecord, record_time, seal
from vectra.domain.models import Agent, AgentStatus, Principal, Role
from vectra.services.context import ServiceContext
from vectra.services.decide import AgentFacts, OutboundRequest, judge, request_facts
from vectra.services.keyring import Keyring
from vectra.services.policy_replay import (
    MAX_RECORDS,
    ReplayCandidate,
    ReplayReport,
    ReplayScope,
    replay,
    replay_records,
)
from vectra.services.recorded_call import agent_view, recorded_call, request_view
from vectra.store import SqliteStore

SEED = 20261201
RECORDS = 100_000  # the agent's records of the day: the scope, at the most one replay reads
UNDECIDED = 1_000  # of which calls refused before any decision (rate limited): skipped
OTHERS = 5_000  # records of other agents, outside the scope
KEPT = 16_384  # VECTRA_AUDIT_BODY_BYTES
BATCH = 1_000
AGENT_ID = "7d444840-9dc0-41a2-bd5a-5d2c4b8d6e01"
DAY = datetime(2026, 11, 30, tzinfo=UTC)
ADMIN = Principal(subject="operator", roles=frozenset({Role.ADMIN}))
TOOLS = ("search_docs", "read_file", "create_issue", "list_repos", "send_email", "delete_repo", "run_query")


def condition(field: str, operator: str, value: Any) -> dict[str, Any]:
    return {"field": field, "operator": operator, "value": value}


#: What the agent's calls were decided by: reads of its APIs allowed, refunds reviewed, deletes denied.
LIVE = {"name": "live", "default": "Deny", "rules": [
    {"name": "block-delete", "priority": 100, "effect": "Deny", "reason": "nothing is deleted",
     "conditions": [condition("input.method", "eq", "DELETE")]},
    {"name": "review-refunds", "priority": 90, "effect": "Hitl",
     "conditions": [condition("input.method", "eq", "POST"), condition("input.host", "eq", "api.stripe.com"),
                    condition("input.path", "startsWith", "/v1/refunds")]},
    {"name": "no-admin", "priority": 80, "effect": "Deny",
     "conditions": [condition("input.path", "startsWith", "/admin")]},
    {"name": "reads", "priority": 50, "effect": "Allow",
     "conditions": [condition("input.method", "in", ["GET", "HEAD"])]},
    {"name": "stripe-writes", "priority": 40, "effect": "Allow",
     "conditions": [condition("input.host", "eq", "api.stripe.com"), condition("input.method", "in", ["POST", "PUT"])]},
    {"name": "github-writes", "priority": 40, "effect": "Allow",
     "conditions": [condition("input.host", "eq", "api.github.com"),
                    condition("input.method", "in", ["POST", "PATCH"])]},
    {"name": "mcp", "priority": 30, "effect": "Allow",
     "conditions": [condition("input.host", "eq", "mcp.internal.example.com"),
                    condition("input.method", "eq", "POST")]},
    {"name": "uploads", "priority": 30, "effect": "Allow",
     "conditions": [condition("input.host", "eq", "files.example.com"), condition("input.path", "eq", "/upload")]},
]}

#: The live rules and more: destructive MCP tools denied, mail and large refunds reviewed, JSON-RPC batches and
#: night-time writes denied, uploads over 1 MB denied, a debug header refused, a lower risk threshold.
STRICTER = {"name": "stricter", "default": "Deny", "hitlThreshold": 0.6, "rules": [
    {"name": "mcp-destructive", "priority": 200, "effect": "Deny", "reason": "destructive tools are off",
     "conditions": [condition("input.mcp.tool", "in", ["delete_repo", "run_query"])]},
    {"name": "mcp-mail", "priority": 190, "effect": "Hitl",
     "conditions": [condition("input.mcp.tool", "eq", "send_email")]},
    {"name": "mcp-batches", "priority": 185, "effect": "Deny",
     "conditions": [condition("input.mcp.batch", "gt", 0)]},
    {"name": "large-refunds", "priority": 180, "effect": "Hitl",
     "conditions": [condition("input.json.amount", "gt", 50_000)]},
    {"name": "night-writes", "priority": 170, "effect": "Deny",
     "conditions": [condition("input.method", "in", ["POST", "PUT", "PATCH"]), condition("input.time.hour", "lt", 5)]},
    {"name": "big-uploads", "priority": 160, "effect": "Deny",
     "conditions": [condition("input.path", "eq", "/upload"), condition("input.bodySize", "gt", 3_000)]},
    {"name": "no-debug", "priority": 150, "effect": "Deny",
     "conditions": [condition("input.headers.x-debug", "exists", True)]},
    *LIVE["rules"],
]}


# --- the records ----------------------------------------------------------------------------------------------
def json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def make_call(rng: random.Random, n: int) -> tuple[str, str, list[tuple[str, str]], bytes | None]:
    """One call: method, url, the headers the upstream would get, the body."""
    headers = [("accept", "application/json"), ("user-agent", "billing-bot/2.3 (+aiohttp)"),
               ("authorization", f"Bearer sk_live_{rng.getrandbits(96):024x}"), ("x-request-id", f"req-{n:08d}")]
    if rng.random() < 0.2:
        headers.append(("x-api-key", f"key-{rng.getrandbits(64):016x}"))
    if rng.random() < 0.01:
        headers.append(("x-debug", "1"))
    roll = rng.random()
    if roll < 0.50:
        host = rng.choice(("api.stripe.com", "api.github.com", "billing.example.com"))
        path = rng.choice((f"/v1/customers/cus_{rng.getrandbits(40):010x}", f"/v1/invoices?limit={rng.randint(1, 100)}",
                           f"/repos/acme/site/issues/{rng.randint(1, 5000)}", "/admin/users"))
        return rng.choice(("GET", "GET", "GET", "HEAD")), f"https://{host}{path}", headers, None
    headers.append(("content-type", "application/json"))
    if roll < 0.62:
        body = {"charge": f"ch_{rng.getrandbits(48):012x}", "amount": rng.choice((500, 1_200, 9_900, 75_000)),
                "reason": rng.choice(("duplicate", "fraudulent", "requested_by_customer"))}
        return "POST", "https://api.stripe.com/v1/refunds", headers, json_bytes(body)
    if roll < 0.70:
        body = {"email": f"user{n}@example.com", "metadata": {"plan": rng.choice(("pro", "team")), "seat": n % 50}}
        return "PUT", f"https://api.stripe.com/v1/customers/cus_{n:010x}", headers, json_bytes(body)
    if roll < 0.74:
        body = {"title": f"Flaky test #{n}", "body": "It fails on CI. " * rng.randint(1, 40), "labels": ["ci"]}
        return rng.choice(("POST", "PATCH")), "https://api.github.com/repos/acme/site/issues", headers, json_bytes(body)
    if roll < 0.90:
        return "POST", "https://mcp.internal.example.com/mcp", headers, json_bytes(mcp_body(rng, n))
    if roll < 0.93:
        return "DELETE", f"https://api.github.com/repos/acme/tmp-{n}", headers, None
    if roll < 0.99:
        headers[-1] = ("content-type", "application/octet-stream")
        return "POST", "https://files.example.com/upload", headers, rng.randbytes(rng.randint(512, 4096))
    # an export of 20 to 40 KB: more than the 16 KiB the record keeps
    rows = [{"id": i, "customer": f"cus_{i:010x}", "total": i * 7} for i in range(rng.randint(400, 800))]
    return "POST", "https://api.stripe.com/v1/exports", headers, json_bytes({"rows": rows, "amount": 60_000})


def mcp_body(rng: random.Random, n: int) -> Any:
    roll = rng.random()
    if roll < 0.1:
        return {"jsonrpc": "2.0", "id": n, "method": "tools/list"}
    if roll < 0.13:  # a JSON-RPC batch
        return [{"jsonrpc": "2.0", "id": n + i, "method": "tools/call",
                 "params": {"name": rng.choice(TOOLS), "arguments": {}}} for i in range(3)]
    tool = rng.choices(TOOLS, (30, 30, 10, 10, 8, 2, 10))[0]
    return {"jsonrpc": "2.0", "id": n, "method": "tools/call",
            "params": {"name": tool, "arguments": {"query": f"invoice {n}", "path": f"/docs/{n % 300}.md"}}}


def mcp_details(body: bytes | None) -> dict[str, Any]:
    """``details.mcp`` as the proxy records it."""
    call = mcp_call(body)
    return {} if call is None else {"mcp": {"method": call.method, "tool": call.tool}}


def governed_entry(rng: random.Random, n: int, agent: AgentFacts, live: CompiledPolicy, settings: Settings,
                   moment: datetime) -> AuditEntry:
    """A ``proxy.request`` record as the proxy writes it, its effect what the live policy decided about the whole
    call."""
    method, url, headers, body = make_call(rng, n)
    risk = round(min(1.0, rng.betavariate(2, 7) + (0.5 if rng.random() < 0.03 else 0.0)), 4)
    trust = agent.trust_score
    seen = request_facts(agent, OutboundRequest(method, url, headers, body), moment.timestamp())
    seen["risk"] = {"score": risk}
    verdict = judge(settings, live, seen, risk, trust)
    details = {"policyName": "live", "policyVersion": 3, "effect": verdict.effect,
               "request": request_view(headers, body, KEPT), "agent": agent_view(agent), **mcp_details(body)}
    return AuditEntry(actor=AGENT_ID, source="proxy", action="proxy.request", agent_id=AGENT_ID, method=method,
                      url=url, decision=verdict.effect, rule=verdict.rule, reason=verdict.reason, risk=risk,
                      trust=trust, upstream_status=200 if verdict.effect == "Allow" else None,
                      latency_ms=round(rng.uniform(2, 80), 3), details=details)


def other_entry(rng: random.Random) -> AuditEntry:
    """Another agent's call: outside the scope."""
    other = f"00000000-0000-4000-8000-{rng.randrange(50):012d}"
    return AuditEntry(actor=other, source="proxy", action="proxy.request", agent_id=other, method="GET",
                      url="https://api.github.com/user", decision="Allow", risk=0.1, trust=0.5,
                      details={"effect": "Allow", "request": {"headers": [], "body": None}})


def undecided_entry() -> AuditEntry:
    """The agent's call refused before any decision: in the scope, skipped."""
    return AuditEntry(actor=AGENT_ID, source="proxy", action="proxy.request", agent_id=AGENT_ID, method="GET",
                      url="https://api.github.com/user", decision="RateLimited", trust=0.5,
                      reason="rate limit of 100 requests per 60 s reached")


def populate(path: Path, settings: Settings) -> tuple[SqliteStore, float]:
    """The store at ``path`` with the day's records, appended a batch at a time through the store's append."""
    rng = random.Random(SEED)
    started = time.perf_counter()
    store = SqliteStore(path)
    live = compile_policy(LIVE)
    agent = AgentFacts(AGENT_ID, "billing-bot", "team-finance", 0.62, ("agent",), "live",
                       capabilities=("api_call", "mail_send"), realm="finance")
    total = RECORDS + OTHERS
    kinds = ["governed"] * (RECORDS - UNDECIDED) + ["undecided"] * UNDECIDED + ["other"] * OTHERS
    rng.shuffle(kinds)
    for start in range(0, total, BATCH):
        entries = []
        for i in range(start, min(total, start + BATCH)):
            moment = DAY + timedelta(seconds=i * 86_000 / total)
            if kinds[i] == "governed":
                trust = min(0.95, max(0.3, agent.trust_score + rng.uniform(-0.004, 0.004)))
                agent = dataclasses.replace(agent, trust_score=round(trust, 4))
                entries.append((governed_entry(rng, i, agent, live, settings, moment), moment))
            else:
                entries.append((undecided_entry() if kinds[i] == "undecided" else other_entry(rng), moment))

        def chain(head: tuple[int, str] | None, entries: list = entries) -> list[SealedRecord]:
            last_id, prev_hash = head or (0, GENESIS_HASH)
            sealed = []
            for offset, (entry, moment) in enumerate(entries, 1):
                sealed.append(seal(entry, record_id=last_id + offset, time=record_time(moment), prev_hash=prev_hash))
                prev_hash = sealed[-1].record.hash
            return sealed

        store.append_audit(chain)
    store.insert_agent(Agent(id=AGENT_ID, name="billing-bot", owner_id="team-finance", status=AgentStatus.ACTIVE,
                             policy_name="live", trust_score=agent.trust_score, roles=(Role.AGENT,), created_at=DAY,
                             last_seen_at=None, secret_hash=b"", capabilities=("api_call", "mail_send")))
    return store, time.perf_counter() - started


# --- the measurements -----------------------------------------------------------------------------------------
SCOPE = ReplayScope(agent_id=AGENT_ID, time_from=DAY.isoformat(), time_to=(DAY + timedelta(days=1)).isoformat())
FILTERS = AuditFilter(agent_id=AGENT_ID, time_from=record_time(DAY), time_to=record_time(DAY + timedelta(days=1)))


class Figures:
    """The least wall-clock and CPU seconds each measurement took over the rounds."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def time(self, label: str, call: Callable[[], Any]) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        answer = call()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        self.wall[label] = min(self.wall.get(label, wall), wall)
        self.cpu[label] = min(self.cpu.get(label, cpu), cpu)
        return answer


def summary(report: ReplayReport) -> dict[str, Any]:
    moves = Counter(f"{c.original_decision}->{c.replayed_decision}" for c in report.changes)
    return {"replayed": report.total_replayed, "consistent": report.consistent, "changed": report.changed,
            "incomplete": report.incomplete, "moves": dict(sorted(moves.items())),
            "changes": [(c.audit_id, c.replayed_decision, c.rule) for c in report.changes]}


def read(store: SqliteStore) -> int:
    """Read the scope's records and drop them: the store's part (SQL, JSON, records)."""
    return sum(1 for _ in store.iter_audit_matching(FILTERS, MAX_RECORDS + 1))


def facts(store: SqliteStore) -> int:
    """Read them and turn each into the facts a policy sees: everything but the judging."""
    return sum(recorded_call(record) is not None for record in store.iter_audit_matching(FILTERS, MAX_RECORDS + 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of each measurement")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of each measurement (default 3)")
    args, _ = parser.parse_known_args()
    rounds = args.rounds or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="vectra-bench-replay-") as folder:
        tmp = Path(folder)
        settings = Settings(data_dir=tmp)
        store, populated = populate(tmp / "vectra.db", settings)
        size = (tmp / "vectra.db").stat().st_size + sum(p.stat().st_size for p in tmp.glob("vectra.db-*"))
        print(f"SQLite {sqlite3.sqlite_version}; populated {RECORDS + OTHERS:,} records ({RECORDS:,} of the "
              f"agent's, {UNDECIDED:,} of them of no decision) in {populated:.1f} s, {size / 2**20:.0f} MiB; "
              f"{rounds} round(s)", flush=True)
        ctx = ServiceContext(settings=settings, store=store, keyring=Keyring("k", {"k": b"k" * 32}),
                             admin_token="t" * 32, digest_key=b"d" * 32)
        candidates = {"compiled": compile_policy(STRICTER, implementation="cython"),
                      "twin": compile_policy(STRICTER, implementation="python")}
        figures = Figures()
        reports: dict[str, ReplayReport] = {}
        try:
            for _ in range(rounds):  # interleaved, so that load on the machine weighs on every measurement alike
                # the service compiles the inline document with the evaluator chosen at import (the compiled one)
                reports["service"] = figures.time("service", lambda: asyncio.run(
                    replay(ctx, ADMIN, SCOPE, ReplayCandidate(document=STRICTER))))
                for name, compiled in candidates.items():
                    reports[name] = figures.time(name, lambda c=compiled: replay_records(
                        settings, c, store.iter_audit_matching(FILTERS, MAX_RECORDS + 1)))
                count = figures.time("read", lambda: read(store))
                replayed = figures.time("facts", lambda: facts(store))
            unchanged = replay_records(settings, compile_policy(LIVE), store.iter_audit_matching(FILTERS, RECORDS))
        finally:
            store.close()
    report = reports["compiled"]
    print(f"\nreplay of the agent's day by {STRICTER['name']!r} ({len(STRICTER['rules'])} rules, hitlThreshold "
          f"{STRICTER['hitlThreshold']}): {count:,} records read, {report.total_replayed:,} replayed, "
          f"{report.consistent:,} consistent, {report.changed:,} changed {summary(report)['moves']}, "
          f"{report.incomplete:,} incomplete")
    wall, cpu = figures.wall, figures.cpu
    print(f"\n{'best of the rounds':<40}{'wall s':>9}{'CPU s':>9}{'records/s':>11}{'vs compiled':>13}")
    for label, key in (("replay service (compiled)", "service"), ("replay_records, compiled", "compiled"),
                       ("replay_records, twin", "twin")):
        print(f"{label:<40}{wall[key]:>9.2f}{cpu[key]:>9.2f}{count / wall[key]:>11,.0f}"
              f"{wall[key] / wall['compiled']:>12.2f}x")
    print("\nsplit of replay_records (CPU s; facts = read and recorded_call() less read; judge = the whole less both)")
    for name in candidates:
        judging = cpu[name] - cpu["facts"]
        print(f"  {name:<9} read {cpu['read']:5.2f} ({cpu['read'] / cpu[name]:4.0%})   facts "
              f"{cpu['facts'] - cpu['read']:5.2f} ({(cpu['facts'] - cpu['read']) / cpu[name]:4.0%})   judge "
              f"{judging:5.2f} ({judging / cpu[name]:4.0%}, {judging / replayed * 1e6:5.1f} µs a call)")
    print(f"  twin / compiled, judging alone: {(cpu['twin'] - cpu['facts']) / (cpu['compiled'] - cpu['facts']):.2f}x")
    failed = 0
    if summary(reports["twin"]) != summary(report) or summary(reports["service"]) != summary(report):
        print("THE COMPILED EVALUATOR, THE TWIN AND THE SERVICE GIVE DIFFERENT REPORTS")
        failed = 1
    if unchanged.changed or unchanged.total_replayed != report.total_replayed:
        print(f"THE LIVE POLICY REPLAYED CHANGES {unchanged.changed} DECISIONS")
        failed = 1
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
