"""Engines and migrations: the only place that knows how to open a database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 10_000


def _sqlite_lower(value: object) -> object:
    # SQLite's built-in lower() folds ASCII only; names like "Chloë" need Unicode folding.
    return value.lower() if isinstance(value, str) else value


def _sqlite_connect(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (see _sqlite_begin): pysqlite's own transaction
        # handling breaks SAVEPOINTs, which mark_processed needs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()
        dbapi_connection.create_function("lower", 1, _sqlite_lower, deterministic=True)

    return connect


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def make_engine(url: str | URL, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS, **kwargs: Any) -> Engine:
    """Create an engine for a SQLite or PostgreSQL URL, configured for Leerlus.

    PostgreSQL connections are pinged before each use (`pool_pre_ping`), so after a
    restart of the server the pool replaces its dead connections by itself. SQLite waits
    up to `busy_timeout_ms` for another process's write lock before giving up.
    """
    url = make_url(url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **kwargs)
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _sqlite_connect(busy_timeout_ms))
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def alembic_config() -> Config:
    """Return an Alembic configuration that finds the migrations inside the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(target: str | URL | Engine, revision: str = "head") -> None:
    """Apply all migrations (up to `revision`) to the database."""
    engine = target if isinstance(target, Engine) else make_engine(target)
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if engine is not target:
            engine.dispose()


def is_empty(engine: Engine) -> bool:
    """Tell whether the database has no tables at all (a fresh install)."""
    return not inspect(engine).get_table_names()
