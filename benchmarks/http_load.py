"""HTTP load for the proxy benchmark: wrk when installed, else a Python aiohttp load generator in its own process.

Both keep ``connections`` connections busy for ``seconds`` and report requests per second, p50 and p99 latency,
and failures: every answer must be a 200 with the upstream's 11-byte body (wrk checks it in Lua), so a proxy that
refuses, parks or garbles requests can't pass for a fast one. wrk (C, epoll) costs the machine little; the Python
generator is itself CPU-bound around a few thousand requests per second, so with it the fast paths (direct, nginx)
measure the generator, not the server, and every latency includes its own overhead.

Run alone, ``python benchmarks/http_load.py URL CONNECTIONS SECONDS [NAME:VALUE ...]`` is the Python generator: it
prints its figures as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile

from benchmark_apps import BODY
from closed_loop import Load, drive
from local_servers import CLIENT_CPU, pinned

__all__ = ["generator", "measure"]

_MARK = "BENCH-RESULT "
_WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) failures = 0 end
function response(status, headers, body)
  if status ~= 200 or body ~= "@BODY@" then failures = failures + 1 end
end
function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + thread:get("failures") end
  local e = summary.errors
  failed = failed + e.connect + e.read + e.write + e.timeout
  io.write(string.format('@MARK@{"rps": %.1f, "p50_ms": %.4f, "p99_ms": %.4f, "failures": %d}\\n',
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
    failed))
end
""".replace("@BODY@", BODY.decode()).replace("@MARK@", _MARK)


def generator() -> str:
    """What generates the load, for the report."""
    if shutil.which("wrk"):
        return "wrk (-t1 at 1 connection, -t2 at 32; answers checked in Lua)"
    return "Python aiohttp load generator, one process (wrk is missing: fast paths measure the generator)"


def _result(stdout: str) -> Load:
    line = next(line for line in stdout.splitlines() if line.startswith(_MARK))
    return Load(**json.loads(line[len(_MARK):]))


def measure(url: str, connections: int, seconds: float, headers: dict[str, str] | None = None) -> Load:
    """``connections`` connections sending GET ``url`` back to back for ``seconds``."""
    headers = headers or {}
    wrk = shutil.which("wrk")
    if wrk is None:
        command = [sys.executable, __file__, url, str(connections), str(seconds)]
        command += [f"{name}:{value}" for name, value in headers.items()]
        return _result(subprocess.run(pinned(command, CLIENT_CPU), check=True, capture_output=True, text=True,
                                      timeout=seconds + 60).stdout)
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(_WRK_SCRIPT)
        script.flush()
        command = [wrk, "-t", "1" if connections == 1 else "2", "-c", str(connections),
                   "-d", f"{max(1, round(seconds))}s", "--timeout", "5s", "-s", script.name]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        out = subprocess.run([*command, url], check=True, capture_output=True, text=True, timeout=seconds + 60)
    return _result(out.stdout)


async def _generate(url: str, connections: int, seconds: float, headers: dict[str, str]) -> Load:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers=headers, trust_env=False) as session:

        async def call() -> bool:
            try:
                async with session.get(url, allow_redirects=False) as answer:
                    return answer.status == 200 and await answer.read() == BODY
            except aiohttp.ClientError:
                return False

        return await drive(call, connections, seconds)


def _main(argv: list[str]) -> None:
    url, connections, seconds, *pairs = argv
    headers = dict(pair.split(":", 1) for pair in pairs)
    try:
        from uvloop import run
    except ImportError:
        run = asyncio.run
    load = run(_generate(url, int(connections), float(seconds), headers))
    print(_MARK + json.dumps(load.__dict__))


if __name__ == "__main__":
    _main(sys.argv[1:])
