"""Claiming prompts and digests on SQLite and PostgreSQL: one claimant per message."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, text

from bot.models import Incident, IncidentKind, Prompt, PromptState
from storage import SqlStore, make_engine, upgrade
from storage.db import alembic_config

from .conftest import NOW, World

LEASE = timedelta(minutes=10)
STALE = NOW - LEASE


def incident(store: SqlStore, world: World) -> Incident:
    ids = [world.author.id, world.colleague.id]
    return store.add_incident(world.fire.id, "Brand", IncidentKind.INCIDENT, NOW, NOW, ids)


def test_claim_takes_due_prompts_once(store: SqlStore, world: World) -> None:
    inc = incident(store, world)
    a, b = world.author.id, world.colleague.id
    due = [store.add_prompt(inc.id, a, NOW - timedelta(minutes=m), NOW) for m in (1, 3, 2)]
    store.add_prompt(inc.id, b, NOW + timedelta(minutes=1), NOW)  # not yet
    expired = store.add_prompt(inc.id, b, NOW - timedelta(hours=1), NOW, expires_at=NOW)
    claimed = store.claim_due_prompts(NOW, "w1", STALE, limit=2)
    assert [p.id for p in claimed] == [due[1].id, due[2].id]  # soonest due first
    assert all(
        (p.state, p.claimed_by, p.claimed_at, p.attempts) == (PromptState.SENDING, "w1", NOW, 1)
        for p in claimed
    )
    assert [p.id for p in store.claim_due_prompts(NOW, "w2", STALE)] == [due[0].id]
    assert store.claim_due_prompts(NOW, "w3", STALE) == []
    assert store.get_prompt(expired.id).state is PromptState.SCHEDULED  # expiry is its own job


def test_a_claim_takes_no_more_than_its_limit(store: SqlStore, world: World) -> None:
    # Regression: as one UPDATE … WHERE id IN (SELECT … LIMIT 5 FOR UPDATE SKIP LOCKED),
    # PostgreSQL re-ran the sub-select per row of a semi-join and claimed all 60.
    inc = incident(store, world)
    for n in range(60):
        store.add_prompt(inc.id, world.author.id, NOW - timedelta(seconds=n), NOW)
    assert len(store.claim_due_prompts(NOW, "w1", STALE, limit=5)) == 5
    assert len(store.claim_due_prompts(NOW, "w2", STALE, limit=50)) == 50
    assert len(store.claim_due_prompts(NOW, "w3", STALE, limit=50)) == 5


def test_claim_for_one_member(store: SqlStore, world: World) -> None:
    inc = incident(store, world)
    mine = store.add_prompt(inc.id, world.author.id, NOW, NOW)
    store.add_prompt(inc.id, world.colleague.id, NOW, NOW)
    claimed = store.claim_due_prompts(NOW, "console", STALE, member_id=world.author.id)
    assert [p.id for p in claimed] == [mine.id]


def test_settling_needs_the_claim_to_hold(store: SqlStore, world: World) -> None:
    inc = incident(store, world)
    prompt = store.add_prompt(inc.id, world.author.id, NOW, NOW)
    [claim] = store.claim_due_prompts(NOW, "w1", STALE)
    stranger = Prompt(**{**vars(claim), "claimed_by": "w2"})
    assert not store.finish_prompt_claim(stranger, state=PromptState.SENT)
    with pytest.raises(TypeError):
        store.finish_prompt_claim(claim, answered_at=NOW)
    assert store.finish_prompt_claim(claim, state=PromptState.SENT, sent_at=NOW, last_error=None)
    assert not store.finish_prompt_claim(claim, state=PromptState.SENT)  # already settled
    sent = store.get_prompt(prompt.id)
    assert (sent.state, sent.sent_at, sent.attempts) == (PromptState.SENT, NOW, 1)


def test_a_stale_claim_is_taken_over_and_fences_off_the_old_one(
    store: SqlStore, world: World
) -> None:
    inc = incident(store, world)
    store.add_prompt(inc.id, world.author.id, NOW, NOW)
    [first] = store.claim_due_prompts(NOW, "w1", STALE)
    later = NOW + LEASE - timedelta(seconds=1)
    assert store.claim_due_prompts(later, "w2", later - LEASE) == []  # still fresh
    later = NOW + LEASE
    [second] = store.claim_due_prompts(later, "w2", later - LEASE)
    assert (second.id, second.attempts, second.claimed_by) == (first.id, 2, "w2")
    assert not store.finish_prompt_claim(first, state=PromptState.SENT)
    assert store.finish_prompt_claim(second, state=PromptState.SENT, sent_at=later)


def test_reminders_are_claimed_when_due_and_only_once(store: SqlStore, world: World) -> None:
    inc = incident(store, world)
    p = store.add_prompt(inc.id, world.author.id, NOW, NOW)
    store.update_prompt(p.id, NOW, state=PromptState.SENT, sent_at=NOW, due_at=NOW + LEASE)
    assert store.claim_due_prompts(NOW, "w1", STALE) == []
    [claim] = store.claim_due_prompts(NOW + LEASE, "w1", NOW)
    assert claim.sent_at == NOW  # the reminder: it went out before
    store.finish_prompt_claim(claim, state=PromptState.SENT, reminded_at=NOW + LEASE)
    assert store.claim_due_prompts(NOW + timedelta(days=3), "w1", NOW) == []


def test_expire_and_count_overdue_and_failing(store: SqlStore, world: World) -> None:
    inc = incident(store, world)
    a = world.author.id
    week = timedelta(days=7)
    old = store.add_prompt(inc.id, a, NOW - week, NOW - week, expires_at=NOW)
    late = store.add_prompt(inc.id, a, NOW - timedelta(hours=1), NOW, expires_at=NOW + week)
    store.add_prompt(inc.id, a, NOW + timedelta(hours=1), NOW, expires_at=NOW + week)
    answered = store.add_prompt(inc.id, a, NOW - week, NOW - week, expires_at=NOW)
    store.update_prompt(answered.id, NOW, state=PromptState.ANSWERED)
    assert store.count_overdue_prompts(NOW, NOW - timedelta(minutes=10), STALE) == 1  # `late`
    [claim] = store.claim_due_prompts(NOW, "w1", STALE)
    assert claim.id == late.id
    store.finish_prompt_claim(claim, state=PromptState.SCHEDULED, last_error="TimedOut")
    assert store.count_failing_prompts() == 1
    assert store.expire_prompts(NOW, STALE) == 1
    assert store.get_prompt(old.id).state is PromptState.EXPIRED
    assert store.get_prompt(answered.id).state is PromptState.ANSWERED
    assert store.expire_prompts(NOW, STALE) == 0


def test_prompts_for_org(store: SqlStore, world: World) -> None:
    inc = incident(store, world)
    other = store.add_incident(world.police.id, "Demo", IncidentKind.OEFENING, NOW, NOW)
    p1 = store.add_prompt(inc.id, world.author.id, NOW, NOW)
    p2 = store.add_prompt(inc.id, world.outsider.id, NOW, NOW + timedelta(seconds=1))
    store.add_prompt(other.id, world.author.id, NOW, NOW)
    store.update_prompt(p1.id, NOW, state=PromptState.SKIPPED)
    assert [p.id for p in store.prompts_for_org(world.fire.id)] == [p2.id, p1.id]
    skipped = store.prompts_for_org(world.fire.id, [PromptState.SKIPPED])
    assert [p.id for p in skipped] == [p1.id]


def test_digest_swap_is_compare_and_set(store: SqlStore, world: World) -> None:
    a = world.author
    store.update_member(world.outsider.id, digest=False)
    recipients = dict((m.id, last) for m, last in store.digest_recipients())
    assert recipients == {a.id: None, world.colleague.id: None}
    assert store.swap_last_digest(a.id, None, NOW)
    assert not store.swap_last_digest(a.id, None, NOW)  # a second process loses
    assert dict((m.id, last) for m, last in store.digest_recipients())[a.id] == NOW
    assert store.swap_last_digest(a.id, NOW, None)  # give it back after a failed send
    assert dict((m.id, last) for m, last in store.digest_recipients())[a.id] is None


@pytest.mark.postgres
def test_postgres_claims_skip_rows_locked_by_another_transaction(
    db_url: str, store: SqlStore, world: World
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks are a PostgreSQL matter; SQLite has one writer")
    inc = incident(store, world)
    for minute in range(6):
        store.add_prompt(inc.id, world.author.id, NOW - timedelta(minutes=minute), NOW)
    other = SqlStore(make_engine(db_url))
    try:
        with store.transaction():
            mine = store.claim_due_prompts(NOW, "w1", STALE, limit=3)
            # w1 has not committed: its rows are locked, and w2 takes the others at once
            with other.transaction():
                theirs = other.claim_due_prompts(NOW, "w2", STALE, limit=10)
        assert len(mine) == 3 and len(theirs) == 3
        assert not {p.id for p in mine} & {p.id for p in theirs}
    finally:
        other.engine.dispose()


def test_migration_0002_backfills_open_prompts(db_url: str) -> None:
    engine: Engine = make_engine(db_url)
    try:
        upgrade(engine, "0001")
        with engine.begin() as c:
            c.execute(
                text(
                    "INSERT INTO organisations (id, name, slug, discipline) "
                    "VALUES (1, 'Brandweer', 'bw', 'brandweer')"
                )
            )
            c.execute(
                text(
                    "INSERT INTO members (id, org_id, name, role, locale, timezone, digest,"
                    " unreachable, created_at) VALUES (1, 1, 'Anna', 'member', 'nl',"
                    " 'Europe/Amsterdam', true, false, :now)"
                ),
                {"now": NOW.replace(tzinfo=None)},
            )
            c.execute(
                text(
                    "INSERT INTO incidents (id, org_id, title, kind, occurred_at, created_at)"
                    " VALUES (1, 1, 'Brand', 'incident', :now, :now)"
                ),
                {"now": NOW.replace(tzinfo=None)},
            )
            for pid, state, sent in (
                (1, "scheduled", None),
                (2, "sent", NOW),
                (3, "skipped", None),
            ):
                c.execute(
                    text(
                        "INSERT INTO prompts (id, incident_id, member_id, due_at, state,"
                        " created_at, sent_at) VALUES (:id, 1, 1, :due, :state, :due, :sent)"
                    ),
                    {
                        "id": pid,
                        "due": NOW.replace(tzinfo=None),
                        "state": state,
                        "sent": sent.replace(tzinfo=None) if sent else None,
                    },
                )
        upgrade(engine)
        store = SqlStore(engine)
        scheduled, sent, skipped = (store.get_prompt(i) for i in (1, 2, 3))
        assert scheduled and sent and skipped
        assert (scheduled.expires_at, scheduled.due_at, scheduled.attempts) == (
            NOW + timedelta(days=7),
            NOW,
            0,
        )
        assert sent.due_at == NOW + timedelta(hours=24)  # its reminder, not at once
        assert skipped.expires_at is None
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")
    finally:
        engine.dispose()


def test_claims_skip_members_who_blocked_the_bot(store: SqlStore, world: World) -> None:
    inc = incident(store, world)
    prompt = store.add_prompt(inc.id, world.author.id, NOW - timedelta(minutes=1), NOW)
    blocked = store.update_member(world.author.id, unreachable=True)
    assert blocked.reachable is False
    assert store.claim_due_prompts(NOW, "w1", STALE) == []
    assert store.update_member(world.author.id, unreachable=False).reachable
    assert [p.id for p in store.claim_due_prompts(NOW, "w1", STALE)] == [prompt.id]
