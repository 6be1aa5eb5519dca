"""Slow and idle clients against the real daemon: hundreds of slowloris connections and thousands of idle ones
don't starve a normal client on REST or gRPC, the server closes the slow ones (the request head timeout), a head
over its size limit is refused, and a flood of connections is cut off before the descriptors run out."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.e2e.daemon import SERVE, Daemon, wait_until
from tests.e2e.process_stats import cpu_seconds, open_descriptors

pytestmark = pytest.mark.e2e

HEAD_TIMEOUT = 2  # seconds: VECTRA_REQUEST_HEAD_TIMEOUT_SECONDS of this module's daemon
LIVENESS = 10  # seconds a normal client may wait for its answer: a liveness bound, not a timing one


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    running = Daemon(tmp_path_factory.mktemp("vectra") / "data",
                     env={"VECTRA_REQUEST_HEAD_TIMEOUT_SECONDS": str(HEAD_TIMEOUT)}).start()
    yield running
    assert running.stop() == 0, running.log()


def connect(port: int, count: int) -> list[socket.socket]:
    """``count`` connections, not waiting for each to be accepted (a flood does not wait either)."""
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        sockets.append(sock)
    return sockets


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def answered_or_closed(sock: socket.socket) -> bytes | None:
    """What the server sent before closing (``b""`` for a bare close), or None while the connection is open."""
    received = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except BlockingIOError:
            return None
        except ConnectionError:
            return received
        if not chunk:
            return received
        received += chunk


def trickle(sockets: list[socket.socket], byte: bytes) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):  # not connected yet, or already closed by the server
            sock.send(byte)


def normal_clients_are_answered(daemon: Daemon) -> None:
    with daemon.admin() as admin:
        assert admin.get("/agents", timeout=LIVENESS).status_code == 200
    with daemon.channel() as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=LIVENESS)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_slowloris_and_idle_floods_dont_starve_others_and_the_slow_ones_are_closed(daemon: Daemon) -> None:
    pid = daemon.process.pid  # type: ignore[union-attr]
    baseline = open_descriptors(pid)
    head = b"GET /health HTTP/1.1\r\nHost: vectra\r\nX-Slow: "
    slow = connect(daemon.rest_port, 300)
    idle = connect(daemon.rest_port, 2000)
    grpc_idle = connect(daemon.grpc_port, 200)  # connected, never a byte
    grpc_half = connect(daemon.grpc_port, 100)  # half of the HTTP/2 preface, then nothing
    try:
        wait_until(lambda: open_descriptors(pid) >= baseline + 2000, timeout=30)
        trickle(grpc_half, b"PRI * HTTP/2.0\r\n")
        trickle(slow, head[:1])
        fresh = connect(daemon.rest_port, 100)  # slowloris begun just now: their head timeout is still running
        slow += fresh
        trickle(fresh, head[:1])

        normal_clients_are_answered(daemon)
        # answered while the slow ones were held, not once the head timeout had cleared them away
        assert all(answered_or_closed(sock) is None for sock in fresh)

        closed: dict[int, bytes] = {}
        sent = 1
        deadline = time.monotonic() + HEAD_TIMEOUT * 10
        while len(closed) < len(slow) and time.monotonic() < deadline:
            time.sleep(0.5)  # one more byte of the head every half second: never a whole head in time
            trickle([s for i, s in enumerate(slow) if i not in closed], head[sent:sent + 1])
            sent = min(sent + 1, len(head) - 1)
            for i, sock in enumerate(slow):
                if i not in closed and (seen := answered_or_closed(sock)) is not None:
                    closed[i] = seen
        assert len(closed) == len(slow)
        assert all(seen.startswith(b"HTTP/1.1 408 ") for seen in closed.values())
        wait_until(lambda: all(answered_or_closed(sock) == b"" for sock in idle), timeout=HEAD_TIMEOUT * 10)

        normal_clients_are_answered(daemon)
    finally:
        close_all(slow + idle + grpc_idle + grpc_half)
    wait_until(lambda: open_descriptors(pid) <= baseline + 5, timeout=30)


def test_a_request_head_over_its_limit_is_431_and_one_under_it_is_served(daemon: Daemon) -> None:
    with httpx.Client(base_url=daemon.url, timeout=LIVENESS) as client:
        under = client.get("/health", headers={"X-Padding": "a" * 60_000})
        over = client.get("/health", headers={"X-Padding": "a" * 70_000})
        many = client.get("/health", headers=[(f"X-{i}", "1") for i in range(8000)])

    assert under.status_code == 200
    assert over.status_code == 431 and over.headers["connection"] == "close"
    assert many.status_code == 431


def test_a_kept_alive_connection_is_still_served_after_the_head_timeout(daemon: Daemon) -> None:
    """The timer bounds the wait for one head, not a connection's life: one answered request re-arms it only when
    the next request begins."""
    def local_port(answer: httpx.Response) -> int:
        return answer.extensions["network_stream"].get_extra_info("client_addr")[1]

    with httpx.Client(base_url=daemon.url, timeout=LIVENESS) as client:
        first = client.get("/health")
        ports = {local_port(first)}
        time.sleep(HEAD_TIMEOUT / 2)
        second = client.get("/health")
        ports.add(local_port(second))
        time.sleep(HEAD_TIMEOUT / 2 + 0.5)  # past the head timeout since the connection opened
        third = client.get("/health")
        ports.add(local_port(third))
    assert [a.status_code for a in (first, second, third)] == [200, 200, 200]
    # on one connection: the pool would have opened another, unnoticed, had the server closed the first
    assert len(ports) == 1, ports


def test_a_connection_flood_is_cut_off_at_the_limit_before_descriptors_run_out_and_nothing_spins(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """256 descriptors: each port keeps 16 connections (the least ``VECTRA_MAX_CONNECTIONS`` defaults to) and
    closes the rest as they come, so the flood never takes the last descriptor; out of descriptors, uvloop would
    retry accepting in a busy loop. Once the flood's kept connections time out, others are served again."""
    limited = Daemon(tmp_path_factory.mktemp("vectra") / "data",
                     env={"VECTRA_REQUEST_HEAD_TIMEOUT_SECONDS": str(HEAD_TIMEOUT)},
                     command=["prlimit", "--nofile=256:256", *SERVE]).start()
    pid = limited.process.pid  # type: ignore[union-attr]
    baseline = open_descriptors(pid)
    flood = connect(limited.rest_port, 400) + connect(limited.grpc_port, 100)
    try:
        most = baseline
        used_before, deadline = cpu_seconds(pid), time.monotonic() + 3
        while time.monotonic() < deadline:
            most = max(most, open_descriptors(pid))
            time.sleep(0.05)
        spent = cpu_seconds(pid) - used_before
        assert limited.process.poll() is None  # type: ignore[union-attr]
        assert most <= baseline + 2 * 16 + 8, f"{most} descriptors open"
        assert spent < 1.5, f"the daemon used {spent:.2f} s of CPU in 3 s of a flood"
    finally:
        close_all(flood)
    try:
        wait_until(lambda: open_descriptors(pid) <= baseline + 2, timeout=30)
        normal_clients_are_answered(limited)
    finally:
        assert limited.stop() == 0, limited.log()


def test_the_daemon_raises_its_descriptor_limit_to_the_hard_one(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A soft limit of 1,024 (the usual default) would leave each port a few hundred connections: the daemon takes
    what the hard limit allows, before it budgets its ports."""
    raised = Daemon(tmp_path_factory.mktemp("vectra") / "data", command=["prlimit", "--nofile=1024:4096", *SERVE])
    raised.start()
    try:
        limits = Path(f"/proc/{raised.process.pid}/limits").read_text()  # type: ignore[union-attr]
        [line] = [line for line in limits.splitlines() if line.startswith("Max open files")]
        assert line.split()[3:5] == ["4096", "4096"], line
    finally:
        raised.stop()
