"""Reflections, visibility (enforced in the query), anonymisation and embeddings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import IntegrityError

from bot.errors import NotFound
from bot.models import (
    Discipline,
    IncidentKind,
    LoopLevel,
    Member,
    NewReflection,
    Reflection,
    Visibility,
)
from storage import SqlStore
from storage.tables import EmbeddingRow, FeedbackRow, KudosRow

from .conftest import NOW, World


def reflect(
    store: SqlStore,
    author: Member,
    visibility: Visibility = Visibility.NETWERK,
    *,
    draft: bool = False,
    hidden: bool = False,
    lesson: str = "Oefen de overdracht",
    **fields: object,
) -> Reflection:
    new = NewReflection(
        org_id=author.org_id,
        member_id=author.id,
        went_well="Snelle alarmering",
        improve="Verbindingen",
        lesson=lesson,
        visibility=visibility,
        draft=draft,
        **fields,  # type: ignore[arg-type]
    )
    made = store.add_reflection(new, NOW)
    return store.update_reflection(made.id, NOW, hidden=True) if hidden else made


# Who sees a finished, visible reflection of the author, per visibility level.
MATRIX = {
    Visibility.PRIVE: {"author"},
    Visibility.ORGANISATIE: {"author", "colleague"},
    Visibility.NETWERK: {"author", "colleague", "outsider"},
    Visibility.ANONIEM: {"author", "colleague", "outsider"},
}


@pytest.mark.parametrize("visibility", list(Visibility))
def test_visibility_matrix(store: SqlStore, world: World, visibility: Visibility) -> None:
    finished = reflect(store, world.author, visibility)
    draft = reflect(store, world.author, visibility, draft=True)
    hidden = reflect(store, world.author, visibility, hidden=True)
    ids = [finished.id, draft.id, hidden.id, 9999]
    for who in ("author", "colleague", "outsider"):
        viewer: Member = getattr(world, who)
        seen = store.visible_lessons(viewer, ids)
        ranked = store.visible_candidates(viewer, ids)
        since = store.lessons_since(viewer, NOW - timedelta(days=1))
        expected = {finished.id} if who in MATRIX[visibility] else set()
        assert set(seen) == expected, who
        assert set(ranked) == expected, who
        assert {lesson.reflection_id for lesson in since} == expected, who
        for rid, candidate in ranked.items():  # what ranking sees is what the card shows
            lesson = seen[rid]
            assert (candidate.org_id, candidate.discipline, candidate.language) == (
                lesson.org_id,
                lesson.discipline,
                lesson.language,
            )
        if visibility == Visibility.ANONIEM and ranked:
            assert ranked[finished.id].org_id is None


def test_visibility_follows_the_viewers_organisation(store: SqlStore, world: World) -> None:
    mine = reflect(store, world.outsider, Visibility.ORGANISATIE)
    private = reflect(store, world.outsider, Visibility.PRIVE)
    assert set(store.visible_lessons(world.outsider, [mine.id, private.id])) == {
        mine.id,
        private.id,
    }
    assert store.visible_lessons(world.author, [mine.id, private.id]) == {}


def test_network_lesson_shows_author_organisation_and_incident(
    store: SqlStore, world: World
) -> None:
    occurred = NOW - timedelta(days=3)
    incident = store.add_incident(
        world.fire.id, "Brand Oudegracht", IncidentKind.INCIDENT, occurred, NOW, [world.author.id]
    )
    made = reflect(
        store,
        world.author,
        title="Overdracht",
        incident_id=incident.id,
        themes=("nazorg", "techniek"),
        language="en",
    )
    lesson = store.visible_lessons(world.outsider, [made.id])[made.id]
    assert (lesson.org_id, lesson.org_name) == (world.fire.id, "Brandweer Utrecht")
    assert (lesson.author_id, lesson.author_name) == (world.author.id, "Anna de Vries")
    assert lesson.discipline is Discipline.BRANDWEER
    assert (lesson.incident_title, lesson.incident_date) == ("Brand Oudegracht", occurred)
    assert lesson.title == "Overdracht"
    assert (lesson.lesson, lesson.went_well, lesson.improve) == (
        "Oefen de overdracht",
        "Snelle alarmering",
        "Verbindingen",
    )
    assert lesson.themes == ("nazorg", "techniek")
    assert lesson.language == "en"
    assert lesson.visibility is Visibility.NETWERK
    assert lesson.created_at == NOW


@pytest.mark.parametrize("who", ["author", "colleague", "outsider"])
def test_anonymous_lessons_hide_author_and_organisation_for_everyone(
    store: SqlStore, world: World, who: str
) -> None:
    made = reflect(store, world.author, Visibility.ANONIEM)
    lesson = store.visible_lessons(getattr(world, who), [made.id])[made.id]
    assert (lesson.org_id, lesson.org_name, lesson.author_id, lesson.author_name) == (None,) * 4
    assert lesson.discipline is Discipline.BRANDWEER
    assert lesson.visibility is Visibility.ANONIEM
    [since] = store.lessons_since(getattr(world, who), NOW)
    assert since == lesson


def test_anonymous_lessons_drop_what_points_at_their_source(store: SqlStore, world: World) -> None:
    """The incident's title names places and organisations; ids and exact dates narrow too."""
    occurred = NOW - timedelta(days=3)
    incident = store.add_incident(
        world.fire.id,
        "Brand Oudegracht, Utrecht",
        IncidentKind.INCIDENT,
        occurred,
        NOW,
        [world.author.id],
    )
    made = reflect(
        store,
        world.author,
        Visibility.ANONIEM,
        incident_id=incident.id,
        external_id="bw-utrecht-17",
    )
    lesson = store.visible_lessons(world.outsider, [made.id])[made.id]
    assert (lesson.incident_title, lesson.incident_date, lesson.external_id) == (None,) * 3
    assert lesson.created_at == NOW.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    assert "Oudegracht" not in repr(lesson) and "bw-utrecht" not in repr(lesson)


