"""Engines and migrations: the schema the migrations build is the schema the ORM expects."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from storage import is_empty, make_engine, upgrade
from storage.db import alembic_config
from storage.tables import Base

from .conftest import NOW


def test_upgrade_on_empty_database_matches_the_orm(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert is_empty(engine)
        upgrade(engine)
        assert not is_empty(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "render_as_batch": connection.dialect.name == "sqlite",
                },
            )
            assert compare_metadata(context, Base.metadata) == []
            head = ScriptDirectory.from_config(alembic_config()).get_current_head()
            assert context.get_current_revision() == head == "0004"
    finally:
        engine.dispose()


def test_upgrade_twice_is_harmless(engine: Engine) -> None:
    upgrade(engine)
    assert "reflections" in inspect(engine).get_table_names()


def test_upgrade_by_url_from_another_directory(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the migrations are found inside the package, not the cwd
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        assert {"organisations", "lesson_embeddings", "alembic_version"} <= set(
            inspect(engine).get_table_names()
        )
    finally:
        engine.dispose()


def test_downgrade_to_base_removes_every_table(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert "members" in inspect(engine).get_table_names()


def test_sqlite_engine_creates_its_directory_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "leerlus.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
            # Unicode-aware lower(), like PostgreSQL's
            assert connection.execute(text("SELECT lower('CHLOË')")).scalar() == "chloë"
        assert path.parent.is_dir()
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO members (org_id, name, role, locale, timezone, digest,"
                " unreachable, created_at) VALUES (999, 'x', 'member', 'nl', 'UTC',"
                " true, false, :now)"
            ),
            {"now": NOW},
        )
