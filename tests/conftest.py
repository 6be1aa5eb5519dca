"""Fixtures shared by the whole suite: the real daemon, started on free ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.daemon import Daemon, Stubs
from tests.integration.upstream import UpstreamServer


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One daemon shared by the tests of a module; each test makes its own agents."""
    running = Daemon(tmp_path_factory.mktemp("vectra") / "data").start()
    yield running
    code = running.stop()
    assert code == 0, f"daemon exited with {code} on SIGTERM:\n{running.log()}"


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamServer]:
    """A real local HTTP upstream, shared by the tests of a module (it keeps what each request carried)."""
    server = UpstreamServer().start()
    yield server
    server.stop()


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Start daemons of a test's own (for restarts and special settings); all stopped at the end."""
    started: list[Daemon] = []

    def start(data_dir: Path | None = None, **kwargs: object) -> Daemon:
        running = Daemon(data_dir or tmp_path / f"data{len(started)}", **kwargs).start()  # type: ignore[arg-type]
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def admin(daemon: Daemon) -> Iterator[httpx.Client]:
    with daemon.admin() as client:
        yield client


@pytest.fixture(scope="module")
def stubs(daemon: Daemon) -> Iterator[Stubs]:
    """gRPC clients of the module's daemon."""
    with daemon.channel() as channel:
        yield Stubs.on(channel)


def pytest_report_header() -> str:
    import policy_core

    return f"policy_core implementation: {policy_core.IMPLEMENTATION}"
