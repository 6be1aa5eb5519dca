"""Upstream HTTP client benchmark: which client should the proxy use to call upstreams?

Run: ``.venv/bin/python benchmarks/bench_upstream_client.py [--quick]``. Starts the local upstream of
``local_servers`` (nginx with one worker answering 11 bytes when installed — ``make bench`` installs it — otherwise
uvicorn with a raw ASGI app; pinned to CPU 0), then measures each client in a process of its own on a uvloop event
loop, pinned to CPU 1 (unpinned, a process that migrates between the cores can measure twice its CPU time): httpx
with its native transport, httpx with the ``httpx-aiohttp`` transport, aiohttp's ``ClientSession`` directly,
Vectra's own ``UpstreamClient`` (the one the proxy uses), and as the floor a bare asyncio protocol with httptools'
parser that writes a fixed request and parses the answer, nothing else. For 1 and 32 requests in flight it prints
requests per second, p50/p99 latency and the client process's CPU time per request, then each client's ratios to
aiohttp.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's vectra, in the worker too

from benchmark_apps import BODY

CLIENTS = ("httpx-native", "httpx-aiohttp", "aiohttp", "vectra", "raw-httptools")
CONCURRENCY = (1, 32)

async def _httpx_native(url: str) -> tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
    import httpx

    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
                               trust_env=False)

    async def call() -> None:
        response = await client.get(url)
        assert response.content == BODY

    return call, client.aclose


async def _httpx_aiohttp(url: str) -> tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
    import httpx
    from httpx_aiohttp import AiohttpTransport

    client = httpx.AsyncClient(transport=AiohttpTransport(trust_env=False), trust_env=False)

    async def call() -> None:
        response = await client.get(url)
        assert response.content == BODY

    return call, client.aclose


async def _aiohttp(url: str) -> tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64), trust_env=False)

    async def call() -> None:
        async with session.get(url, allow_redirects=False) as response:
            assert await response.read() == BODY

    return call, session.close


async def _vectra(url: str) -> tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
    from vectra.forward import AddressGuard, UpstreamClient, parse_target

    client = UpstreamClient(AddressGuard(["127.0.0.0/8"]), connect_timeout=5, read_timeout=30,
                            max_body_bytes=1 << 20, pool_size=64)
    target = parse_target(url)
    headers = [("Host", target.authority)]

    async def call() -> None:
        response = await client.send("GET", target, headers, None)
        assert b"".join([chunk async for chunk in response.body()]) == BODY
        await response.close()

    return call, client.close


class _RawProtocol(asyncio.Protocol):
    """The floor: one exchange at a time, the answer's body collected, nothing checked or pooled beyond reuse."""

    def __init__(self) -> None:
        import httptools

        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[bytes] | None = None
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        assert self.done is not None
        self.done.set_result(b"".join(self.body))


async def _raw_httptools(url: str) -> tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
    from urllib.parse import urlsplit

    loop = asyncio.get_running_loop()
    parts = urlsplit(url)
    request = f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
    free: list[_RawProtocol] = []

    async def call() -> None:
        if free:
            protocol = free.pop()
        else:
            _, protocol = await loop.create_connection(_RawProtocol, parts.hostname, parts.port)
        protocol.done, protocol.body = loop.create_future(), []
        assert protocol.transport is not None
        protocol.transport.write(request)
        assert await protocol.done == BODY
        free.append(protocol)

    async def close() -> None:
        for protocol in free:
            assert protocol.transport is not None
            protocol.transport.close()

    return call, close


FACTORIES = {"httpx-native": _httpx_native, "httpx-aiohttp": _httpx_aiohttp, "aiohttp": _aiohttp,
             "vectra": _vectra, "raw-httptools": _raw_httptools}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(client: str, url: str, concurrency: int, seconds: float) -> dict[str, float]:
    """``concurrency`` tasks calling in a loop: a warm-up, then ``seconds`` of measured calls."""
    call, close = await FACTORIES[client](url)
    latencies: list[float] = []
    stop_at = 0.0
    measuring = False

    async def worker() -> None:
        while True:
            started = time.perf_counter()
            await call()
            ended = time.perf_counter()
            if measuring:
                if ended > stop_at:
                    return
                latencies.append(ended - started)
            elif stop_at and ended > stop_at:
                return

    warmup = min(0.5, seconds / 2)
    stop_at = time.perf_counter() + warmup
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    measuring = True
    began, cpu_began = time.perf_counter(), _cpu_seconds()
    stop_at = began + seconds
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - began, _cpu_seconds() - cpu_began
    await close()
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "cpu_us": cpu / len(latencies) * 1e6,
    }


def run_worker(client: str, url: str, concurrency: int, seconds: float) -> None:
    """The body of one measuring process: prints its figures as one JSON line."""
    try:
        import uvloop

        result = uvloop.run(measure(client, url, concurrency, seconds))
    except ImportError:
        result = asyncio.run(measure(client, url, concurrency, seconds))
    print(json.dumps(result))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="one second per measurement")
    parser.add_argument("--worker", nargs=4, metavar=("CLIENT", "URL", "CONCURRENCY", "SECONDS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(sys.argv[1:])
    if args.worker:
        client, url, concurrency, seconds = args.worker
        run_worker(client, url, int(concurrency), float(seconds))
        return 0
    from local_servers import PROXY_CPU, pinned, upstream

    seconds = 1.0 if args.quick else 4.0
    results: dict[tuple[str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, upstream(Path(tmp)) as (port, name):
        url = f"http://127.0.0.1:{port}/"
        print(f"upstream: {name} at {url}, {seconds:g} s per measurement, one process per client (uvloop) "
              f"on a CPU of its own when there are two")
        print(f"{'client':<15} {'in flight':>9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>10}")
        for concurrency in CONCURRENCY:
            for client in CLIENTS:
                out = subprocess.run(
                    pinned([sys.executable, __file__, "--worker", client, url, str(concurrency), str(seconds)],
                           PROXY_CPU), check=True, capture_output=True, text=True,
                ).stdout
                figures = results[client, concurrency] = json.loads(out.strip().splitlines()[-1])
                print(f"{client:<15} {concurrency:>9} {figures['rps']:>9,.0f} {figures['p50_ms']:>8.2f} "
                      f"{figures['p99_ms']:>8.2f} {figures['cpu_us']:>10.1f}", flush=True)
    print("\nratio of req/s to aiohttp's ClientSession:")
    for concurrency in CONCURRENCY:
        base = results["aiohttp", concurrency]["rps"]
        ratios = ", ".join(f"{client} {results[client, concurrency]['rps'] / base:.2f}x" for client in CLIENTS)
        print(f"  {concurrency:>2} in flight: {ratios}")
    print("ratio of CPU per request to aiohttp's ClientSession:")
    for concurrency in CONCURRENCY:
        base = results["aiohttp", concurrency]["cpu_us"]
        ratios = ", ".join(f"{client} {results[client, concurrency]['cpu_us'] / base:.2f}x" for client in CLIENTS)
        print(f"  {concurrency:>2} in flight: {ratios}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
