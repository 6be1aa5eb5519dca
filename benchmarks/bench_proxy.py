"""End-to-end proxy benchmark (issue 4): what governing every call costs against plain forwarding.

Run: ``.venv/bin/python benchmarks/bench_proxy.py [--quick]`` (``make bench`` installs nginx and wrk first).
One run measures GET requests answered by a local upstream (nginx, 11-byte body) along four paths, at 1 and at 32
connections: direct; through nginx as a reverse proxy; through the minimal Python forwarder (Starlette + aiohttp
client on uvicorn, no governance); through Vectra (the real daemon, an agent with a 5-rule policy, every call
authenticated, rate-limited, judged, scored and audited). It prints requests per second, p50 and p99, each path's
ratio to the minimal forwarder, and the issue's targets. Then, against the same daemon, a grpc.aio client in its
own process measures the bare health ``Check`` RPC, ``ProxyService.Check`` and ``ProxyService.CheckStream``
(batches of checks; its rate counts decisions).

Paths this build lacks (``/proxy/`` answering 404, no ``proxy_pb2``) are reported as "not available in this
build". Everything listens on 127.0.0.1 and every process started here is stopped by its PID on the way out.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc_load
import http_load
from benchmark_apps import BODY
from closed_loop import Load
from local_servers import (
    CLIENT_CPU,
    PROXY_CPU,
    UPSTREAM_CPU,
    minimal_forwarder,
    nginx_binary,
    nginx_reverse_proxy,
    pinned,
    upstream,
)

from tests.e2e.daemon import SERVE, Daemon, register_agent

CONNECTIONS = (1, 32)
#: Checks in flight on the CheckStream stream: 4 batches of grpc_load.STREAM_BATCH (64).
STREAM_IN_FLIGHT = 4 * grpc_load.STREAM_BATCH
FORWARDER = "minimal forwarder"
VECTRA = "vectra proxy"
NOT_AVAILABLE = "not available in this build"

#: Five rules, as a small real policy would have; the benchmark's GETs to 127.0.0.1/bench are allowed by the
#: last, after the evaluator has looked at the four others. Rate limits far above anything the machine can send.
POLICY = {
    "name": "bench-proxy",
    "description": "The proxy benchmark's agent: reads of the local upstream are allowed",
    "default": "Deny",
    "rateLimit": {"requests": 10**9, "perSeconds": 1},
    "rules": [
        {"name": "deny-admin", "priority": 1000, "effect": "Deny", "reason": "Admin paths are off limits",
         "conditions": [{"field": "input.path", "operator": "startsWith", "value": "/admin"}]},
        {"name": "deny-metadata", "priority": 900, "effect": "Deny", "reason": "Cloud metadata is off limits",
         "conditions": [{"field": "input.host", "operator": "in",
                         "value": ["169.254.169.254", "metadata.google.internal"]}]},
        {"name": "deny-deletes", "priority": 800, "effect": "Deny", "reason": "Nothing is deleted",
         "conditions": [{"field": "input.method", "operator": "eq", "value": "DELETE"}]},
        {"name": "review-writes", "priority": 500, "effect": "Hitl", "reason": "Writes need a human",
         "conditions": [{"field": "input.method", "operator": "in", "value": ["POST", "PUT", "PATCH"]}]},
        {"name": "allow-bench-reads", "priority": 10, "effect": "Allow",
         "conditions": [{"field": "input.method", "operator": "in", "value": ["GET", "HEAD"]},
                        {"field": "input.host", "operator": "eq", "value": "127.0.0.1"},
                        {"field": "input.path", "operator": "startsWith", "value": "/bench"}]},
    ],
}
DAEMON_ENV = {"VECTRA_RATE_LIMIT_REQUESTS": str(10**9), "VECTRA_RATE_LIMIT_PER_SECONDS": "1"}

Results = dict[int, Load]
Endpoint = tuple[str, dict[str, str]]  # a path to measure: its URL and the headers its requests carry


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def measure_paths(paths: dict[str, Endpoint], seconds: float, rounds: int) -> tuple[dict[str, Results], int]:
    """Each path warmed up, then measured at each number of connections in ``rounds`` interleaved rounds, keeping
    its best round: load from the rest of a shared machine then weighs on every path alike. Also the number of
    answers, over all rounds, that were not the upstream's 200 or were lost to socket errors."""
    for url, headers in paths.values():
        http_load.measure(url, 32, 1, headers)
    best: dict[str, Results] = {name: {} for name in paths}
    failed = 0
    for round_ in range(1, rounds + 1):
        for connections in CONNECTIONS:
            for name, (url, headers) in paths.items():
                load = http_load.measure(url, connections, seconds, headers)
                failed += load.failures
                if connections not in best[name] or load.rps > best[name][connections].rps:
                    best[name][connections] = load
        print(f"  round {round_} of {rounds} measured", flush=True)
    if failed:
        print(f"  {failed} ANSWERS WERE NOT 200 + {BODY.decode()!r}, OR SOCKET ERRORS", flush=True)
    return best, failed