def test_imported_lesson_without_member_or_incident(store: SqlStore, world: World) -> None:
    made = store.add_reflection(
        NewReflection(
            org_id=world.police.id,
            member_id=None,
            lesson="Imported",
            external_id="ext-1",
            source="archive.jsonl",
            created_at=NOW - timedelta(days=400),
        ),
        NOW,
    )
    assert made.created_at == NOW - timedelta(days=400)
    assert made.updated_at == NOW
    assert store.reflection_by_external_id("ext-1") == made
    assert store.reflection_by_external_id("ext-2") is None
    lesson = store.visible_lessons(world.author, [made.id])[made.id]
    assert (lesson.author_id, lesson.author_name) == (None, None)
    assert lesson.org_name == "Politie Midden"
    assert (lesson.incident_title, lesson.incident_date) == (None, None)
    assert lesson.external_id == "ext-1"
    with pytest.raises(IntegrityError):
        store.add_reflection(
            NewReflection(org_id=world.police.id, member_id=None, external_id="ext-1"), NOW
        )


def test_lessons_since_is_newest_first_and_limited(store: SqlStore, world: World) -> None:
    made = [
        store.add_reflection(
            NewReflection(
                org_id=world.fire.id,
                member_id=world.author.id,
                lesson=str(days),
                created_at=NOW - timedelta(days=days),
            ),
            NOW,
        )
        for days in (5, 1, 3, 10)
    ]
    since = store.lessons_since(world.outsider, NOW - timedelta(days=5))
    assert [lesson.lesson for lesson in since] == ["1", "3", "5"]
    assert [
        x.lesson for x in store.lessons_since(world.outsider, NOW - timedelta(days=9), limit=2)
    ] == ["1", "3"]
    assert len(made) == 4


def test_add_and_get_reflection(store: SqlStore, world: World) -> None:
    made = reflect(
        store,
        world.author,
        Visibility.ORGANISATIE,
        loop_level=LoopLevel.NETWERK,
        themes=("communicatie",),
        draft=True,
        draft_step="improve",
    )
    assert made.visibility is Visibility.ORGANISATIE
    assert made.loop_level is LoopLevel.NETWERK
    assert made.themes == ("communicatie",)
    assert (made.draft, made.draft_step, made.hidden, made.thanks) == (True, "improve", False, None)
    assert (made.created_at, made.updated_at) == (NOW, NOW)
    assert store.get_reflection(made.id) == made
    assert store.get_reflection(9999) is None


def test_update_reflection(store: SqlStore, world: World) -> None:
    made = reflect(store, world.author, draft=True, draft_step="went_well")
    later = NOW + timedelta(minutes=5)
    updated = store.update_reflection(
        made.id,
        later,
        draft=False,
        draft_step=None,
        visibility=Visibility.ANONIEM,
        loop_level=LoopLevel.SAMENLEVING,
        themes=("nazorg",),
        thanks="@bram dank",
        lesson="Nieuw",
    )
    assert (updated.draft, updated.draft_step, updated.lesson) == (False, None, "Nieuw")
    assert updated.visibility is Visibility.ANONIEM
    assert updated.loop_level is LoopLevel.SAMENLEVING
    assert updated.themes == ("nazorg",)
    assert updated.thanks == "@bram dank"
    assert (updated.created_at, updated.updated_at) == (NOW, later)
    assert store.get_reflection(made.id) == updated
    cleared = store.update_reflection(made.id, later, loop_level=None, themes=(), hidden=True)
    assert (cleared.loop_level, cleared.themes, cleared.hidden) == (None, (), True)
    with pytest.raises(TypeError):
        store.update_reflection(made.id, later, colour="red")
    with pytest.raises(ValueError):
        store.update_reflection(made.id, later, visibility="everyone")
    with pytest.raises(NotFound):
        store.update_reflection(9999, later, lesson="x")


