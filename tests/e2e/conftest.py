"""Fixtures of the end-to-end tests of the proxy and its HITL queue."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.daemon import Daemon
from tests.e2e.proxy_agents import Agent


@pytest.fixture
def agent(daemon: Daemon, admin: httpx.Client) -> Iterator[Agent]:
    """An agent under a policy of its own (``governed``), with a client carrying its token."""
    made = Agent(daemon, admin)
    yield made
    made.client.close()
