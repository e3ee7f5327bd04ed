"""Fixtures for the privacy tests: real databases (SQLite, and PostgreSQL when configured)
and an index fake at the port that returns every reflection as a candidate."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy import Engine, delete

from bot.models import Reflection
from bot.ports import Ranking
from storage import SqlStore, make_engine, upgrade
from storage.tables import Base
from tests.adapters.conftest import cli  # noqa: F401  (fixture)
from tests.pg import fresh_database
from tests.storage.conftest import db_url, engine, store  # noqa: F401  (fixtures)
from tests.telegram.conftest import adapter, chat, fake, world  # noqa: F401  (fixtures)


class EveryIdIndex:
    """A search index that offers every reflection ever stored as a candidate, with one
    equal score: drafts, hidden and deleted ones included. Whatever a search shows is then
    decided by the store's visibility rule alone, which is what these tests are about."""

    METHOD = "all"

    def __init__(self) -> None:
        self.ids: set[int] = set()
        self.removed: set[int] = set()

    def offer(self, reflection_ids: Sequence[int]) -> None:
        """Make ids candidates without the core asking (drafts, hidden lessons)."""
        self.ids.update(reflection_ids)

    def rankings(self, query: str, k: int) -> dict[str, Ranking]:
        return {self.METHOD: [(rid, 1.0) for rid in sorted(self.ids)[:k]]}

    def add(self, reflections: Sequence[Reflection]) -> None:
        self.ids.update(r.id for r in reflections)

    def remove(self, reflection_ids: Sequence[int]) -> None:
        self.removed.update(reflection_ids)  # still offered: the store must filter them


def wipe(target: Engine) -> None:
    """Delete every row of every table (children first), keeping the migrated schema."""
    with target.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def module_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A migrated database shared by the tests of one module (for scenarios that are slow
    to set up and only read afterwards), of each kind."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'leerlus.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    base = os.environ.get("LEERLUS_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("LEERLUS_TEST_POSTGRES_URL not set: PostgreSQL tests need a server")
    with fresh_database(base) as url:
        engine = make_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def every_id_index() -> Iterator[EveryIdIndex]:
    yield EveryIdIndex()


__all__ = ["EveryIdIndex", "SqlStore", "wipe"]
