"""``make soak``: the real daemon under a long mixed load, then a check that nothing was lost or miscounted.

Run: ``.venv/bin/python benchmarks/soak.py [--duration SECONDS] [--concurrency N] [--agents N] [--seed N]``
(``make soak SOAK_ARGS="--duration 1800"``; 600 s by default).

The load: agents under two policies (one with a tight rate limit) make allowed, denied and parked calls through
``/proxy`` to a local upstream (nginx, or uvicorn without it); reviewers list the pending requests and approve or
deny them in parallel (racing each other); an admin registers agents, lifts quarantines and puts a new version of
a policy during the run. Every proxied call carries a unique marker in its query string.

At the end, read back through the API: no answer was a 5xx or a transport error; every answered call has exactly
one ``proxy.request`` record, whose decision is the one the answer showed; the chain verifies and holds every
record; each agent's trust is the one its last record left; each agent's 429s are its ``RateLimited`` records;
every acknowledged approval, denial, agent and policy version is there; the daemon's RSS stayed flat. It prints
the figures (calls served, p50/p99, answers by class, RSS start/end) and exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from local_servers import upstream

from tests.e2e.daemon import Daemon, register_agent

#: After this share of the run the RSS is taken as the baseline (the caches and pools are warm by then).
WARM_SHARE = 0.2
#: RSS growth from the warm baseline to the end that still counts as flat: the larger of the two.
FLAT_RSS_BYTES = 32 * 2**20
FLAT_RSS_SHARE = 0.15

# What the load's calls ask for, with their weights: (kind, method, path, weight).
CALLS = (
    ("read", "GET", "/soak/read", 87),
    ("forbidden", "GET", "/soak/admin", 4),
    ("write", "POST", "/soak/write", 7),
    ("delete", "DELETE", "/soak/item", 2),
)
# The record's decision each class of answer stands for.
DECISION_OF_CLASS = {"200 forwarded": "Allow", "202 parked": "Hitl", "403 denied": "Deny",
                     "429 rate limited": "RateLimited", "429 review queue full": "HitlQueueFull"}


def policy(name: str, requests: int, generation: int) -> dict[str, Any]:
    """A soak policy; ``generation`` only changes a reason, so each put is a new version of the same rules."""
    return {
        "name": name,
        "description": f"The soak's agents, generation {generation}",
        "default": "Deny",
        "rateLimit": {"requests": requests, "perSeconds": 1},
        "rules": [
            {"name": "deny-admin", "priority": 100, "effect": "Deny", "reason": f"Admin is off limits ({generation})",
             "conditions": [{"field": "input.path", "operator": "startsWith", "value": "/soak/admin"}]},
            {"name": "review-writes", "priority": 50, "effect": "Hitl", "reason": "Writes need a human",
             "conditions": [{"field": "input.method", "operator": "eq", "value": "POST"}]},
            {"name": "allow-reads", "priority": 10, "effect": "Allow",
             "conditions": [{"field": "input.method", "operator": "eq", "value": "GET"},
                            {"field": "input.path", "operator": "startsWith", "value": "/soak/"}]},
        ],
    }


POLICIES = {"soak": 10_000, "soak-tight": 12}  # name -> requests a second


@dataclass
class SoakAgent:
    id: str
    secret: str
    token: str = ""


@dataclass
class Tally:
    """What the clients saw."""

    latencies: list[float] = field(default_factory=list)
    classes: Counter[str] = field(default_factory=Counter)
    answered: dict[str, str] = field(default_factory=dict)  # marker -> the decision its answer showed
    refused_quarantined: set[str] = field(default_factory=set)  # markers answered 403 for a quarantined agent
    rate_limited: Counter[str] = field(default_factory=Counter)  # agent id -> 429s that were rate limits
    approved: set[str] = field(default_factory=set)
    denied: set[str] = field(default_factory=set)
    agents: list[str] = field(default_factory=list)
    policy_versions: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    quarantines_lifted: int = 0
    rss: list[tuple[float, int]] = field(default_factory=list)


class Soak:
    def __init__(self, daemon: Daemon, upstream_port: int, args: argparse.Namespace) -> None:
        self.daemon = daemon
        self.base = f"http://127.0.0.1:{upstream_port}"
        self.args = args
        self.random = random.Random(args.seed)
        self.tally = Tally()
        self.agents: list[SoakAgent] = []
        self.sequence = 0
        self.deadline = 0.0
        limits = httpx.Limits(max_connections=args.concurrency + 8, max_keepalive_connections=args.concurrency + 8)
        self.http = httpx.AsyncClient(base_url=daemon.url, timeout=60, limits=limits)
        self.admin = {"Authorization": f"Bearer {daemon.admin_token}"}
        self.reviewer: dict[str, str] = {}

    # set-up ------------------------------------------------------------------------------------
    async def setup(self) -> None:
        for name, requests in POLICIES.items():
            await self.put_policy(name, policy(name, requests, 0))
        for index in range(self.args.agents):
            await self.add_agent(index)
        with self.daemon.admin() as admin:
            reviewer = register_agent(admin, "soak-reviewer", "team-soak", roles=["reviewer"])
        self.reviewer = {"Authorization": f"Bearer {self.daemon.token_for(reviewer)}"}

    async def put_policy(self, name: str, document: dict[str, Any]) -> None:
        answer = await self.http.put(f"/policies/{name}", json=document, headers=self.admin)
        self.expect(answer, 200, 201)
        self.tally.policy_versions[name].add(answer.json()["version"])

    async def add_agent(self, index: int) -> None:
        answer = await self.http.post("/agents", json={"name": f"soak-{index}", "ownerId": "team-soak"},
                                      headers=self.admin)
        self.expect(answer, 201)
        agent = SoakAgent(answer.json()["id"], answer.json()["clientSecret"])
        policy_name = "soak-tight" if index % 4 == 3 else "soak"
        assigned = await self.http.put(f"/agents/{agent.id}/policy", json={"policyName": policy_name},
                                       headers=self.admin)
        self.expect(assigned, 200)
        await self.refresh_token(agent)
        self.tally.agents.append(agent.id)
        self.agents.append(agent)

    async def refresh_token(self, agent: SoakAgent) -> None:
        answer = await self.http.post("/tokens", json={"agentId": agent.id, "clientSecret": agent.secret})
        self.expect(answer, 200)
        agent.token = answer.json()["token"]

    def expect(self, answer: httpx.Response, *statuses: int) -> None:
        if answer.status_code not in statuses:
            raise RuntimeError(f"{answer.request.method} {answer.request.url.path}: {answer.status_code} "
                               f"{answer.text[:300]}")

    # load ----------------------------------------------------------------------------------------
    def running(self) -> bool:
        return time.monotonic() < self.deadline

    async def caller(self) -> None:
        shapes = [(method, path) for _, method, path, _ in CALLS]
        weights = [weight for *_, weight in CALLS]
        while self.running():
            agent = self.random.choice(self.agents)
            method, path = self.random.choices(shapes, weights)[0]
            self.sequence += 1
            marker = f"{self.args.seed}-{self.sequence}"
            url = f"/proxy/{self.base}{path}?m={marker}"
            body = b'{"amount": 12}' if method == "POST" else None
            started = time.perf_counter()
            try:
                answer = await self.http.request(method, url, content=body,
                                                 headers={"Authorization": f"Bearer {agent.token}"})
            except httpx.HTTPError as exc:
                self.tally.classes[f"transport error ({type(exc).__name__})"] += 1
                continue
            self.tally.latencies.append(time.perf_counter() - started)
            await self.classify(agent, marker, answer)

    async def classify(self, agent: SoakAgent, marker: str, answer: httpx.Response) -> None:
        status = answer.status_code
        problem = answer.json() if answer.headers.get("content-type") == "application/problem+json" else {}
        if status == 401:  # the token ran out in a long soak: a new one, and the call is not counted
            self.tally.classes["401 token renewed"] += 1
            await self.refresh_token(agent)
            return
        if status == 403 and "quarantined" in problem.get("detail", ""):
            self.tally.classes["403 quarantined"] += 1
            self.tally.refused_quarantined.add(marker)
            lifted = await self.http.post(f"/agents/{agent.id}/lift-quarantine", headers=self.admin)
            self.expect(lifted, 200, 409)  # 409: another caller lifted it first
            self.tally.quarantines_lifted += lifted.status_code == 200
            return
        label = {200: "200 forwarded", 202: "202 parked", 403: "403 denied"}.get(status)
        if status == 429:
            rate_limited = "waiting for review" not in problem.get("detail", "")  # the queue-full 429
            label = "429 rate limited" if rate_limited else "429 review queue full"
            if rate_limited:
                self.tally.rate_limited[agent.id] += 1
        label = label or f"{status} unexpected"
        self.tally.classes[label] += 1
        self.tally.answered[marker] = DECISION_OF_CLASS.get(label, label)

    async def reviewer_loop(self, number: int) -> None:
        while self.running():
            listed = await self.http.get("/hitl", params={"status": "Pending", "pageSize": 50},
                                         headers=self.reviewer)
            self.expect(listed, 200)
            items = listed.json()["items"]
            if not items:
                await asyncio.sleep(0.2)
                continue
            self.random.shuffle(items)
            for item in items[:10]:
                await self.decide(item, number)

    async def decide(self, item: dict[str, Any], number: int) -> None:
        """Approve (with the digest the list showed) or deny; a 409 means the other reviewer was first."""
        pending_id = item["id"]
        if self.random.random() < 0.7:
            answer = await self.http.post(f"/hitl/{pending_id}/approve", headers=self.reviewer,
                                          json={"comment": f"reviewer {number}", "digest": item["digest"]})
            if answer.status_code < 400:
                self.tally.approved.add(pending_id)
        else:
            answer = await self.http.post(f"/hitl/{pending_id}/deny", headers=self.reviewer,
                                          json={"comment": f"reviewer {number}"})
            if answer.status_code == 200:
                self.tally.denied.add(pending_id)
        self.tally.classes[f"review {answer.status_code}"] += 1

    async def admin_loop(self) -> None:
        generation = 0
        next_policy = time.monotonic() + self.args.policy_every
        next_agent = time.monotonic() + self.args.register_every
        while self.running():
            await asyncio.sleep(0.5)
            if time.monotonic() >= next_policy:
                generation += 1
                await self.put_policy("soak", policy("soak", POLICIES["soak"], generation))
                next_policy += self.args.policy_every
            if time.monotonic() >= next_agent:
                await self.add_agent(len(self.agents))
                next_agent += self.args.register_every

    async def rss_loop(self) -> None:
        assert self.daemon.process is not None
        status = Path(f"/proc/{self.daemon.process.pid}/status")
        started = time.monotonic()
        while self.running():
            kib = next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmRSS"))
            self.tally.rss.append((time.monotonic() - started, kib * 1024))
            await asyncio.sleep(2)

    async def run(self) -> None:
        await self.setup()
        self.deadline = time.monotonic() + self.args.duration
        tasks = [self.caller() for _ in range(self.args.concurrency)]
        tasks += [self.reviewer_loop(n) for n in range(self.args.reviewers)]
        tasks += [self.admin_loop(), self.rss_loop()]
        await asyncio.gather(*tasks)


# checks ------------------------------------------------------------------------------------------
async def read_audit(http: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every record, oldest first."""
    records: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = await http.get("/audit", params={"page": page, "pageSize": 100}, headers=headers)
        answer.raise_for_status()
        items = answer.json()["items"]
        records.extend(items)
        if len(items) < 100:
            return sorted(records, key=lambda record: record["id"])
        page += 1


