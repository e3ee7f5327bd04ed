"""LessonIndex.refresh(): one process's index follows what other processes change.

The other process is played by the store (its change log) and a second index over it;
time is a parameter (a monotonic clock the test moves).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

import embeddings.index as index_module
from bot.models import Reflection
from embeddings.index import CHECK_EVERY, GAP_TIMEOUT, STALE_AFTER, LessonIndex
from tests.embeddings.conftest import LESSONS, FakeEncoder, FakeStore, Ticker


class CountingStore(FakeStore):
    """Counts the store calls an index makes (each is one query on a real database)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    def index_changes(
        self, after: int, also: Sequence[int] = (), limit: int = 1000
    ) -> list[tuple[int, int]]:
        self.calls["index_changes"] += 1
        return super().index_changes(after, also, limit)

    def count_searchable(self) -> int:
        self.calls["count_searchable"] += 1
        return super().count_searchable()

    def reflections_by_id(self, reflection_ids: Sequence[int]) -> dict[int, Reflection]:
        self.calls["reflections_by_id"] += 1
        return super().reflections_by_id(reflection_ids)

    def searchable_reflections(self, after_id: int = 0, limit: int = 500) -> list[Reflection]:
        self.calls["searchable_reflections"] += 1
        return super().searchable_reflections(after_id, limit)


Make = Callable[..., LessonIndex]


@pytest.fixture
def store() -> CountingStore:
    store = CountingStore()
    for text in LESSONS:
        store.put(text)
    return store


@pytest.fixture
def clock() -> Ticker:
    return Ticker()


@pytest.fixture
def make(tmp_path: Path, clock: Ticker) -> Make:
    """An index in its own data directory (another process), on the shared store."""
    made = 0

    def make(store: FakeStore, *encoders: FakeEncoder, **kw: Any) -> LessonIndex:
        nonlocal made
        made += 1
        index = LessonIndex(store, list(encoders), tmp_path / f"p{made}", monotonic=clock, **kw)  # type: ignore[arg-type]
        index.load()
        return index

    return make


def found(index: LessonIndex, query: str, method: str = "bm25") -> list[int]:
    return [i for i, _ in index.rankings(query, 10)[method]]


def test_a_lesson_edited_elsewhere_is_found_by_its_new_words(
    store: CountingStore, make: Make
) -> None:
    encoder = FakeEncoder()
    index = make(store, encoder)
    assert found(index, "ventilatie") == [1]
    store.change(1, lesson="Bij een tunnelbrand de ventilator op de uitgang richten")
    assert index.refresh() == 1
    assert found(index, "ventilatie") == []
    assert found(index, "ventilator") == [1]
    # The dense index has the new vector too: the new words rank it first there.
    assert found(index, "ventilator uitgang richten", "fake")[0] == 1


def test_hiding_one_while_unhiding_another_is_seen(store: CountingStore, make: Make) -> None:
    store.change(5, hidden=True)
    index = make(store, FakeEncoder())
    assert 5 not in found(index, "nazorg vrijwilligers")
    # The number of lessons stays the same: a count alone would miss both.
    store.change(5, hidden=False)
    store.change(3, hidden=True)
    assert index.refresh() == 2
    assert found(index, "nazorg vrijwilligers") == [5]
    assert 3 not in found(index, "portofoons kelder repeater", "fake")
    assert 3 not in found(index, "portofoons kelder repeater")


def test_deleted_and_new_lessons(store: CountingStore, make: Make) -> None:
    index = make(store, FakeEncoder())
    store.drop(2)
    new = store.put("Tunnelbrand: wacht op de tunnelbeheerder voor je de buis in gaat")
    assert index.refresh() == 2
    assert 2 not in found(index, "tunnel smoke", "fake") and 2 not in found(index, "smoke")
    assert found(index, "tunnelbeheerder") == [new.id]
    assert index.stats() == {"bm25": 5, "fake": 5}


def test_nothing_changed_costs_one_small_query(
    store: CountingStore, make: Make, clock: Ticker
) -> None:
    index = make(store, FakeEncoder())
    store.calls.clear()
    clock.now += 1
    assert index.refresh() == 0
    assert store.calls == Counter(index_changes=1)
    # Once a minute it also compares the number of lessons: a second small query.
    clock.now += CHECK_EVERY
    assert index.refresh() == 0
    assert store.calls == Counter(index_changes=2, count_searchable=1)


def test_own_changes_are_not_applied_twice(store: CountingStore, make: Make) -> None:
    encoder = FakeEncoder()
    index = make(store, encoder)
    index.add([store.put("Een eigen les over de waterwinning")])
    index.remove([4])
    store.drop(4)
    calls, saved = encoder.calls, store.saved
    assert index.refresh() == 0
    assert (encoder.calls, store.saved) == (calls, saved)
    # But a later change to the same lesson by another process is.
    store.change(6, lesson="Waterwinning: open water eerst verkennen")
    assert index.refresh() == 1
    assert found(index, "verkennen") == [6]


def test_reuses_the_vector_the_other_process_stored(store: CountingStore, make: Make) -> None:
    mine, theirs = FakeEncoder(), FakeEncoder()
    index, other = make(store, mine), make(store, theirs)
    new = store.put("Les over de repeater in de parkeergarage")
    other.add([new])
    assert theirs.encoded[-1] == new.search_text()
    assert index.refresh() == 1
    assert new.search_text() not in mine.encoded
    assert found(index, "parkeergarage repeater", "fake")[0] == new.id


