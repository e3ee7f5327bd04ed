"""Database fixtures: every storage test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from bot.models import Discipline, Identity, Member, Organisation, Role
from storage import SqlStore, make_engine, upgrade
from tests.pg import fresh_database

NOW = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Yield the URL of a fresh, empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'data' / 'leerlus.db'}"
        return
    base = os.environ.get("LEERLUS_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("LEERLUS_TEST_POSTGRES_URL not set: PostgreSQL storage tests need a server")
    with fresh_database(base) as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """Yield an engine on the fresh database, migrated to the newest revision."""
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> SqlStore:
    """Return a SqlStore on the migrated database."""
    return SqlStore(engine)


@dataclass(frozen=True)
class World:
    """Two organisations with an author, a colleague and an outsider."""

    fire: Organisation
    police: Organisation
    author: Member
    colleague: Member
    outsider: Member


@pytest.fixture
def world(store: SqlStore) -> World:
    """Seed two organisations and three members."""
    fire = store.add_org("Brandweer Utrecht", "bw-utrecht", Discipline.BRANDWEER, "T001")
    police = store.add_org("Politie Midden", "pol-midden", Discipline.POLITIE)
    return World(
        fire=fire,
        police=police,
        author=store.add_member(fire.id, "Anna de Vries", Identity("slack", "UANNA")),
        colleague=store.add_member(
            fire.id, "Bram", Identity("telegram", "42"), role=Role.COORDINATOR
        ),
        outsider=store.add_member(police.id, "Chloë", Identity("console", "chloe"), locale="en"),
    )
