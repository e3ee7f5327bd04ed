"""The index change log in the store: written with every change that matters to a search
index, in the same transaction, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from bot.models import NewReflection
from storage import SqlStore
from tests.storage.conftest import NOW, World


def logged(store: SqlStore, after: int = 0) -> list[int]:
    """The reflection ids of the log entries after `after`, in order."""
    return [r for _, r in store.index_changes(after)]


def new(
    world: World, lesson: str = "Neem een reserveset portofoons mee", **kw: object
) -> NewReflection:
    return NewReflection(world.fire.id, world.author.id, lesson=lesson, **kw)  # type: ignore[arg-type]


def test_an_empty_log(store: SqlStore) -> None:
    assert store.last_index_change() == 0
    assert store.index_changes(0) == []


def test_finished_reflections_are_logged_drafts_only_when_they_become_lessons(
    store: SqlStore, world: World
) -> None:
    lesson = store.add_reflection(new(world), NOW)
    assert logged(store) == [lesson.id]
    start = store.last_index_change()
    draft = store.add_reflection(new(world, "", draft=True, draft_step="went_well"), NOW)
    store.update_reflection(draft.id, NOW, went_well="De afzetting stond snel")
    assert logged(store, start) == []  # a draft is in no index
    store.update_reflection(draft.id, NOW, draft=False, lesson="Oefen de afzetting vaker")
    assert logged(store, start) == [draft.id]


def test_edit_hide_unhide_and_delete_are_logged(store: SqlStore, world: World) -> None:
    first = store.add_reflection(new(world), NOW)
    second = store.add_reflection(new(world, "Meld je bij de officier van dienst"), NOW)
    start = store.last_index_change()
    store.update_reflection(first.id, NOW, lesson="Neem twee reservesets mee")
    store.update_reflection(second.id, NOW, hidden=True)
    store.update_reflection(second.id, NOW, hidden=False)
    store.delete_reflection(first.id)
    assert logged(store, start) == [first.id, second.id, second.id, first.id]
    assert store.last_index_change() == store.index_changes(start)[-1][0]


def test_forgetting_a_member_logs_each_of_their_reflections(store: SqlStore, world: World) -> None:
    mine = [store.add_reflection(new(world, f"les {n}"), NOW).id for n in range(3)]
    other = store.add_reflection(
        NewReflection(world.fire.id, world.colleague.id, lesson="van Bram"), NOW
    )
    start = store.last_index_change()
    assert store.delete_member(world.author.id) == mine
    assert sorted(logged(store, start)) == mine
    assert other.id not in logged(store, start)


def test_an_entry_rolls_back_with_its_change(store: SqlStore, world: World) -> None:
    start = store.last_index_change()
    with pytest.raises(RuntimeError), store.transaction():
        store.add_reflection(new(world), NOW)
        assert len(logged(store, start)) == 1  # visible inside the transaction
        raise RuntimeError("handler failed")
    assert logged(store, start) == []


def test_after_also_and_limit(store: SqlStore, world: World) -> None:
    ids = [store.add_reflection(new(world, f"les {n}"), NOW).id for n in range(5)]
    entries = store.index_changes(0)
    assert [r for _, r in entries] == ids
    change_ids = [c for c, _ in entries]
    assert change_ids == sorted(change_ids) and len(set(change_ids)) == 5
    assert store.index_changes(change_ids[1], limit=2) == entries[2:4]
    # `also` brings back older entries (a gap that was awaited), without a duplicate.
    assert store.index_changes(change_ids[3], also=[change_ids[0], change_ids[4]]) == [
        entries[0],
        entries[4],
    ]
    assert store.index_changes(change_ids[4], also=[10_000]) == []


def test_reflections_by_id_returns_what_exists_in_any_state(store: SqlStore, world: World) -> None:
    lesson = store.add_reflection(new(world), NOW)
    draft = store.add_reflection(new(world, "", draft=True), NOW)
    hidden = store.update_reflection(store.add_reflection(new(world), NOW).id, NOW, hidden=True)
    found = store.reflections_by_id([lesson.id, draft.id, hidden.id, 999_999])
    assert set(found) == {lesson.id, draft.id, hidden.id}
    assert found[hidden.id].hidden and found[draft.id].draft
    assert found[lesson.id].lesson == lesson.lesson


def test_prune_removes_old_entries_but_keeps_the_newest(store: SqlStore, world: World) -> None:
    old = [store.add_reflection(new(world, f"oud {n}"), NOW).id for n in range(3)]
    assert store.prune_index_changes(NOW) == 0  # nothing is older than NOW
    assert store.prune_index_changes(NOW + timedelta(days=2)) == 2
    newest = store.index_changes(0)
    assert [r for _, r in newest] == [old[-1]]
    later = store.add_reflection(new(world, "nieuw"), NOW + timedelta(days=3))
    assert store.prune_index_changes(NOW + timedelta(days=2)) == 1
    assert logged(store) == [later.id]
    assert store.index_changes(0)[0][0] > newest[0][0]  # ids only grow


@pytest.mark.postgres
def test_two_processes_storing_the_same_vector_at_once_both_succeed(
    engine: Engine, store: SqlStore, world: World
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: PostgreSQL is the multi-process database")
    lesson = store.add_reflection(new(world), NOW)
    other = SqlStore(engine)  # its own sessions, like another process
    errors: list[BaseException] = []

    def second() -> None:
        try:
            other.save_embedding(lesson.id, "m", "h2", b"\x02" * 8)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    with store.transaction():
        store.save_embedding(lesson.id, "m", "h1", b"\x01" * 8)
        thread = threading.Thread(target=second)
        thread.start()  # its INSERT waits for this transaction, then meets the unique key
        assert waits_for_a_lock(engine), "the second store never waited for the first"
        assert thread.is_alive()
    thread.join(timeout=30)
    assert errors == []
    assert store.embeddings_by_hash("m", ["h1", "h2"]) == {"h2": b"\x02" * 8}


def waits_for_a_lock(engine: Engine, limit: float = 10.0) -> bool:
    """Poll (bounded) until some PostgreSQL session waits for a lock another one holds."""
    deadline = time.monotonic() + limit
    with engine.connect() as connection:
        while time.monotonic() < deadline:
            waiting = connection.exec_driver_sql(
                "SELECT count(*) FROM pg_locks WHERE NOT granted"
            ).scalar()
            if waiting:
                return True
            time.sleep(0.01)
    return False
