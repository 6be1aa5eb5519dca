"""gRPC load for the proxy benchmark: a grpc.aio client, run in a process of its own pinned beside the upstream.

``python benchmarks/grpc_load.py MODE TARGET CONCURRENCY SECONDS SERVER_PID [TOKEN URL]`` prints one JSON line:

- ``health``: the standard ``grpc.health.v1.Health/Check``, the cost of a bare unary RPC, from CONCURRENCY tasks
  on one channel;
- ``check``: ``vectra.v1.ProxyService/Check`` (the decision only) about GET URL, the same way, the agent's TOKEN
  in ``authorization`` metadata;
- ``stream``: ``ProxyService/CheckStream``, one bidirectional stream carrying batches of :data:`STREAM_BATCH`
  checks, CONCURRENCY checks in flight at once (CONCURRENCY / STREAM_BATCH batches, rounded up); decisions per
  second only (results are counted, not timed; a result other than ``Allow`` counts as a failure).

Each answer also gives the share of a core that this client and the server (SERVER_PID, read from ``/proc``) used
while measuring: a client near 100 % means the figure is the client's ceiling rather than the server's. The
proxy's generated modules are looked up when the worker runs, so that this file works on builds without them
(the answer is then ``{"unavailable": ...}``). :func:`check_request` is the one place that knows the shape of
``CheckRequest``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc
from closed_loop import Load, drive
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = ["STREAM_BATCH", "WARMUP", "check_request", "proxy_modules"]

WARMUP = 0.5
#: Checks per ``CheckBatch`` message in ``stream`` mode.
STREAM_BATCH = 64
_GENERATED = "vectra.grpc.generated.vectra.v1"


def proxy_modules() -> tuple[ModuleType, ModuleType] | None:
    """``(proxy_pb2, proxy_pb2_grpc)`` when this build has the proxy's gRPC contract, else None."""
    try:
        return tuple(importlib.import_module(f"{_GENERATED}.{name}") for name in ("proxy_pb2", "proxy_pb2_grpc"))
    except ImportError:
        return None


def check_request(proxy_pb2: ModuleType, url: str) -> Any:
    """What the benchmark asks ``Check`` about: a GET the benchmark policy allows."""
    return proxy_pb2.CheckRequest(method="GET", url=url, headers=[proxy_pb2.Header(name="accept", value="*/*")],
                                  body=b"")


def _cpu_seconds(pid: int) -> float:
    """CPU time used so far by process ``pid`` (all its threads), or 0 where ``/proc`` can't tell."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _CpuShares:
    """The share of one core used by this process and by the server between creation and :meth:`shares`."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.started = (time.perf_counter(), time.process_time(), _cpu_seconds(server_pid))

    def shares(self) -> dict[str, float]:
        wall, client, server = (now - then for now, then in zip(
            (time.perf_counter(), time.process_time(), _cpu_seconds(self.server_pid)), self.started, strict=True))
        return {"client_cpu": client / wall, "server_cpu": server / wall}


def _describe(answer: Any) -> str:
    """One answer, on one line, for the report (so that a wrong decision shows)."""
    return " ".join(str(answer).split())[:200]


async def _unary(rpc: Any, request: Any, metadata: tuple, concurrency: int, seconds: float, server_pid: int) -> dict:
    try:
        first = await rpc(request, metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as exc:
        return {"unavailable": f"{exc.code().name}: {exc.details()}"}

    async def call() -> bool:
        try:
            await rpc(request, metadata=metadata, timeout=10)
        except grpc.aio.AioRpcError:
            return False
        return True

    meter = _CpuShares(server_pid)
    load = await drive(call, concurrency, seconds, warmup=WARMUP)
    return load.__dict__ | meter.shares() | {"sample": _describe(first)}


async def _stream(stub: Any, batch: Any, metadata: tuple, in_flight: int, seconds: float, server_pid: int) -> dict:
    """``in_flight`` checks outstanding on one stream, as batches like ``batch``; each result is a decision."""
    call = stub.CheckStream(metadata=metadata)
    credits = asyncio.Semaphore(max(1, -(-in_flight // len(batch.checks))))  # batches in flight
    stopping = False
    first: list[Any] = []
    answered = refused = 0

    async def write() -> None:
        while True:
            await credits.acquire()
            if stopping:
                break
            await call.write(batch)
        await call.done_writing()

    async def read() -> None:
        nonlocal answered, refused
        while (answer := await call.read()) is not grpc.aio.EOF:
            if not first and answer.results:
                first.append(answer.results[0])
            answered += len(answer.results)
            refused += sum(result.decision.effect != "Allow" for result in answer.results)
            credits.release()

    writer, reader = asyncio.ensure_future(write()), asyncio.ensure_future(read())
    try:
        await asyncio.sleep(WARMUP)
        counted_from, refused_from, began, meter = answered, refused, time.perf_counter(), _CpuShares(server_pid)
        await asyncio.sleep(seconds)
        count, failures = answered - counted_from, refused - refused_from
        elapsed, shares = time.perf_counter() - began, meter.shares()
        stopping = True
        credits.release()
        await asyncio.wait_for(asyncio.gather(writer, reader), timeout=30)
    except grpc.aio.AioRpcError as exc:
        return {"unavailable": f"{exc.code().name}: {exc.details()}"}
    finally:
        writer.cancel()
        reader.cancel()
        call.cancel()
    if not count:
        return {"unavailable": "no answer on the stream"}
    return Load(count / elapsed, None, None, failures).__dict__ | shares | {"sample": _describe(first[0])}


async def run(mode: str, target: str, concurrency: int, seconds: float, server_pid: int, token: str = "",
              url: str = "") -> dict:
    async with grpc.aio.insecure_channel(target) as channel:
        if mode == "health":
            stub = health_pb2_grpc.HealthStub(channel)
            return await _unary(stub.Check, health_pb2.HealthCheckRequest(), (), concurrency, seconds, server_pid)
        modules = proxy_modules()
        if modules is None:
            return {"unavailable": "no proxy_pb2 in this build"}
        proxy_pb2, proxy_pb2_grpc = modules
        stub = proxy_pb2_grpc.ProxyServiceStub(channel)
        request = check_request(proxy_pb2, url)
        metadata = (("authorization", f"Bearer {token}"),)
        if mode == "check":
            return await _unary(stub.Check, request, metadata, concurrency, seconds, server_pid)
        batch = proxy_pb2.CheckBatch(checks=[request] * STREAM_BATCH)
        return await _stream(stub, batch, metadata, concurrency, seconds, server_pid)


if __name__ == "__main__":
    mode, target, concurrency, seconds, server_pid, *agent = sys.argv[1:]
    print(json.dumps(asyncio.run(run(mode, target, int(concurrency), float(seconds), int(server_pid), *agent))))
