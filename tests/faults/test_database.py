"""The database unreachable for a while: "try again shortly", nothing half-stored, recovery.

PostgreSQL: a throwaway cluster of our own (see conftest) is stopped under a running bot
and started again; the same Bot object must answer every action in the meantime with the
catalogue's `error.unavailable` text and work again afterwards without a restart. SQLite:
a file locked by another writer, and a file that can only be opened read-only.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from adapters.plain import render_plain
from bot import commands as c
from bot.errors import ServiceUnavailable
from bot.replies import Reply, Text
from bot.service import unavailable_text
from bot.texts import Translator
from embeddings.index import LessonIndex
from storage import SqlStore
from tests.faults.conftest import OwnPostgres
from tests.faults.helpers import Setup, make_setup, reflection_rows, reopen
from tests.pg import fresh_database

SECRET = "GEHEIM-zinnetje"  # a word of the member's text that must never reach a log line
TR = Translator("nl")


def bodies(replies: list[Reply]) -> list[str]:
    return [r.body for r in replies if isinstance(r, Text)]


def shown(replies: list[Reply]) -> str:
    """Everything the member reads, lesson cards included."""
    return "\n".join(render_plain(r) for r in replies)


def unavailable(replies: list[Reply], locale: str = "nl") -> bool:
    return bodies(replies) == [unavailable_text(locale).body]


def asks(replies: list[Reply], step: str) -> bool:
    """Whether the bot's last reply is the question of reflection step `step`."""
    return bodies(replies)[-1] == TR(f"reflect.q_{step}", limit=1000)


# Every one of these needs the database: each must get the "try again shortly" answer.
OUTAGE_ACTIONS: list[c.Command] = [
    c.PlainText(f"De verbetering: {SECRET} bij de uitruk"),  # the answer to the running draft
    c.Ask(f"brand {SECRET}"),
    c.GiveKudos("Bart", f"voor {SECRET}"),
    c.ListKudos(),
    c.Mine(),
    c.StartReflection(),
    c.SubmitReflection(
        went_well=f"goed {SECRET}", improve="beter", lesson=f"les {SECRET}", visibility="netwerk"
    ),
    c.Cancel(),
]


def start_draft(s: Setup) -> None:
    """Anna starts a reflection and answers the first question."""
    assert asks(s.bot.handle(s.anna, c.StartReflection()), "went_well")
    assert asks(s.bot.handle(s.anna, c.PlainText("De samenwerking met de politie")), "improve")


def finish_draft(s: Setup, improve: str) -> list[Reply]:
    assert asks(s.bot.handle(s.anna, c.PlainText(improve)), "lesson")
    s.bot.handle(s.anna, c.PlainText("Spreek vooraf een verzamelpunt af bij nachtelijke inzet"))
    s.bot.handle(s.anna, c.PlainText("netwerk"))
    s.bot.handle(s.anna, c.PlainText("overslaan"))
    s.bot.handle(s.anna, c.PlainText("overslaan"))
    return s.bot.handle(s.anna, c.PlainText("overslaan"))


def assert_outage_answers(s: Setup, caplog: pytest.LogCaptureFixture) -> None:
    """Every action answered "try again shortly", each logged once, without the text."""
    caplog.clear()
    with caplog.at_level(logging.INFO):
        for command in OUTAGE_ACTIONS:
            replies = s.bot.handle(s.anna, command)
            assert unavailable(replies), (command, bodies(replies))
        assert unavailable(s.bot.handle(s.bart, c.Mine()))
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == len(OUTAGE_ACTIONS) + 1
    for record, command in zip(errors, OUTAGE_ACTIONS, strict=False):
        message = record.getMessage()
        assert type(command).__name__ in message and f"member {s.anna.id}" in message
        assert "database unavailable" in message
    assert SECRET not in caplog.text
    assert all(r.exc_info is None for r in caplog.records)  # no traceback with SQL in it


def assert_one_whole_lesson(url: str, improve: str) -> None:
    rows = reflection_rows(url)
    assert len(rows) == 1, rows
    row = rows[0]
    assert not row["draft"] and row["draft_step"] is None
    assert row["went_well"] == "De samenwerking met de politie"  # written before the outage
    assert row["improve"] == improve
    assert row["lesson"].startswith("Spreek vooraf")
    assert SECRET not in " ".join(str(v) for v in row.values())


@pytest.fixture
def pg_url(own_postgres: OwnPostgres) -> Iterator[str]:
    if not own_postgres.running():
        own_postgres.start()
    with fresh_database(own_postgres.url) as url:
        yield url


