"""Two indexes, each on its own engine (as in two processes), over one real database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot.models import NewReflection
from embeddings.index import LessonIndex
from storage import SqlStore, make_engine
from tests.embeddings.conftest import FakeEncoder
from tests.storage.conftest import NOW, World


@dataclass
class Process:
    """What one process has: its own engine, store and index (with its own files)."""

    engine: Engine
    store: SqlStore
    index: LessonIndex

    def found(self, query: str, method: str = "bm25") -> list[int]:
        return [i for i, _ in self.index.rankings(query, 10)[method]]


@pytest.fixture
def processes(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[tuple[Process, Process]]:
    made: list[Process] = []
    for name in ("a", "b"):
        own = make_engine(db_url)
        store = SqlStore(own)
        index = LessonIndex(store, [FakeEncoder()], tmp_path / name)
        index.load()
        made.append(Process(own, store, index))
    yield made[0], made[1]
    for process in made:
        process.engine.dispose()


def lesson(world: World, text: str, member_id: int | None = None) -> NewReflection:
    return NewReflection(world.fire.id, member_id or world.author.id, lesson=text)


def test_b_sees_what_a_adds_edits_hides_and_forgets(
    processes: tuple[Process, Process], world: World
) -> None:
    a, b = processes
    saved = a.store.add_reflection(lesson(world, "Zet de hoogwerker bovenwinds op"), NOW)
    a.index.add([saved])
    other = a.store.add_reflection(
        lesson(world, "Meld de hoogwerker bij de meldkamer", world.colleague.id), NOW
    )
    a.index.add([other])
    assert b.found("hoogwerker") == []
    assert b.index.refresh() == 2
    assert sorted(b.found("hoogwerker")) == [saved.id, other.id]
    # B reused the vectors A stored instead of encoding the lessons again.
    assert saved.lesson not in b.index._dense["fake"].encoder.encoded  # type: ignore[attr-defined]
    assert b.found("hoogwerker bovenwinds", "fake")[0] == saved.id

    edited = a.store.update_reflection(saved.id, NOW, lesson="Zet de autoladder bovenwinds op")
    a.index.add([edited])
    assert b.index.refresh() == 1
    assert b.found("hoogwerker") == [other.id] and b.found("autoladder") == [saved.id]

    a.store.update_reflection(other.id, NOW, hidden=True)
    a.index.remove([other.id])
    assert b.index.refresh() == 1
    assert b.found("hoogwerker") == [] and other.id not in b.found("meldkamer", "fake")

    a.index.remove(a.store.delete_member(world.author.id))
    assert b.index.refresh() == 1
    assert b.found("autoladder") == [] and b.index.stats() == {"bm25": 0, "fake": 0}
    assert a.index.refresh() == 0  # A's own changes, already applied


@pytest.mark.postgres
def test_a_change_committed_late_is_not_lost(
    processes: tuple[Process, Process], world: World, db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: no later id can commit first")
    a, b = processes
    third = SqlStore(make_engine(db_url))  # a third process, writing meanwhile
    try:
        with a.store.transaction():
            slow = a.store.add_reflection(lesson(world, "Een import die lang duurt"), NOW)
            quick = third.add_reflection(lesson(world, "Een snelle les over de duikers"), NOW)
            # The quick entry has the higher id and is committed first.
            assert b.index.refresh() == 1
            assert b.found("duikers") == [quick.id]
        assert b.found("import") == []
        assert b.index.refresh() == 1
        assert b.found("import") == [slow.id]
    finally:
        third.engine.dispose()


def test_a_refresh_never_deadlocks_with_a_command_that_indexes(
    db_url: str, store: SqlStore, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("only SQLite takes turns inside the process (a lock beside the index's)")
    index = LessonIndex(store, [FakeEncoder()], tmp_path / "one")
    index.load()
    refresher: list[threading.Thread] = []
    waiting = threading.Event()
    original = store.transaction

    def spy() -> AbstractContextManager[None]:
        if threading.current_thread() in refresher:
            waiting.set()  # the refresh is about to wait for the command's transaction
        return original()

    monkeypatch.setattr(store, "transaction", spy)
    done = threading.Event()

    def command() -> None:  # what Bot.handle does: a transaction, and the index inside it
        with store.transaction():
            saved = store.add_reflection(lesson(world, "Les over de brandweerlift"), NOW)
            refresher.append(threading.Thread(target=index.refresh, daemon=True))
            refresher[0].start()
            assert waiting.wait(10)
            index.add([saved])
        done.set()

    worker = threading.Thread(target=command, daemon=True)
    worker.start()
    worker.join(timeout=20)
    refresher[0].join(timeout=20)
    assert done.is_set() and not refresher[0].is_alive()
    assert index.stats() == {"bm25": 1, "fake": 1}
