"""Transactions, concurrency, deleting a member, and time zones."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select

from bot.models import Discipline, Identity, IncidentKind, Invite, NewReflection, PromptState
from storage import SqlStore, make_engine
from storage.tables import (
    AuditRow,
    Base,
    ConversationRow,
    EmbeddingRow,
    FeedbackRow,
    IdentityRow,
    IncidentParticipantRow,
    IncidentRow,
    InviteRow,
    KudosRow,
    MemberRow,
    NoticeRow,
    PromptRow,
    ReflectionRow,
)

from .conftest import NOW, World


class Boom(Exception):
    pass


def count(engine: Engine, table: type[Base], *where: object) -> int:
    with engine.connect() as connection:
        query = select(func.count()).select_from(table).where(*where)  # type: ignore[arg-type]
        return connection.scalar(query) or 0


def test_rollback_leaves_nothing(store: SqlStore, engine: Engine) -> None:
    with pytest.raises(Boom), store.transaction():
        org = store.add_org("Gemeente", "gem", Discipline.GEMEENTE)
        member = store.add_member(org.id, "Eva", Identity("console", "eva"))
        store.mark_processed("ev-1", NOW)
        store.add_notice(member.id, "hallo", NOW)
        raise Boom
    assert store.list_orgs() == []
    assert store.list_members() == []
    assert store.mark_processed("ev-1", NOW) is True  # the first record was rolled back
    assert count(engine, NoticeRow) == 0


def test_commit_on_success_and_not_before(store: SqlStore, db_url: str) -> None:
    other_engine = make_engine(db_url)
    other = SqlStore(other_engine)
    try:
        with store.transaction():
            org = store.add_org("Gemeente", "gem", Discipline.GEMEENTE)
            assert store.get_org(org.id) == org  # same transaction sees its own writes
            assert other.get_org(org.id) is None  # nothing committed yet
        assert other.get_org(org.id) == org
    finally:
        other_engine.dispose()


def test_nested_transactions_join_the_outer_one(store: SqlStore) -> None:
    with pytest.raises(Boom), store.transaction():
        with store.transaction():
            store.add_org("Gemeente", "gem", Discipline.GEMEENTE)
        # the inner block ended without error but must not have committed
        raise Boom
    assert store.list_orgs() == []


def test_calls_outside_a_transaction_commit_on_their_own(store: SqlStore, db_url: str) -> None:
    org = store.add_org("Gemeente", "gem", Discipline.GEMEENTE)
    other_engine = make_engine(db_url)
    try:
        assert SqlStore(other_engine).get_org(org.id) == org
    finally:
        other_engine.dispose()


def test_duplicate_event_inside_a_transaction_keeps_the_transaction(store: SqlStore) -> None:
    store.mark_processed("ev-1", NOW)
    with store.transaction():
        org = store.add_org("Gemeente", "gem", Discipline.GEMEENTE)
        assert store.mark_processed("ev-1", NOW) is False
        assert store.mark_processed("ev-2", NOW) is True
        store.add_member(org.id, "Eva")
    assert [m.name for m in store.list_members()] == ["Eva"]
    assert store.mark_processed("ev-2", NOW) is False


def test_mark_processed_under_concurrency(store: SqlStore) -> None:
    threads = 6
    barrier = threading.Barrier(threads)
    results: list[bool] = []
    errors: list[BaseException] = []

    def race() -> None:
        try:
            barrier.wait(timeout=30)
            results.append(store.mark_processed("slack:same-event", NOW))
        except BaseException as error:  # surfaced below; a thread cannot fail the test itself
            errors.append(error)

    workers = [threading.Thread(target=race) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []
    assert sorted(results) == [False] * (threads - 1) + [True]


def test_delete_member_removes_all_their_data(
    store: SqlStore, world: World, engine: Engine
) -> None:
    a, b, c = world.author, world.colleague, world.outsider
    incident = store.add_incident(
        world.fire.id, "Brand", IncidentKind.INCIDENT, NOW, NOW, [a.id, b.id], created_by=a.id
    )
    mine = [
        store.add_reflection(
            NewReflection(org_id=a.org_id, member_id=a.id, lesson=str(i), draft=d), NOW
        )
        for i, d in enumerate([False, False, True])
    ]
    theirs = store.add_reflection(NewReflection(org_id=b.org_id, member_id=b.id, lesson="b"), NOW)
    for r in [*mine, theirs]:
        store.save_embedding(r.id, "e5", f"h{r.id}", b"\x00" * 8)
    store.add_kudos(a.id, b.id, "given", NOW)
    store.add_kudos(c.id, a.id, "received", NOW, reflection_id=mine[0].id)
    kept = store.add_kudos(c.id, b.id, "kept", NOW, reflection_id=theirs.id)
    store.add_feedback(a.id, theirs.id, True, NOW)
    store.add_feedback(c.id, mine[0].id, True, NOW)
    store.add_feedback(c.id, theirs.id, True, NOW)
    store.add_identity(a.id, Identity("telegram", "7"))
    prompt = store.add_prompt(incident.id, a.id, NOW, NOW)
    store.update_prompt(prompt.id, NOW, state=PromptState.ANSWERED, reflection_id=mine[0].id)
    store.add_prompt(incident.id, b.id, NOW, NOW)
    store.save_conversation(store.get_conversation(a.id))
    store.add_notice(a.id, "hallo", NOW)
    store.add_audit(a.id, "reflection.add", "reflection:1", NOW)
    store.add_invite(Invite("CODE", a.org_id, a.id, NOW + timedelta(days=1), 3))

    deleted = store.delete_member(a.id)

    assert deleted == [r.id for r in mine]
    assert store.get_member(a.id) is None
    assert store.member_by_identity(Identity("slack", "UANNA")) is None
    assert count(engine, MemberRow, MemberRow.id == a.id) == 0
    assert count(engine, ReflectionRow) == 1
    assert count(engine, EmbeddingRow) == 1
    assert count(engine, IdentityRow, IdentityRow.member_id == a.id) == 0
    assert count(engine, KudosRow) == 1 and store.kudos_received(b.id) == [kept]
    assert count(engine, FeedbackRow) == 1
    assert count(engine, FeedbackRow, FeedbackRow.member_id == a.id) == 0
    assert count(engine, IncidentParticipantRow) == 1
    assert (
        count(engine, PromptRow) == 1 and count(engine, PromptRow, PromptRow.member_id == a.id) == 0
    )
    assert count(engine, ConversationRow) == 0
    assert count(engine, NoticeRow) == 0
    # the trail stays, without the actor
    assert (
        count(engine, AuditRow) == 1 and count(engine, AuditRow, AuditRow.actor_id.is_(None)) == 1
    )
    assert count(engine, IncidentRow, IncidentRow.created_by.is_(None)) == 1
    assert count(engine, InviteRow, InviteRow.created_by.is_(None)) == 1
    remaining = store.get_incident(incident.id)
    assert remaining is not None and remaining.participant_ids == (b.id,)
    assert store.delete_member(a.id) == []  # already gone


def test_delete_member_rolls_back_with_its_transaction(store: SqlStore, world: World) -> None:
    store.add_reflection(NewReflection(org_id=world.fire.id, member_id=world.author.id), NOW)
    with pytest.raises(Boom), store.transaction():
        assert len(store.delete_member(world.author.id)) == 1
        raise Boom
    assert store.get_member(world.author.id) == world.author
    assert len(store.reflections_of(world.author.id)) == 1


def test_returned_datetimes_are_utc_aware(store: SqlStore, world: World) -> None:
    local = datetime(2024, 7, 1, 14, 30, tzinfo=ZoneInfo("Europe/Amsterdam"))
    naive = datetime(2024, 7, 1, 12, 30)  # naive input is taken as UTC
    incident = store.add_incident(
        world.fire.id, "Brand", IncidentKind.INCIDENT, local, naive, [world.author.id]
    )
    reflection = store.add_reflection(
        NewReflection(org_id=world.fire.id, member_id=world.author.id, incident_id=incident.id),
        local,
    )
    kudos = store.add_kudos(world.colleague.id, world.author.id, "dank", local)
    prompt = store.add_prompt(incident.id, world.author.id, local, local)
    store.update_prompt(prompt.id, local, sent_at=local, reminded_at=naive, answered_at=local)
    store.add_invite(Invite("C", world.fire.id, None, local, 1))
    fetched_incident = store.get_incident(incident.id)
    fetched_reflection = store.get_reflection(reflection.id)
    fetched_prompt = store.get_prompt(prompt.id)
    invite = store.get_invite("C")
    [lesson] = store.lessons_since(world.outsider, local - timedelta(seconds=1))
    [received] = store.kudos_received(world.author.id)
    assert fetched_incident and fetched_reflection and fetched_prompt and invite
    values = [
        fetched_incident.occurred_at,
        fetched_incident.created_at,
        fetched_reflection.created_at,
        fetched_reflection.updated_at,
        lesson.created_at,
        lesson.incident_date,
        received.created_at,
        fetched_prompt.due_at,
        fetched_prompt.created_at,
        fetched_prompt.sent_at,
        fetched_prompt.reminded_at,
        fetched_prompt.answered_at,
        invite.expires_at,
        kudos.created_at,
    ]
    for value in values:
        assert value is not None
        assert value.tzinfo is not None and value.utcoffset() == timedelta(0)
        assert value == datetime(2024, 7, 1, 12, 30, tzinfo=UTC)
    # comparisons in the query use the instant, not the wall clock
    assert store.lessons_since(world.outsider, local + timedelta(seconds=1)) == []
    assert store.count_kudos_given(world.colleague.id, local.astimezone(UTC)) == 1


def test_threads_of_one_process_take_turns_on_sqlite(tmp_path: Path) -> None:
    """Read-then-write transactions from many threads never fail with 'database is locked'."""
    from concurrent.futures import ThreadPoolExecutor

    from storage import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    upgrade(engine)
    store = SqlStore(engine)
    org = store.add_org("Org", "org", Discipline.POLITIE)
    member = store.add_member(org.id, "M")

    def read_then_write(n: int) -> None:
        with store.transaction():
            store.get_conversation(member.id)
            store.add_notice(member.id, f"notice {n}", datetime.now(UTC))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(read_then_write, range(200)))
    assert len(store.take_notices(member.id)) == 200
    engine.dispose()
