"""The sync tests reuse the storage tests' fresh-database fixtures (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.storage.conftest import db_url, engine, store, world

__all__ = ["db_url", "engine", "store", "world"]
