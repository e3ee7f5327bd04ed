"""Shared pieces of the fault tests: a bot on a given database, and what the database holds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text

from adapters.notify import RoutingNotifier
from bot.models import Discipline, Identity, Member
from bot.service import Bot, SystemClock
from embeddings.index import LessonIndex
from storage import SqlStore, make_engine, upgrade
from storage.db import BUSY_TIMEOUT_MS


@dataclass
class Setup:
    """A bot wired as `leerlus run` wires it (BM25 only), with two members."""

    engine: Engine
    store: SqlStore
    index: LessonIndex
    bot: Bot
    anna: Member
    bart: Member


def make_setup(url: str, data_dir: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> Setup:
    engine = make_engine(url, busy_timeout_ms=busy_timeout_ms)
    upgrade(engine)
    store = SqlStore(engine)
    index = LessonIndex(store, [], data_dir)
    bot = Bot(store=store, index=index, clock=SystemClock(), notifier=RoutingNotifier(store))
    with store.transaction():
        org = store.add_org("Brandweer Oost", "bw-oost", Discipline.BRANDWEER)
        anna = store.add_member(org.id, "Anna", Identity("console", "anna"))
        bart = store.add_member(org.id, "Bart", Identity("console", "bart"))
    index.load()
    return Setup(engine, store, index, bot, anna, bart)


def reopen(url: str, data_dir: Path, like: Setup) -> Setup:
    """A new process's bot on the database of `like` (no migration, no seeding)."""
    engine = make_engine(url)
    store = SqlStore(engine)
    index = LessonIndex(store, [], data_dir)
    bot = Bot(store=store, index=index, clock=SystemClock(), notifier=RoutingNotifier(store))
    return Setup(engine, store, index, bot, like.anna, like.bart)


def reflection_rows(url: str) -> list[dict[str, Any]]:
    """Every reflection as the database holds it, read with a connection of its own."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT id, draft, draft_step, went_well, improve, lesson, member_id,"
                    " external_id FROM reflections ORDER BY id"
                )
            )
            return [dict(r._mapping) for r in rows]
    finally:
        engine.dispose()
