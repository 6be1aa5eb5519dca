"""The daemon's CPU time per proxied request, the steadier figure for what a change to the hot path saved.

Run: ``.venv/bin/python benchmarks/cpu_per_call.py [--forwarder] [--connections N] [--seconds S]`` (needs nginx and
wrk, as ``make bench`` installs them). It starts the benchmark's upstream and Vectra (or, with ``--forwarder``, the
minimal forwarder) as ``bench_proxy.py`` does, loads it with wrk, and prints requests per second and the server
process's CPU time per request, all its threads counted (``/proc/<pid>/stat``). Wall-clock rates on a shared
machine wander with whatever else runs; CPU time per request moves much less.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_proxy
from local_servers import CLIENT_CPU, minimal_forwarder, pinned, upstream


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _listener_pid(port: int) -> int:
    listing = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
    found = re.search(r"pid=(\d+)", listing)
    if found is None:
        raise RuntimeError(f"no process listens on port {port}")
    return int(found.group(1))


def _wrk(url: str, token: str, connections: int, seconds: int) -> int:
    """Requests wrk completed."""
    command = ["wrk", f"-t{min(connections, 2)}", f"-c{connections}", f"-d{seconds}",
               "-H", f"Authorization: Bearer {token}", url]
    out = subprocess.run(pinned(command, CLIENT_CPU), capture_output=True, text=True, check=True).stdout
    return int(next(line for line in out.splitlines() if "requests in" in line).split()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--forwarder", action="store_true", help="measure the minimal forwarder instead")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        tmp = Path(folder)
        port, _ = stack.enter_context(upstream(tmp))
        if args.forwarder:
            proxy_port = stack.enter_context(minimal_forwarder(tmp, port))
            url, token, pid = f"http://127.0.0.1:{proxy_port}/bench", "-", _listener_pid(proxy_port)
        else:
            daemon, token = stack.enter_context(bench_proxy.vectra(tmp))
            assert daemon.process is not None
            url, pid = f"{daemon.url}/proxy/http://127.0.0.1:{port}/bench", daemon.process.pid
        _wrk(url, token, args.connections, 2)  # warm-up
        before = _cpu_seconds(pid)
        requests = _wrk(url, token, args.connections, args.seconds)
        used = _cpu_seconds(pid) - before
    name = "minimal forwarder" if args.forwarder else "vectra proxy"
    print(f"{name}: {requests / args.seconds:,.0f} req/s at {args.connections} connections, "
          f"{1e6 * used / requests:.0f} µs of CPU per request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
