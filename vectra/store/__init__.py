"""Persistence behind one small interface; SQLite is the embedded default."""

from vectra.store.base import Store
from vectra.store.sqlite import SqliteStore

__all__ = ["SqliteStore", "Store"]