def _agent_token(daemon: Daemon) -> str:
    """An agent under the benchmark policy, and its token."""
    with daemon.admin() as admin:
        stored = admin.put(f"/policies/{POLICY['name']}", json=POLICY)
        agent = register_agent(admin, "bench-agent", "team-bench")
        assigned = admin.put(f"/agents/{agent['id']}/policy", json={"policyName": POLICY["name"]})
    for answer in (stored, assigned):
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"{answer.request.method} {answer.request.url.path}: {answer.status_code} {answer.text}")
    return daemon.token_for(agent)


def _probe(port: int, path: str, token: str) -> tuple[int, bytes]:
    """One request, its path sent as it is (no client normalising ``//``): status and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


@contextmanager
def vectra(tmp: Path) -> Iterator[tuple[Daemon, str]]:
    """The real daemon on CPU 1 with an agent's token; default settings but the rate limit, loopback upstreams
    allowed, and the operator token and signing key of the end-to-end tests."""
    daemon = Daemon(tmp / "vectra", env=DAEMON_ENV, command=pinned(SERVE, PROXY_CPU))
    (tmp / "vectra").mkdir()
    daemon.start()
    try:
        yield daemon, _agent_token(daemon)
    finally:
        daemon.stop()


def grpc_measure(mode: str, daemon: Daemon, concurrency: int, seconds: float, token: str, url: str) -> dict:
    """One ``grpc_load`` worker process, pinned beside the upstream."""
    assert daemon.process is not None
    command = [sys.executable, grpc_load.__file__, mode, daemon.grpc_target, str(concurrency), str(seconds),
               str(daemon.process.pid), token, url]
    out = subprocess.run(pinned(command, CLIENT_CPU), check=True, capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    return json.loads(out.strip().splitlines()[-1])


def _report_http(results: dict[str, Results]) -> None:
    base = results[FORWARDER]
    print(f"\n{'path':<30}" + "".join(f"{f'c={c} req/s':>12}{'p50 ms':>8}{'p99 ms':>8}" for c in CONNECTIONS)
          + "".join(f"{f'x fwd c={c}':>12}" for c in CONNECTIONS))
    for name, by_connections in results.items():
        line = f"{name:<30}"
        for c in CONNECTIONS:
            load = by_connections[c]
            line += f"{load.rps:>12,.0f}{_ms(load.p50_ms):>8}{_ms(load.p99_ms):>8}"
        line += "".join(f"{by_connections[c].rps / base[c].rps:>11.2f}x" for c in CONNECTIONS)
        print(line)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _report_http_targets(results: dict[str, Results]) -> None:
    if VECTRA not in results:
        print(f"target: Vectra >= 0.5x the minimal forwarder's req/s at 32 connections: {VECTRA} {NOT_AVAILABLE}")
        print(f"target: Vectra's p50 at 1 connection < the minimal forwarder's + 1 ms: {VECTRA} {NOT_AVAILABLE}")
        return
    forwarder, governed = results[FORWARDER], results[VECTRA]
    ratio = governed[32].rps / forwarder[32].rps
    print(f"target: Vectra >= 0.5x the minimal forwarder's req/s at 32 connections: {ratio:.2f}x "
          f"{_verdict(ratio >= 0.5)}")
    added = (governed[1].p50_ms or 0) - (forwarder[1].p50_ms or 0)
    print(f"target: Vectra's p50 at 1 connection < the minimal forwarder's + 1 ms: {governed[1].p50_ms:.2f} ms vs "
          f"{forwarder[1].p50_ms:.2f} ms (+{added:.2f} ms) {_verdict(added < 1.0)}")


#: (label, grpc_load mode, calls in flight) of each gRPC measurement, the proxy's only when this build has it.
_HEALTH_RPCS = [("grpc.health.v1.Health/Check", "health", c) for c in CONNECTIONS]
_PROXY_RPCS = [("vectra.v1.ProxyService/Check", "check", c) for c in CONNECTIONS] + [
    ("vectra.v1.ProxyService/CheckStream", "stream", STREAM_IN_FLIGHT)]


def _better(kept: dict | None, new: dict) -> dict:
    """The figures to keep of two rounds: the faster, a measured one over an unavailable one."""
    if kept is None or "unavailable" in kept:
        return new
    return kept if "unavailable" in new or kept["rps"] >= new["rps"] else new


def run_grpc(daemon: Daemon, token: str, url: str, seconds: float, rounds: int) -> None:
    """Health ``Check``, ``ProxyService.Check`` and ``CheckStream`` against the daemon, in interleaved rounds (the
    best kept), with their targets."""
    print(f"\ngRPC against the daemon (CPU {PROXY_CPU}); grpc.aio client in its own process (CPU {CLIENT_CPU}), "
          f"one channel, {seconds:g} s per measurement after a {grpc_load.WARMUP:g} s warm-up, best of {rounds} "
          "interleaved round(s); CheckStream sends batches of "
          f"{grpc_load.STREAM_BATCH} checks, and its in flight and req/s count checks (decisions)", flush=True)
    rpcs = _HEALTH_RPCS + (_PROXY_RPCS if grpc_load.proxy_modules() else [])
    best: dict[tuple[str, int], dict] = {}
    for _ in range(rounds):
        for _label, mode, in_flight in sorted(rpcs, key=lambda rpc: rpc[2]):  # health and Check side by side
            figures = grpc_measure(mode, daemon, in_flight, seconds, token, url)
            best[mode, in_flight] = _better(best.get((mode, in_flight)), figures)
    print(f"{'rpc':<34}{'in flight':>10}{'req/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'client CPU':>11}{'daemon CPU':>11}"
          "  first answer")
    for label, mode, in_flight in rpcs:
        figures = best[mode, in_flight]
        if "unavailable" in figures:
            print(f"{label:<34}{in_flight:>10}  {NOT_AVAILABLE} ({figures['unavailable']})")
            continue
        failed = f"  {figures['failures']} FAILED" if figures["failures"] else ""
        print(f"{label:<34}{in_flight:>10}{figures['rps']:>10,.0f}{_ms(figures['p50_ms']):>8}"
              f"{_ms(figures['p99_ms']):>8}{figures['client_cpu']:>11.0%}{figures['server_cpu']:>11.0%}"
              f"  {figures['sample'][:60]}{failed}")
    if not grpc_load.proxy_modules():
        print(f"vectra.v1.ProxyService: {NOT_AVAILABLE} (no proxy_pb2)")
    rates = {key: figures["rps"] for key, figures in best.items() if "unavailable" not in figures}
    for concurrency in CONNECTIONS:
        _target(f"ProxyService.Check >= 0.8x the health RPC's rate at {concurrency} in flight",
                rates.get(("check", concurrency)), rates.get(("health", concurrency)), 0.8)
    _target("CheckStream decisions/s >= 5x unary Check's rate at 32 in flight",
            rates.get(("stream", STREAM_IN_FLIGHT)), rates.get(("check", 32)), 5.0)


def _target(label: str, rate: float | None, base: float | None, needed: float) -> None:
    if rate is None or base is None:
        print(f"target: {label}: {NOT_AVAILABLE}")
    else:
        print(f"target: {label}: {rate / base:.2f}x {_verdict(rate / base >= needed)}")


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the with-blocks, which stop every server started here


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="one short round (a smoke run)")
    args = parser.parse_args(sys.argv[1:])
    seconds, rounds, grpc_seconds = (1.0, 1, 1.5) if args.quick else (5.0, 2, 4.0)
    with tempfile.TemporaryDirectory(prefix="vectra-bench-") as folder, ExitStack() as servers:
        tmp = Path(folder)
        upstream_port, upstream_name = servers.enter_context(upstream(tmp))
        target = f"http://127.0.0.1:{upstream_port}/bench"
        paths: dict[str, Endpoint] = {"direct to upstream": (target, {})}
        if nginx_binary():
            port = servers.enter_context(nginx_reverse_proxy(tmp, upstream_port))
            paths["nginx reverse proxy"] = (f"http://127.0.0.1:{port}/bench", {})
        else:
            print("nginx reverse proxy: not measured (nginx is missing)")
        port = servers.enter_context(minimal_forwarder(tmp, upstream_port))
        paths[FORWARDER] = (f"http://127.0.0.1:{port}/bench", {})
        daemon, token = servers.enter_context(vectra(tmp))
        path = f"/proxy/{target}"
        status, body = _probe(daemon.rest_port, path, token)
        if status == 404:
            print(f"{VECTRA}: {NOT_AVAILABLE} (GET {path} answered 404)")
        elif status != 200 or body != BODY:
            print(f"{VECTRA}: GET {path} answered {status} {body[:300]!r}, not 200 {BODY!r}")
            return 1
        else:
            paths[VECTRA] = (f"{daemon.url}{path}", {"Authorization": f"Bearer {token}"})
        print(f"upstream: {upstream_name} on CPU {UPSTREAM_CPU}; the proxies on CPU {PROXY_CPU}, one loaded at a "
              f"time\nload: {http_load.generator()}, not pinned (it competes with the servers for the cores); "
              f"{seconds:g} s per measurement after a 1 s warm-up, best of {rounds} interleaved round(s)", flush=True)
        results, failed = measure_paths(paths, seconds, rounds)
        _report_http(results)
        _report_http_targets(results)
        run_grpc(daemon, token, target, grpc_seconds, rounds)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