def test_an_entry_of_a_transaction_still_open_is_picked_up_when_it_commits(
    store: CountingStore, make: Make
) -> None:
    index = make(store, FakeEncoder())
    slow = store.put("Lange import: een les die pas later zichtbaar wordt")
    # Its entry id is taken, but its transaction is not committed yet: nobody sees either.
    uncommitted = store.reflections.pop(slow.id)
    store.changes[-1] = None
    quick = store.put("Een snelle les over de meldkamer")
    assert index.refresh() == 1
    assert found(index, "meldkamer") == [quick.id] and found(index, "import") == []
    store.reflections[slow.id] = uncommitted  # the transaction commits
    store.changes[-2] = slow.id
    assert index.refresh() == 1
    assert found(index, "import") == [slow.id]
    store.calls.clear()
    assert index.refresh() == 0
    assert store.calls == Counter(index_changes=1)


def test_a_gap_is_awaited_at_most_gap_timeout(
    store: CountingStore, make: Make, clock: Ticker, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = make(store, FakeEncoder())
    store.changes.append(None)  # a rolled-back transaction: the entry never comes
    store.put("Een les na de teruggedraaide transactie")
    asked: list[Sequence[int]] = []
    original = store.index_changes

    def spy(after: int, also: Sequence[int] = (), limit: int = 1000) -> list[tuple[int, int]]:
        asked.append(list(also))
        return original(after, also, limit)

    monkeypatch.setattr(store, "index_changes", spy)
    index.refresh()
    clock.now += GAP_TIMEOUT
    index.refresh()
    clock.now += 1
    index.refresh()
    gap = len(LESSONS) + 1
    assert asked == [[], [gap], []]


def test_a_load_awaits_the_open_transactions_it_could_not_see(
    store: CountingStore, make: Make
) -> None:
    slow = store.put("Een les uit een transactie die nog loopt")
    uncommitted = store.reflections.pop(slow.id)
    store.changes[-1] = None
    store.put("Een les die al bewaard is")
    index = make(store)  # loads now: the slow lesson is not in the database yet
    assert found(index, "transactie") == []
    store.reflections[slow.id] = uncommitted
    store.changes[-2] = slow.id
    assert index.refresh() == 1
    assert found(index, "transactie") == [slow.id]


def test_many_changes_are_read_page_by_page(
    store: CountingStore, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "CHANGES_PAGE", 3)
    index = make(store)
    store.calls.clear()
    new = [store.put(f"les nummer {n} over de brandkraan").id for n in range(7)]
    assert index.refresh() == 7
    assert sorted(found(index, "brandkraan")) == new
    assert store.calls["index_changes"] == 3  # 3 + 3 + 1


def test_a_failed_refresh_is_retried_completely(store: CountingStore, make: Make) -> None:
    encoder = FakeEncoder()
    index = make(store, encoder)
    new = store.put("Een les die het model eerst niet kan lezen")
    encoder.dim = 32  # the next encoding fails: a vector of the wrong size
    with pytest.raises(ValueError, match="32-d"):
        index.refresh()
    encoder.dim = 64
    assert index.refresh() == 1
    assert found(index, "model lezen") == [new.id]


def test_changes_outside_the_log_are_caught_by_the_count_check(
    store: CountingStore, make: Make, clock: Ticker
) -> None:
    index = make(store, FakeEncoder())
    del store.reflections[2]  # SQL by hand: no log entry
    clock.now += 1
    assert index.refresh() == 0
    clock.now += CHECK_EVERY
    assert index.refresh() == 1
    assert 2 not in found(index, "tunnel smoke")


def test_after_a_long_pause_every_id_is_compared(
    store: CountingStore, make: Make, clock: Ticker
) -> None:
    index = make(store)
    new = store.put("Een les van lang geleden")
    store.changes.clear()  # the log was pruned meanwhile
    clock.now += STALE_AFTER + 1
    assert index.refresh() == 1
    assert found(index, "geleden") == [new.id]


def test_a_search_refreshes_an_index_older_than_the_interval(
    store: CountingStore, make: Make, clock: Ticker
) -> None:
    index = make(store, refresh_interval=1.0)
    new = store.put("De tankautospuit stond verkeerd opgesteld")
    assert found(index, "tankautospuit") == []  # refreshed just now (at load)
    clock.now += 1.0
    assert found(index, "tankautospuit") == [new.id]
    without = make(store)  # no interval: searches never refresh by themselves
    newer = store.put("De hoogwerker kwam te laat")
    clock.now += 100
    assert found(without, "hoogwerker") == []
    assert found(index, "hoogwerker") == [newer.id]


def test_a_failing_refresh_before_a_search_still_answers(
    store: CountingStore, make: Make, clock: Ticker, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = make(store, refresh_interval=1.0)

    def down(*args: object, **kw: object) -> list[tuple[int, int]]:
        raise ConnectionError("database away")

    monkeypatch.setattr(store, "index_changes", down)
    clock.now += 5
    assert found(index, "ventilatie") == [1]


def test_an_own_change_undone_by_the_count_check_comes_back_with_its_commit(
    store: CountingStore, make: Make, clock: Ticker
) -> None:
    index = make(store, FakeEncoder())
    # A command indexes a lesson inside its transaction, before the commit: the database
    # does not show it yet when the count check runs in another thread.
    saved = store.put("Een les uit een transactie die nog niet klaar is")
    uncommitted = store.reflections.pop(saved.id)
    store.changes[-1] = None
    index.add([saved])
    clock.now += CHECK_EVERY
    assert index.refresh() == 1  # the count check took it out again
    assert found(index, "transactie klaar") == []
    store.reflections[saved.id] = uncommitted  # the commit
    store.changes[-1] = saved.id
    clock.now += 1
    assert index.refresh() == 1
    assert found(index, "transactie klaar") == [saved.id]
