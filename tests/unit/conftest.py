"""Fixtures of the unit tests that run use cases over a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vectra.config import Settings
from vectra.services.context import ServiceContext
from vectra.services.keyring import Keyring
from vectra.store import SqliteStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    """A store in ``tmp_path``."""
    opened = SqliteStore(tmp_path / "vectra.db")
    yield opened
    opened.close()


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[ServiceContext]:
    """A daemon's service context, without the daemon: default settings, a store in ``tmp_path``, a fixed key."""
    store = SqliteStore(tmp_path / "vectra.db")
    yield ServiceContext(settings=Settings(data_dir=tmp_path), store=store,
                         keyring=Keyring("k", {"k": b"k" * 32}), admin_token="t" * 32, digest_key=b"d" * 32)
    store.close()
