"""Audit append benchmark: group commit against one transaction per record, at 1 and 64 concurrent writers.

Run: ``.venv/bin/python benchmarks/bench_audit.py [--quick]``. Each run is a fresh SQLite file (WAL, the
store's own settings) and the daemon's ``AuditLog``; "one transaction per record" is the same writer with
batches of one. Every append is awaited until its record is committed, as the proxy awaits it. Prints
appends per second, transactions, records per transaction, and the ratio group / per-record; then µs per
canonicalisation (JCS) of a typical proxy record with Vectra's fast path and with the ``rfc8785`` package.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import timeit
from pathlib import Path

import rfc8785

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vectra.domain.audit import GENESIS_HASH, AuditEntry, AuditSource, canonical_json, seal
from vectra.services.audit_log import MAX_BATCH, AuditLog
from vectra.store import SqliteStore

WRITERS = (1, 64)


def entry(writer: int, i: int) -> AuditEntry:
    return AuditEntry(
        actor=f"agent-{writer}", source="proxy", action="proxy.decision", agent_id=f"agent-{writer}",
        method="GET", url=f"https://api.example.com/v1/items/{i}?page=2", decision="Allow", rule="allow-reads",
        reason="reads are allowed", risk=0.12, trust=0.55, upstream_status=200, latency_ms=1.7,
    )


async def measure(writers: int, total: int, max_batch: int) -> tuple[float, int]:
    """Appends per second and transactions for ``total`` appends spread over ``writers`` tasks."""
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "bench.db")
        log = AuditLog(store, max_batch=max_batch)
        await log.start()
        per_writer = max(1, total // writers)

        async def writer(w: int) -> None:
            for i in range(per_writer):
                await log.append(entry(w, i))

        started = time.perf_counter()
        await asyncio.gather(*(writer(w) for w in range(writers)))
        elapsed = time.perf_counter() - started
        await log.stop()
        store.close()
    return writers * per_writer / elapsed, log.commits


def canonicalisation_us(repeat: int) -> tuple[float, float]:
    """µs per canonicalisation of a typical proxy record (every field set, two details): fast path, rfc8785."""
    record = AuditEntry(
        actor="agent-7", source=AuditSource.PROXY, action="proxy.request", agent_id="agent-7", method="GET",
        url="https://api.example.com/v1/items/42?page=2", decision="Allow", rule="allow-reads",
        reason="reads are allowed", risk=0.12, trust=0.55, upstream_status=200, latency_ms=1.734,
        details={"policyName": "billing", "policyVersion": 3},
    )
    document = seal(record, record_id=41, time="2026-01-31T12:00:00.000000Z", prev_hash=GENESIS_HASH).record.document()
    assert canonical_json(document) == rfc8785.dumps(document)
    best = {
        name: min(timeit.repeat(lambda f=f: f(document), number=repeat, repeat=5)) / repeat * 1e6
        for name, f in (("fast", canonical_json), ("rfc8785", rfc8785.dumps))
    }
    return best["fast"], best["rfc8785"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer appends (a smoke run)")
    args = parser.parse_args()
    total = 640 if args.quick else 6400

    print(f"{'writers':>7}  {'mode':<22}{'appends/s':>11}{'transactions':>14}{'records/tx':>12}")
    ratios = []
    for writers in WRITERS:
        rates = {}
        for mode, max_batch in (("group commit", MAX_BATCH), ("one tx per record", 1)):
            rate, commits = asyncio.run(measure(writers, total, max_batch))
            rates[mode] = rate
            count = writers * max(1, total // writers)
            print(f"{writers:>7}  {mode:<22}{rate:>11,.0f}{commits:>14,}{count / commits:>12.1f}")
        ratios.append((writers, rates["group commit"] / rates["one tx per record"]))
    for writers, ratio in ratios:
        print(f"group commit / one tx per record at {writers} writer(s): {ratio:.2f}x")
    fast, reference = canonicalisation_us(200 if args.quick else 2000)
    print(f"canonical JSON of a proxy record: {fast:.1f} µs with the fast path, {reference:.1f} µs with rfc8785 "
          f"({reference / fast:.0f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
