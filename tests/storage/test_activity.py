"""Kudos, prompts, feedback, conversations, invites, notices and the audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from bot.errors import LimitReached, NotFound
from bot.models import Conversation, IncidentKind, Invite, Kudos, NewReflection, PromptState
from storage import SqlStore
from storage.tables import AuditRow, FeedbackRow

from .conftest import NOW, World


def test_kudos(store: SqlStore, world: World) -> None:
    a, b, c = world.author, world.colleague, world.outsider
    incident = store.add_incident(world.fire.id, "Brand", IncidentKind.INCIDENT, NOW, NOW)
    first = store.add_kudos(b.id, a.id, "Goed overzicht", NOW - timedelta(days=2))
    second = store.add_kudos(c.id, a.id, "Dank", NOW, incident_id=incident.id)
    third = store.add_kudos(b.id, c.id, "Top", NOW - timedelta(hours=1))
    assert second == Kudos(second.id, c.id, a.id, "Dank", NOW, incident_id=incident.id)
    assert store.kudos_received(a.id) == [second, first]
    assert store.kudos_received(a.id, since=NOW - timedelta(days=1)) == [second]
    assert store.kudos_given(b.id) == [third, first]
    assert store.count_kudos_given(b.id, NOW - timedelta(days=1)) == 1
    assert store.count_kudos_given(b.id, NOW - timedelta(days=2)) == 2  # `since` is inclusive
    assert store.count_kudos_given(a.id, NOW - timedelta(days=9)) == 0


def test_prompts(store: SqlStore, world: World) -> None:
    a = world.author
    incident = store.add_incident(world.fire.id, "Brand", IncidentKind.INCIDENT, NOW, NOW, [a.id])
    later = store.add_prompt(incident.id, a.id, NOW + timedelta(hours=5), NOW)
    sooner = store.add_prompt(incident.id, a.id, NOW + timedelta(hours=2), NOW)
    assert sooner.state is PromptState.SCHEDULED
    assert (sooner.created_at, sooner.sent_at, sooner.reflection_id) == (NOW, None, None)
    assert store.get_prompt(sooner.id) == sooner
    assert store.get_prompt(9999) is None
    assert store.prompts_of(a.id) == [sooner, later]
    sent = store.update_prompt(sooner.id, NOW, state=PromptState.SENT, sent_at=NOW)
    assert (sent.state, sent.sent_at) == (PromptState.SENT, NOW)
    assert store.prompts_of(a.id, [PromptState.SCHEDULED]) == [later]
    assert store.prompts_of(a.id, [PromptState.SENT, PromptState.SCHEDULED]) == [sent, later]
    assert store.prompts_of(a.id, []) == []
    assert store.prompts_of(world.colleague.id) == []
    r = store.add_reflection(NewReflection(org_id=a.org_id, member_id=a.id, lesson="x"), NOW)
    answered = store.update_prompt(
        sooner.id,
        NOW,
        state=PromptState.ANSWERED,
        answered_at=NOW,
        reflection_id=r.id,
        reminded_at=NOW - timedelta(hours=1),
    )
    assert (answered.state, answered.reflection_id) == (PromptState.ANSWERED, r.id)
    assert answered.reminded_at == NOW - timedelta(hours=1)
    snoozed = store.update_prompt(later.id, NOW, due_at=NOW + timedelta(days=1), sent_at=None)
    assert snoozed.due_at == NOW + timedelta(days=1)
    assert store.get_prompt(later.id) == snoozed
    with pytest.raises(TypeError):
        store.update_prompt(later.id, NOW, member_id=world.colleague.id)
    with pytest.raises(ValueError):
        store.update_prompt(later.id, NOW, state="lost")
    with pytest.raises(NotFound):
        store.update_prompt(9999, NOW, state=PromptState.SKIPPED)


def test_feedback_is_one_vote_per_member(store: SqlStore, world: World, engine: Engine) -> None:
    r = store.add_reflection(NewReflection(org_id=world.fire.id, member_id=world.author.id), NOW)
    store.add_feedback(world.outsider.id, r.id, True, NOW)
    store.add_feedback(world.outsider.id, r.id, False, NOW + timedelta(minutes=1))
    store.add_feedback(world.colleague.id, r.id, True, NOW)
    with engine.connect() as connection:
        votes = connection.execute(
            select(FeedbackRow.member_id, FeedbackRow.helpful).order_by(FeedbackRow.member_id)
        ).all()
    assert [tuple(v) for v in votes] == sorted(
        [(world.outsider.id, False), (world.colleague.id, True)]
    )


def test_mark_processed_is_idempotent(store: SqlStore) -> None:
    assert store.mark_processed("slack:Ev1", NOW) is True
    assert store.mark_processed("slack:Ev1", NOW) is False
    assert store.mark_processed("slack:Ev2", NOW) is True


def test_conversation(store: SqlStore, world: World) -> None:
    a = world.author
    assert store.get_conversation(a.id) == Conversation(a.id)
    saved = Conversation(a.id, "brand?", (3, 1, 2), "reflect", {"prompt_id": "7"})
    store.save_conversation(saved)
    assert store.get_conversation(a.id) == saved
    store.save_conversation(Conversation(a.id, shown=(5,)))
    assert store.get_conversation(a.id) == Conversation(a.id, shown=(5,))
    assert store.get_conversation(world.colleague.id) == Conversation(world.colleague.id)


def test_invites(store: SqlStore, world: World) -> None:
    invite = Invite("ABC123", world.police.id, world.outsider.id, NOW + timedelta(days=7), 2)
    store.add_invite(invite)
    assert store.get_invite("ABC123") == invite
    assert store.get_invite("nope") is None
    store.use_invite("ABC123")
    got = store.get_invite("ABC123")
    assert got is not None and got.uses_left == 1
    store.use_invite("ABC123")
    with pytest.raises(LimitReached):
        store.use_invite("ABC123")
    with pytest.raises(NotFound):
        store.use_invite("nope")
    got = store.get_invite("ABC123")
    assert got is not None and got.uses_left == 0


def test_notices(store: SqlStore, world: World) -> None:
    store.add_notice(world.author.id, "tweede", NOW + timedelta(minutes=1))
    store.add_notice(world.author.id, "eerste", NOW)
    store.add_notice(world.colleague.id, "voor Bram", NOW)
    assert store.take_notices(world.author.id) == ["eerste", "tweede"]
    assert store.take_notices(world.author.id) == []
    assert store.take_notices(world.colleague.id) == ["voor Bram"]


def test_audit(store: SqlStore, world: World, engine: Engine) -> None:
    store.add_audit(world.colleague.id, "incident.add", "incident:1", NOW)
    store.add_audit(None, "import", "lessons.jsonl", NOW)
    with engine.connect() as connection:
        rows = connection.execute(
            select(AuditRow.actor_id, AuditRow.action, AuditRow.target).order_by(AuditRow.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        (world.colleague.id, "incident.add", "incident:1"),
        (None, "import", "lessons.jsonl"),
    ]