def marker_of(record: dict[str, Any]) -> str | None:
    values = parse_qs(urlsplit(record.get("url") or "").query).get("m")
    return values[0] if values else None


def check_records(tally: Tally, records: list[dict[str, Any]]) -> list[str]:
    """What the audit log disagrees with the clients about; empty when every answer is recorded once, as it was."""
    problems = []
    calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if record["action"] == "proxy.request" and (marker := marker_of(record)):
            calls[marker].append(record)
    unrecorded = [m for m in tally.answered if len(calls.get(m, ())) == 0]
    twice = [m for m in tally.answered if len(calls.get(m, ())) > 1]
    wrong = [m for m, decision in tally.answered.items()
             if len(calls.get(m, ())) == 1 and calls[m][0]["decision"] != decision]
    for label, markers in (("without a record", unrecorded), ("recorded more than once", twice),
                           ("recorded with another decision", wrong)):
        if markers:
            problems.append(f"{len(markers)} answered calls {label}, e.g. {markers[:3]}")
    limited = Counter(r["agentId"] for r in records
                      if r["action"] == "proxy.request" and r["decision"] == "RateLimited")
    if limited != +tally.rate_limited:
        problems.append(f"429 rate-limit answers per agent {dict(tally.rate_limited)} != records {dict(limited)}")
    return problems


