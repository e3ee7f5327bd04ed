"""Transactions of the SqlStore: one Session per `transaction()`, shared through a contextvar.

A database that cannot be reached or written (PostgreSQL down or restarting, an SQLite file
locked or read-only) surfaces as `DatabaseUnavailable`, a `ServiceUnavailable` of the core:
the transaction is rolled back as a whole, the member is told to try again shortly, and the
next transaction simply tries again (the engine pings pooled connections before use), so
the process recovers by itself when the database is back.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from itertools import count

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import ServiceUnavailable

_store_ids = count()


class DatabaseUnavailable(ServiceUnavailable):
    """The database could not be reached or written; `reason` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason

    def __str__(self) -> str:
        return f"database unavailable: {self.reason}"


# SQLite reports a lock, a read-only or missing file and a full disk as OperationalError,
# but also a missing table or an SQL syntax error: those are bugs, not an outage.
_SQLITE_OUTAGES = (
    "locked",
    "busy",
    "readonly",
    "read-only",
    "unable to open",
    "disk i/o",
    "disk is full",
)


def is_outage(error: DBAPIError) -> bool:
    """Tell whether a database error means "unreachable or not writable now", not a bug."""
    if isinstance(error, InterfaceError) or error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError):
        return False
    if isinstance(error.orig, sqlite3.Error):
        message = str(error.orig).lower()
        return any(word in message for word in _SQLITE_OUTAGES)
    return True  # psycopg: connection lost or refused, server shutting down, too many clients


def unavailable_reason(error: Exception) -> str:
    """A short description of a connection or lock error, without SQL or parameters."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {first[:200]}" if first else type(cause).__name__


class SessionScope:
    """Owns the engine and the session of the transaction that is running, if any."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Rows are turned into dataclasses before commit, but keep them loaded after it
        # anyway so a conversion after commit never triggers a surprise query.
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # One variable per store: two stores (two databases) never share a session.
        self._current: ContextVar[Session | None] = ContextVar(
            f"leerlus_session_{next(_store_ids)}", default=None
        )
        # SQLite has one writer at a time, and a transaction that read before it writes
        # fails at once ("database is locked") when another thread wrote in between.
        # Taking turns inside the process avoids that; other processes still read freely
        # (WAL), and PostgreSQL is the choice for several bot processes.
        self._turns = threading.Lock() if engine.dialect.name == "sqlite" else None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the enclosed calls in one transaction; a nested call joins the outer one."""
        if self._current.get() is not None:
            yield
            return
        turn = self._turns if self._turns is not None else nullcontext()
        try:
            with turn, self._sessions() as session, session.begin():
                token = self._current.set(session)
                try:
                    yield
                finally:
                    self._current.reset(token)
        except DBAPIError as error:
            # Only the outermost transaction translates: nested calls joined it.
            if not is_outage(error):
                raise
            raise DatabaseUnavailable(unavailable_reason(error)) from error
        except PoolTimeout as error:
            raise DatabaseUnavailable(unavailable_reason(error)) from error

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """Yield the current session, or one in a short transaction of its own."""
        with self.transaction():
            session = self._current.get()
            assert session is not None
            yield session
