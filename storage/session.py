"""Transactions of the SqlStore: one Session per `transaction()`, shared through a contextvar."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from itertools import count

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

_store_ids = count()


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
        with turn, self._sessions() as session, session.begin():
            token = self._current.set(session)
            try:
                yield
            finally:
                self._current.reset(token)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """Yield the current session, or one in a short transaction of its own."""
        with self.transaction():
            session = self._current.get()
            assert session is not None
            yield session