def check_hitl(tally: Tally, records: list[dict[str, Any]]) -> list[str]:
    problems = []
    for action, acknowledged in (("hitl.approved", tally.approved), ("hitl.denied", tally.denied)):
        recorded = Counter(r["details"].get("pendingId") for r in records if r["action"] == action)
        missing = acknowledged - set(recorded)
        twice = [pending for pending, count in recorded.items() if count > 1]
        if missing:
            problems.append(f"{len(missing)} acknowledged {action} decisions without a record")
        if twice:
            problems.append(f"{len(twice)} requests with more than one {action} record")
    return problems


def last_trust(records: list[dict[str, Any]]) -> dict[str, float]:
    """Each agent's trust as its records leave it: a call's ``trustAfter``, a quarantine's or a lift's trust."""
    trust: dict[str, float] = {}
    for record in records:
        agent = record.get("agentId")
        if agent is None:
            continue
        if "trustAfter" in record["details"]:
            trust[agent] = record["details"]["trustAfter"]
        elif record["action"] == "agent.quarantine_lifted":
            trust[agent] = 0.5
    return trust


async def check_state(soak: Soak, records: list[dict[str, Any]]) -> list[str]:
    problems = []
    http, admin = soak.http, soak.admin
    verified = (await http.get("/audit/verify", headers=admin)).json()
    if not verified.get("valid") or verified.get("count") != len(records):
        problems.append(f"audit verify: {verified} for {len(records)} records read")
    trust = last_trust(records)
    for agent_id in soak.tally.agents:
        answer = await http.get(f"/agents/{agent_id}", headers=admin)
        if answer.status_code != 200:
            problems.append(f"acknowledged agent {agent_id} is gone: {answer.status_code}")
            continue
        if agent_id in trust and abs(answer.json()["trustScore"] - trust[agent_id]) > 1e-9:
            problems.append(f"agent {agent_id}: trust {answer.json()['trustScore']} but its records say "
                            f"{trust[agent_id]}")
    for name, versions in soak.tally.policy_versions.items():
        listed = await http.get(f"/policies/{name}/versions", params={"pageSize": 100}, headers=admin)
        missing = versions - {v["version"] for v in listed.json()["items"]}
        if missing:
            problems.append(f"policy {name}: acknowledged versions {sorted(missing)} are missing")
    return problems


