"""Fixtures of the forwarding tests: real upstream servers, and forwarders configured per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from vectra.config import Settings
from vectra.forward import Forwarder


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def make_forwarder() -> AsyncIterator[Callable[..., Forwarder]]:
    """Forwarders with the given settings (loopback allowed unless told otherwise), closed after the test."""
    made: list[Forwarder] = []

    def make(resolver: Any = None, clock: Any = None, **settings: Any) -> Forwarder:
        settings.setdefault("upstream_allow_cidrs", ("127.0.0.0/8",))
        extra = {"clock": clock} if clock is not None else {}
        forwarder = Forwarder.from_settings(Settings(**settings), resolver=resolver, **extra)
        made.append(forwarder)
        return forwarder

    yield make
    for forwarder in made:
        await forwarder.close()
