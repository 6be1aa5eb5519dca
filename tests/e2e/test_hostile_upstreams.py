"""Hostile upstreams under load through the real daemon: rounds of calls to upstreams that hang, reset, drip their
answer byte by byte or answer garbage, while another agent's calls to a healthy upstream keep succeeding. Every
answer is one the docs list for its case (504, 502, 503 from the breaker, or the dripped answer), never a 500; the
audit log has a record for every call; and the daemon's descriptors come back to their baseline and its memory
stays within a bound once the load is over."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.daemon import Daemon, wait_until
from tests.e2e.process_stats import open_descriptors, open_sockets, resident_bytes
from tests.e2e.proxy_agents import Agent, governed
from tests.integration.upstream import CannedServer, DrippingServer, ResettingServer, UpstreamServer

pytestmark = pytest.mark.e2e

ROUNDS = 40  # calls to each hostile upstream
#: How much the daemon's resident memory may grow over the load (a warm-up came first): a leak of a few KiB a call
#: would pass it; of a connection's buffers (64 KiB and more) a call, not.
RSS_MARGIN = 24 * 1024 * 1024
DRIPPED = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\ndripped"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """Short timeouts (the hanging upstream answers after 5 s, the dripping one within 1 s), and a breaker that opens
    after 3 failures and lets a probe through again half a second later."""
    running = Daemon(tmp_path_factory.mktemp("vectra") / "data", env={
        "VECTRA_UPSTREAM_CONNECT_TIMEOUT": "1", "VECTRA_UPSTREAM_READ_TIMEOUT": "2",
        "VECTRA_BREAKER_FAILURES": "3", "VECTRA_BREAKER_OPEN_SECONDS": "0.5",
    }).start()
    yield running
    assert running.stop() == 0, running.log()


def echoed(answer: httpx.Response) -> tuple[bytes, ...]:
    """The healthy upstream's echo of a GET, or nothing."""
    return (answer.content,) if answer.headers.get("content-type") == "application/json" and \
        answer.json()["method"] == "GET" else ()


async def calls(daemon: Daemon, token: str, urls: list[str], in_flight: int) -> list[int]:
    """GET each URL through the proxy, ``in_flight`` at a time, on a client closed at the end; the statuses."""
    limit = asyncio.Semaphore(in_flight)
    async with httpx.AsyncClient(base_url=daemon.url, timeout=30,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        async def one(url: str) -> int:
            async with limit:
                answer = await client.get(f"/proxy/{url}")
                assert answer.status_code != 200 or answer.content in (b"dripped", *echoed(answer))
                return answer.status_code
        return await asyncio.gather(*(one(url) for url in urls))


def audited(admin: httpx.Client, agent_id: str, decision: str) -> int:
    answer = admin.get("/audit", params={"agentId": agent_id, "decision": decision, "pageSize": 1})
    assert answer.status_code == 200, answer.text
    return answer.json()["totalCount"]


def test_hostile_upstreams_under_load_leave_others_served_and_nothing_leaked(
    daemon: Daemon, admin: httpx.Client, upstream: UpstreamServer
) -> None:
    pid = daemon.process.pid  # type: ignore[union-attr]
    baseline_sockets = open_sockets(pid)  # no connection to an upstream yet
    hanging = UpstreamServer().start()
    resetting = ResettingServer()
    garbage = CannedServer(b"\x00\xffNOT HTTP AT ALL\r\n\r\n")
    dripping = DrippingServer(DRIPPED, delay=0.01)
    hostile_agent = Agent(daemon, admin, governed("x") | {"rateLimit": {"requests": 100_000, "perSeconds": 60}})
    healthy_agent = Agent(daemon, admin, governed("x") | {"rateLimit": {"requests": 100_000, "perSeconds": 60}})
    kinds = {
        "hang": f"{hanging.base}/slow-headers",
        "reset": f"http://127.0.0.1:{resetting.port}/x",
        "garbage": f"http://127.0.0.1:{garbage.port}/x",
        "drip": f"http://127.0.0.1:{dripping.port}/x",
    }
    try:
        asyncio.run(calls(daemon, hostile_agent.token, list(kinds.values()), 4))  # warm-up: every code path once
        asyncio.run(calls(daemon, healthy_agent.token, [f"{upstream.base}/echo"] * 8, 4))
        audited(admin, hostile_agent.id, "Allow")  # the audit reader's own connection to the database
        baseline_rss = resident_bytes(pid)
        baseline_files = open_descriptors(pid) - open_sockets(pid)

        async def load() -> tuple[list[int], list[int]]:
            hostile = calls(daemon, hostile_agent.token, [url for url in kinds.values() for _ in range(ROUNDS)], 16)
            healthy = calls(daemon, healthy_agent.token, [f"{upstream.base}/echo"] * (ROUNDS * 4), 4)
            return await asyncio.gather(hostile, healthy)

        hostile_statuses, healthy_statuses = asyncio.run(load())
    finally:
        hanging.stop()
        for server in (resetting, garbage, dripping):
            server.close()

    assert healthy_statuses == [200] * (ROUNDS * 4)
    by_kind = {kind: Counter(hostile_statuses[i * ROUNDS:(i + 1) * ROUNDS]) for i, kind in enumerate(kinds)}
    assert set(by_kind["hang"]) <= {504, 503} and by_kind["hang"][504] >= 1, by_kind
    assert set(by_kind["reset"]) <= {502, 503} and by_kind["reset"][502] >= 1, by_kind
    assert set(by_kind["garbage"]) <= {502, 503} and by_kind["garbage"][502] >= 1, by_kind
    assert by_kind["drip"] == Counter({200: ROUNDS}), by_kind
    recorded = {decision: audited(admin, hostile_agent.id, decision)
                for decision in ("Allow", "UpstreamError", "BreakerOpen")}
    statuses = Counter(hostile_statuses)
    assert recorded == {"Allow": statuses[200] + 1, "UpstreamError": statuses[502] + statuses[504] + 3,
                        "BreakerOpen": statuses[503]}  # the warm-up's four calls: one dripped, three failed
    assert audited(admin, healthy_agent.id, "Allow") == ROUNDS * 4 + 8

    # the pool's connections to the healthy upstream end with its keep-alive (5 s); the hostile ones are gone
    wait_until(lambda: open_sockets(pid) <= baseline_sockets, timeout=30, interval=0.5)
    assert open_descriptors(pid) == baseline_files + baseline_sockets
    growth = resident_bytes(pid) - baseline_rss
    assert growth < RSS_MARGIN, f"resident memory grew by {growth / 2**20:.1f} MiB over the load"