def check_memory(tally: Tally, duration: float) -> tuple[list[str], int, int]:
    warm = next((rss for at, rss in tally.rss if at >= duration * WARM_SHARE), tally.rss[0][1])
    end = tally.rss[-1][1]
    allowed = max(FLAT_RSS_BYTES, int(warm * FLAT_RSS_SHARE))
    problem = [f"RSS grew {(end - warm) / 2**20:.1f} MiB after warm-up (allowed {allowed / 2**20:.0f})"] \
        if end - warm > allowed else []
    return problem, warm, end


def report(tally: Tally, seconds: float, warm: int, end: int, records: int) -> None:
    served = len(tally.latencies)
    quantiles = statistics.quantiles(tally.latencies, n=100) if served > 1 else [0.0] * 99
    print(f"\nsoak: {seconds:.0f} s, {len(tally.agents)} agents, {records} audit records")
    print(f"  proxied calls answered  {served} ({served / seconds:.0f}/s)")
    print(f"  latency p50 / p99       {quantiles[49] * 1000:.1f} ms / {quantiles[98] * 1000:.1f} ms")
    print(f"  RSS start(warm) / end   {tally.rss[0][1] / 2**20:.1f} ({warm / 2**20:.1f}) / {end / 2**20:.1f} MiB")
    print(f"  reviews approved/denied {len(tally.approved)} / {len(tally.denied)}; policy versions "
          f"{sum(len(v) for v in tally.policy_versions.values())}; quarantines lifted {tally.quarantines_lifted}")
    print("  answers by class:")
    for label, count in sorted(tally.classes.items()):
        print(f"    {label:28} {count}")


async def soak(daemon: Daemon, upstream_port: int, args: argparse.Namespace) -> int:
    runner = Soak(daemon, upstream_port, args)
    try:
        started = time.monotonic()
        await runner.run()
        seconds = time.monotonic() - started
        records = await read_audit(runner.http, runner.admin)
        problems = [f"{count} answers were {label}" for label, count in runner.tally.classes.items()
                    if label.startswith(("5", "transport", "review 5")) or "unexpected" in label]
        problems += check_records(runner.tally, records) + check_hitl(runner.tally, records)
        problems += await check_state(runner, records)
        memory, warm, end = check_memory(runner.tally, args.duration)
        report(runner.tally, seconds, warm, end, len(records))
    finally:
        await runner.http.aclose()
    for problem in problems + memory:
        print(f"  FAILED: {problem}")
    print("  every check passed" if not problems + memory else "")
    return 1 if problems + memory else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (600)")
    parser.add_argument("--concurrency", type=int, default=32, help="proxied calls in flight (32)")
    parser.add_argument("--agents", type=int, default=24, help="agents at the start (24)")
    parser.add_argument("--register-every", type=float, default=15.0, help="seconds between new agents (15)")
    parser.add_argument("--policy-every", type=float, default=20.0, help="seconds between policy versions (20)")
    parser.add_argument("--reviewers", type=int, default=2, help="reviewers deciding in parallel (2)")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="the load's random seed")
    args = parser.parse_args(argv)
    print(f"soak: seed {args.seed}, {args.duration:.0f} s, {args.concurrency} calls in flight", flush=True)
    with tempfile.TemporaryDirectory(prefix="vectra-soak-") as tmp, ExitStack() as stack:
        upstream_port, kind = stack.enter_context(upstream(Path(tmp)))
        print(f"  upstream: {kind} on port {upstream_port}", flush=True)
        daemon = Daemon(Path(tmp) / "vectra")
        daemon.data_dir.mkdir()
        daemon.start()
        stack.callback(daemon.stop)
        return asyncio.run(soak(daemon, upstream_port, args))


if __name__ == "__main__":
    raise SystemExit(main())