def test_postgres_stopped_and_started_again(
    own_postgres: OwnPostgres, pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = make_setup(pg_url, tmp_path)
    start_draft(s)
    own_postgres.stop("fast")
    try:
        assert_outage_answers(s, caplog)
        # The outage is also answered in the member's own language.
        assert unavailable(s.bot.handle(replace(s.anna, locale="en"), c.Mine()), "en")
    finally:
        own_postgres.start()
    # Back without a restart: the draft kept its first answer and the flow goes on.
    saved = finish_draft(s, "Eerder opschalen")
    assert bodies(saved)[0].startswith(TR("reflect.saved", visibility="x", id=0).split("(")[0])
    assert_one_whole_lesson(pg_url, "Eerder opschalen")
    s.engine.dispose()


def test_postgres_dies_while_the_lesson_is_committed(
    own_postgres: OwnPostgres, pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s = make_setup(pg_url, tmp_path)
    start_draft(s)
    assert asks(s.bot.handle(s.anna, c.PlainText("Eerder opschalen")), "lesson")
    for answer in ("Spreek vooraf een verzamelpunt af bij nachtelijke inzet", "netwerk"):
        s.bot.handle(s.anna, c.PlainText(answer))
    s.bot.handle(s.anna, c.PlainText("overslaan"))
    s.bot.handle(s.anna, c.PlainText("overslaan"))
    before = reflection_rows(pg_url)
    assert [r["draft_step"] for r in before] == ["thanks"]

    crashed = []

    def crash_at_commit(connection: object) -> None:
        if not crashed:  # the server dies just as the finished lesson is committed
            crashed.append(True)
            own_postgres.stop("immediate")

    event.listen(s.engine, "commit", crash_at_commit)
    try:
        with caplog.at_level(logging.INFO):
            assert unavailable(s.bot.handle(s.anna, c.PlainText("overslaan")))
    finally:
        event.remove(s.engine, "commit", crash_at_commit)
        own_postgres.start()
    assert crashed and SECRET not in caplog.text
    # Nothing half-stored: still the same draft, at the same step, with all its answers.
    assert reflection_rows(pg_url) == before
    # Not findable by others: it is not a lesson yet.
    question = c.Ask("verzamelpunt nachtelijke inzet")
    assert "Spreek vooraf" not in shown(s.bot.handle(s.bart, question))
    # The member answers again: saved once, and now found.
    assert bodies(s.bot.handle(s.anna, c.PlainText("overslaan")))
    assert_one_whole_lesson(pg_url, "Eerder opschalen")
    assert "Spreek vooraf" in shown(s.bot.handle(s.bart, question))
    # A restart agrees: the index holds exactly the one lesson.
    again = LessonIndex(SqlStore(s.engine), [], tmp_path)
    again.load()
    assert again.stats() == {"bm25": 1}
    s.engine.dispose()


def test_sqlite_locked_by_another_writer(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "leerlus.db"
    url = f"sqlite:///{path}"
    # Wait 50 ms for the lock instead of 10 s: time is a parameter.
    s = make_setup(url, tmp_path, busy_timeout_ms=50)
    start_draft(s)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        # Reading goes on (WAL): resuming the draft is answered as usual.
        assert asks(s.bot.handle(s.anna, c.StartReflection()), "improve")
        writes = [OUTAGE_ACTIONS[0], OUTAGE_ACTIONS[2], OUTAGE_ACTIONS[6]]
        caplog.clear()
        with caplog.at_level(logging.INFO):
            for command in writes:
                assert unavailable(s.bot.handle(s.anna, command)), command
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == len(writes)
        assert all("database is locked" in m for m in errors)
        assert SECRET not in caplog.text
    finally:
        other.rollback()
        other.close()
    finish_draft(s, "Eerder opschalen")
    assert_one_whole_lesson(url, "Eerder opschalen")
    s.engine.dispose()


def test_sqlite_read_only_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A database file that can only be read.

    The tests run as root, whom file modes do not stop (and an immutable attribute makes
    SQLite's shared memory fail with SIGBUS), so the file is opened in SQLite's read-only
    mode: the same "attempt to write a readonly database" error as a read-only mount.
    """
    path = tmp_path / "leerlus.db"
    s = make_setup(f"sqlite:///{path}", tmp_path)
    start_draft(s)
    s.engine.dispose()
    r = reopen(f"sqlite:///file:{path}?mode=ro&uri=true", tmp_path, s)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert unavailable(r.bot.handle(r.anna, OUTAGE_ACTIONS[0]))
        assert unavailable(r.bot.handle(r.anna, OUTAGE_ACTIONS[2]))
    errors = [m.getMessage() for m in caplog.records if m.levelno >= logging.ERROR]
    assert len(errors) == 2 and all("readonly" in m for m in errors)
    r.engine.dispose()
    # Writable again (the operator fixed the mount): the draft is whole and goes on.
    w = reopen(f"sqlite:///{path}", tmp_path, s)
    finish_draft(w, "Eerder opschalen")
    assert_one_whole_lesson(f"sqlite:///{path}", "Eerder opschalen")
    w.engine.dispose()


def test_a_bug_is_not_called_an_outage(tmp_path: Path) -> None:
    """SQLite reports a missing table as OperationalError too: that stays an error."""
    s = make_setup(f"sqlite:///{tmp_path / 'leerlus.db'}", tmp_path)
    with (
        pytest.raises(OperationalError, match="no such table") as raised,
        s.store._session() as session,
    ):
        session.execute(text("SELECT * FROM nowhere"))
    assert not isinstance(raised.value, ServiceUnavailable)
    s.engine.dispose()