def test_drafts_and_own_reflections(store: SqlStore, world: World) -> None:
    assert store.current_draft(world.author.id) is None
    finished = reflect(store, world.author)
    first = reflect(store, world.author, draft=True)
    second = reflect(store, world.author, draft=True)
    reflect(store, world.colleague, draft=True)
    assert store.current_draft(world.author.id) == second
    store.update_reflection(first.id, NOW + timedelta(minutes=1), improve="more")
    current = store.current_draft(world.author.id)
    assert current is not None and current.id == first.id
    assert [r.id for r in store.reflections_of(world.author.id)] == [finished.id]
    assert {r.id for r in store.reflections_of(world.author.id, drafts=True)} == {
        finished.id,
        first.id,
        second.id,
    }


def count(engine: Engine, table: type) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(table)) or 0


def test_delete_reflection(store: SqlStore, world: World, engine: Engine) -> None:
    made = reflect(store, world.author)
    store.save_embedding(made.id, "e5", "h1", b"\x00" * 8)
    store.add_feedback(world.outsider.id, made.id, True, NOW)
    kudos = store.add_kudos(world.outsider.id, world.author.id, "dank", NOW, reflection_id=made.id)
    store.delete_reflection(made.id)
    assert store.get_reflection(made.id) is None
    assert (count(engine, EmbeddingRow), count(engine, FeedbackRow)) == (0, 0)
    assert store.kudos_received(world.author.id) == [
        type(kudos)(kudos.id, kudos.giver_id, kudos.receiver_id, "dank", NOW)
    ]
    assert count(engine, KudosRow) == 1
    store.delete_reflection(made.id)  # already gone: nothing happens


def test_searchable_reflections(store: SqlStore, world: World) -> None:
    made = [reflect(store, world.author, v) for v in Visibility]
    reflect(store, world.author, draft=True)
    reflect(store, world.author, hidden=True)
    assert store.count_searchable() == 4
    assert store.searchable_reflections() == made
    assert store.searchable_reflections(after_id=made[0].id, limit=2) == made[1:3]
    assert store.searchable_reflections(after_id=made[-1].id) == []


def test_embeddings(store: SqlStore, world: World, engine: Engine) -> None:
    visible = [reflect(store, world.author, Visibility.PRIVE) for _ in range(5)]
    draft = reflect(store, world.author, draft=True)
    hidden = reflect(store, world.author, hidden=True)
    for r in [*visible, draft, hidden]:
        store.save_embedding(r.id, "e5", f"hash-{r.id}", bytes([r.id % 256]) * 8)
        store.save_embedding(r.id, "minilm", f"hash-{r.id}", b"\x01" * 4)
    # replacing keeps one row per (reflection, model)
    store.save_embedding(visible[0].id, "e5", "new-hash", b"\x02" * 8)
    assert count(engine, EmbeddingRow) == 14
    assert store.embeddings_by_hash("e5", ["new-hash", f"hash-{draft.id}", "nope"]) == {
        "new-hash": b"\x02" * 8,
        f"hash-{draft.id}": bytes([draft.id % 256]) * 8,
    }
    assert store.embeddings_by_hash("e5", []) == {}
    assert store.embeddings_by_hash("other", ["new-hash"]) == {}
    got = list(store.iter_embeddings("e5", batch=2))
    assert [rid for rid, _ in got] == [r.id for r in visible]
    assert got[0][1] == b"\x02" * 8
    assert all(vector == b"\x01" * 4 for _, vector in store.iter_embeddings("minilm"))
    assert list(store.iter_embeddings("unknown")) == []


def test_lessons_by_id_are_read_by_primary_key(
    store: SqlStore, engine: Engine, world: World
) -> None:
    """Search asks for ~1,400 candidates by id; scanning the visibility index instead cost
    80 ms among 100,000 lessons on SQLite, whose planner has no statistics by default."""
    made = [reflect(store, world.author, lesson=f"Les {n}").id for n in range(30)]
    statements: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert set(store.visible_candidates(world.outsider, made)) == set(made)
        assert set(store.visible_lessons(world.outsider, made)) == set(made)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    by_id = [(sql, params) for sql, params in statements if "reflections.id IN" in sql]
    assert len(by_id) == 2
    if engine.dialect.name != "sqlite":
        return  # PostgreSQL plans from its statistics (kept by autovacuum)
    with engine.connect() as conn:
        for sql, params in by_id:
            plan = " ".join(
                row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)
            )
            assert "reflections USING INTEGER PRIMARY KEY" in plan, plan
