"""Upstream HTTP client benchmark: which client should the proxy use to call upstreams?

Run: ``.venv/bin/python benchmarks/bench_upstream_client.py [--quick]``. Starts a local upstream answering 11 bytes
(nginx with one worker when installed — ``make bench`` installs it — otherwise uvicorn with a raw ASGI app), then
measures three clients, each in a process of its own on a uvloop event loop: httpx with its native transport,
httpx with the ``httpx-aiohttp`` transport, and aiohttp's ``ClientSession`` directly. For 1 and 32 requests in
flight it prints requests per second and p50/p99 latency, then each client's ratio to aiohttp.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

CLIENTS = ("httpx-native", "httpx-aiohttp", "aiohttp")
CONCURRENCY = (1, 32)
BODY = b"hello world"

NGINX_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location / {{ default_type text/plain; return 200 "hello world"; }}
    }}
}}
"""

UVICORN_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"11")]})
    await send({"type": "http.response.body", "body": b"hello world"})
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the upstream did not listen on port {port} within {timeout} s")


@contextmanager
def upstream() -> Iterator[tuple[str, str]]:
    """A local upstream answering ``hello world``: (its URL, its name)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
        if nginx:
            conf = Path(tmp) / "nginx.conf"
            conf.write_text(NGINX_CONF.format(tmp=tmp, port=port))
            command = [nginx, "-c", str(conf), "-p", tmp]
            name = "nginx (1 worker)"
        else:
            (Path(tmp) / "upstream_app.py").write_text(UVICORN_APP)
            command = [sys.executable, "-m", "uvicorn", "upstream_app:app", "--port", str(port), "--log-level",
                       "warning", "--no-access-log", "--app-dir", tmp]
            name = "uvicorn raw ASGI (1 worker)"
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        try:
            wait_for_port(port)
            yield f"http://127.0.0.1:{port}/", name
        finally:
            process.terminate()
            process.wait(timeout=10)


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


FACTORIES = {"httpx-native": _httpx_native, "httpx-aiohttp": _httpx_aiohttp, "aiohttp": _aiohttp}


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
    began = time.perf_counter()
    stop_at = began + seconds
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    await close()
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
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
    seconds = 1.0 if args.quick else 4.0
    results: dict[tuple[str, int], dict[str, float]] = {}
    with upstream() as (url, name):
        print(f"upstream: {name} at {url}, {seconds:g} s per measurement, one process per client (uvloop)")
        print(f"{'client':<15} {'in flight':>9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
        for concurrency in CONCURRENCY:
            for client in CLIENTS:
                out = subprocess.run(
                    [sys.executable, __file__, "--worker", client, url, str(concurrency), str(seconds)],
                    check=True, capture_output=True, text=True,
                ).stdout
                figures = results[client, concurrency] = json.loads(out.strip().splitlines()[-1])
                print(f"{client:<15} {concurrency:>9} {figures['rps']:>9,.0f} {figures['p50_ms']:>8.2f} "
                      f"{figures['p99_ms']:>8.2f}", flush=True)
    print("\nratio of req/s to aiohttp's ClientSession:")
    for concurrency in CONCURRENCY:
        base = results["aiohttp", concurrency]["rps"]
        ratios = ", ".join(f"{client} {results[client, concurrency]['rps'] / base:.2f}x" for client in CLIENTS)
        print(f"  {concurrency:>2} in flight: {ratios}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
