"""``VECTRA_DATABASE_SYNCHRONOUS``: the daemon's store (as ``vectra serve`` builds it) runs with that SQLite
``synchronous``."""

from __future__ import annotations

from pathlib import Path

import pytest

from vectra.config import load_settings
from vectra.server import build_context

_PRAGMA_VALUE = {"normal": 1, "full": 2}  # what ``PRAGMA synchronous`` reads back


@pytest.mark.parametrize("mode", ["normal", "full"])
def test_the_writer_connection_syncs_as_configured(tmp_path: Path, mode: str) -> None:
    settings = load_settings({}, {"VECTRA_DATABASE_SYNCHRONOUS": mode, "VECTRA_DATA_DIR": str(tmp_path)})
    store = build_context(settings).store
    try:
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == _PRAGMA_VALUE[mode]
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        store.close()


def test_normal_is_the_default() -> None:
    assert load_settings({}, {}).database_synchronous == "normal"
