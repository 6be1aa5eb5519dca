"""The local servers of the proxy benchmark, each a child process on a free 127.0.0.1 port, pinned to one CPU.

On a 2-core machine the upstream runs on CPU 0 and the proxies on CPU 1 (the benchmark loads one at a time, the
others sit idle). wrk is not pinned:
it takes what is left of both cores (mostly of CPU 0, as the upstream needs little), and competes with the servers
for them. Python load generators (gRPC client, wrk's fallback) are pinned to CPU 0, beside the upstream. Every child is
stopped by the PID it was started with (SIGTERM, then SIGKILL), whatever happens.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.daemon import free_port, wait_until

__all__ = [
    "CLIENT_CPU",
    "PROXY_CPU",
    "UPSTREAM_CPU",
    "child",
    "minimal_forwarder",
    "nginx_binary",
    "nginx_reverse_proxy",
    "pinned",
    "upstream",
]

HERE = Path(__file__).resolve().parent
UPSTREAM_CPU = 0
PROXY_CPU = 1
CLIENT_CPU = 0

_NGINX_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/{name}.pid;
error_log {tmp}/{name}-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/{name}-body;
    proxy_temp_path {tmp}/{name}-proxy;
    fastcgi_temp_path {tmp}/{name}-fastcgi;
    uwsgi_temp_path {tmp}/{name}-uwsgi;
    scgi_temp_path {tmp}/{name}-scgi;
    keepalive_requests 1000000;
{servers}
}}
"""

_UPSTREAM_SERVER = """
    server {{
        listen 127.0.0.1:{port};
        location / {{ default_type text/plain; return 200 "hello world"; }}
    }}
"""

_REVERSE_PROXY_SERVER = """
    upstream backend {{ server 127.0.0.1:{upstream_port}; keepalive 64; keepalive_requests 1000000; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
"""


def pinned(command: Sequence[str], cpu: int) -> list[str]:
    """``command`` run on ``cpu`` alone, when the machine has that CPU and ``taskset``; else as it is."""
    taskset = shutil.which("taskset")
    if taskset and cpu in os.sched_getaffinity(0) and len(os.sched_getaffinity(0)) > 1:
        return [taskset, "-c", str(cpu), *command]
    return list(command)


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def _listening(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True


@contextmanager
def child(command: Sequence[str], port: int, env: dict[str, str] | None = None,
          log: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` until the block ends, once it listens on ``port``; stopped by its PID."""
    output = log.open("ab") if log else subprocess.DEVNULL
    process = subprocess.Popen(list(command), env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        try:
            wait_until(lambda: process.poll() is None and _listening(port), timeout=20)
        except TimeoutError:
            tail = log.read_text(errors="replace")[-2000:] if log else ""
            raise RuntimeError(f"{' '.join(command)} did not listen on port {port}:\n{tail}") from None
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log:
            output.close()


def _nginx(tmp: Path, name: str, servers: str) -> list[str]:
    conf = tmp / f"{name}.conf"
    conf.write_text(_NGINX_CONF.format(tmp=tmp, name=name, servers=servers))
    return [nginx_binary() or "nginx", "-p", str(tmp), "-c", str(conf), "-e", str(tmp / f"{name}-error.log")]


def _uvicorn(app: str, port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", f"benchmark_apps:{app}", "--app-dir", str(HERE), "--host", "127.0.0.1",
            "--port", str(port), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
            "--log-level", "warning"]


@contextmanager
def upstream(tmp: Path) -> Iterator[tuple[int, str]]:
    """The upstream answering ``hello world``: (its port, what it is)."""
    port = free_port()
    if nginx_binary():
        command, name = _nginx(tmp, "upstream", _UPSTREAM_SERVER.format(port=port)), "nginx (1 worker)"
    else:
        command, name = _uvicorn("hello", port), "uvicorn + raw ASGI app (nginx is missing)"
    with child(pinned(command, UPSTREAM_CPU), port, log=tmp / "upstream.log"):
        yield port, name


@contextmanager
def nginx_reverse_proxy(tmp: Path, upstream_port: int) -> Iterator[int]:
    """nginx (1 worker) proxying to the upstream over kept-alive connections: its port."""
    port = free_port()
    servers = _REVERSE_PROXY_SERVER.format(port=port, upstream_port=upstream_port)
    with child(pinned(_nginx(tmp, "reverse-proxy", servers), PROXY_CPU), port, log=tmp / "reverse-proxy.log"):
        yield port


@contextmanager
def minimal_forwarder(tmp: Path, upstream_port: int) -> Iterator[int]:
    """The reference forwarder of ``benchmark_apps`` on uvicorn (uvloop, httptools, one worker): its port."""
    port = free_port()
    env = os.environ | {"BENCH_UPSTREAM": f"http://127.0.0.1:{upstream_port}"}
    with child(pinned(_uvicorn("forwarder", port), PROXY_CPU), port, env=env, log=tmp / "forwarder.log"):
        yield port
