"""Storage: SQLAlchemy tables, the SqlStore that implements `bot.ports.Store`, migrations."""

from __future__ import annotations

from storage.db import is_empty, make_engine, upgrade
from storage.sql_store import SqlStore

__all__ = ["SqlStore", "is_empty", "make_engine", "upgrade"]
