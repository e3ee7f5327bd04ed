"""`vergeet` deletes everything of a member: from the database and from every index method.

One scenario on the real store (SQLite, and PostgreSQL when configured) and the real index
(BM25 and the bundled e5 encoder with faiss): Anna writes lessons (one a draft), gives and
gets kudos (also through "Bedank"), votes "Nuttig", has prompts, a conversation, notices,
two platform identities and audit entries; Bram's data points at hers. Then she says
`/vergeet` and `/ja`. One test per kind of data, each counted in the tables themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, or_, select

from bot.commands import ExportMine
from bot.handlers.ask import search
from bot.models import Discipline, Identity, IncidentKind, Member, NewReflection, Role, Visibility
from bot.replies import LessonCard, Text
from bot.service import Bot
from bot.texts import Translator
from embeddings.encoders import E5Encoder
from embeddings.index import LessonIndex
from storage import SqlStore
from storage.tables import (
    AuditRow,
    ConversationRow,
    EmbeddingRow,
    FeedbackRow,
    IdentityRow,
    IncidentParticipantRow,
    KudosRow,
    MemberRow,
    NoticeRow,
    PromptRow,
    ReflectionRow,
)
from tests.fakes import FixedClock, RecordingNotifier

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
ANNA_LESSONS = (
    ("prive", "Zet de brandweerslang vooraf klaar bij de hydrant."),
    ("organisatie", "Spreek een vaste radiofrequentie af voor de evacuatie."),
    ("netwerk", "Informeer bewoners bij een evacuatie via de wijkagent."),
    ("anoniem", "Vraag na een reanimatie altijd om nazorg voor het team."),
)
BRAM_LESSON = "Oefen het ontruimingsplan van het ziekenhuis twee keer per jaar."


@dataclass
class Scene:
    engine: Engine
    store: SqlStore
    index: LessonIndex
    bot: Bot
    anna: Member
    bram: Member
    anna_lessons: list[int]
    anna_draft: int
    bram_lesson: int
    data_dir: Path
    before: dict[str, int]  # rows of each kind before `vergeet`


def _finished(store: SqlStore, member: Member, text: str, visibility: str) -> int:
    return store.add_reflection(
        NewReflection(
            org_id=member.org_id,
            member_id=member.id,
            went_well="Samenwerking met de meldkamer",
            improve="Sneller schakelen",
            lesson=text,
            visibility=Visibility(visibility),
        ),
        NOW,
    ).id


# Each kind of data, as the rows that hold it.
ITEMS: dict[str, Callable[[Scene], Any]] = {
    "reflections": lambda s: ReflectionRow.member_id == s.anna.id,
    "drafts": lambda s: ReflectionRow.id == s.anna_draft,
    "kudos given": lambda s: KudosRow.giver_id == s.anna.id,
    "kudos received": lambda s: KudosRow.receiver_id == s.anna.id,
    "her feedback": lambda s: FeedbackRow.member_id == s.anna.id,
    "feedback on her lessons": lambda s: FeedbackRow.reflection_id.in_(s.anna_lessons),
    "embeddings": lambda s: EmbeddingRow.reflection_id.in_(s.anna_lessons),
    "identities": lambda s: or_(
        IdentityRow.member_id == s.anna.id, IdentityRow.user_id.in_(["anna", "4242"])
    ),
    "prompts": lambda s: PromptRow.member_id == s.anna.id,
    "incident participation": lambda s: IncidentParticipantRow.member_id == s.anna.id,
    "conversation": lambda s: ConversationRow.member_id == s.anna.id,
    "notices": lambda s: NoticeRow.member_id == s.anna.id,
    "audit as actor": lambda s: AuditRow.actor_id == s.anna.id,
    "member": lambda s: MemberRow.id == s.anna.id,
}


@pytest.fixture(scope="module")
def scene(module_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    """The scenario, once per database: the tests only read what `vergeet` left."""
    engine, tmp_path = module_engine, tmp_path_factory.mktemp("data")
    store = SqlStore(engine)
    index = LessonIndex(store, [E5Encoder()], tmp_path)
    bot = Bot(store=store, index=index, clock=FixedClock(NOW), notifier=RecordingNotifier())
    with store.transaction():
        fire = store.add_org("Brandweer Oost", "bw-oost", Discipline.BRANDWEER)
        police = store.add_org("Politie Oost", "pol-oost", Discipline.POLITIE)
        anna = store.add_member(
            fire.id, "Anna Jansen", Identity("console", "anna"), role=Role.COORDINATOR
        )
        store.add_identity(anna.id, Identity("telegram", "4242"))
        bram = store.add_member(police.id, "Bram de Boer", Identity("console", "bram"))
        lessons = [_finished(store, anna, text, vis) for vis, text in ANNA_LESSONS]
        draft = store.add_reflection(
            NewReflection(org_id=fire.id, member_id=anna.id, went_well="Half af", draft=True),
            NOW,
        ).id
        bram_lesson = _finished(store, bram, BRAM_LESSON, "netwerk")
        incident = store.add_incident(
            fire.id, "Brand Oost", IncidentKind.INCIDENT, NOW, NOW, [anna.id, bram.id], anna.id
        )
        store.add_prompt(incident.id, anna.id, NOW + timedelta(hours=2), NOW)
        store.add_prompt(incident.id, bram.id, NOW + timedelta(hours=2), NOW)
        store.add_notice(anna.id, "Er is een bericht voor je", NOW)
        index.add(list(store.reflections_by_id([*lessons, bram_lesson]).values()))
    anna = store.get_member(anna.id) or anna
    say = bot.handle_text
    say(anna, "/kudos @console:bram Dank voor de hulp bij de brand")
    say(bram, "/kudos @console:anna Fijn samengewerkt")
    for rid in lessons[2:]:  # the network and the anonymous one
        say(bram, f"/bedank {rid} Hier had ik veel aan")
        say(bram, f"/nuttig {rid}")
    say(anna, f"/nuttig {bram_lesson}")
    say(anna, f"/bedank {bram_lesson}")
    say(anna, "/vraag ontruimingsplan ziekenhuis")  # a conversation with a last question
    bot.handle(anna, ExportMine())  # an audit entry with Anna as the actor
    scene = Scene(engine, store, index, bot, anna, bram, lessons, draft, bram_lesson, tmp_path, {})
    scene.before = {name: _count(engine, where(scene)) for name, where in ITEMS.items()}
    scene.before["found by Bram"] = len(_found(scene, bram))
    say(anna, "/vergeet")
    replies = say(anna, "/ja")
    # Her four lessons and the draft.
    assert replies == [Text(Translator("nl")("forget.done", count=len(ANNA_LESSONS) + 1))]
    yield scene


def _found(scene: Scene, viewer: Member) -> set[int]:
    """Her lessons that searching for the two Bram may see finds (as `leerlus ask` does)."""
    found: set[int] = set()
    for _, text in ANNA_LESSONS[2:]:
        with scene.store.transaction():
            hits = search(
                text, viewer, store=scene.store, index=scene.index, config=scene.bot.ranking
            )
        found |= {h.lesson.reflection_id for h in hits} & set(scene.anna_lessons)
    return found


def _count(engine: Engine, condition: Any) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).where(condition)) or 0)


@pytest.mark.parametrize("item", list(ITEMS))
def test_forget_deletes_from_the_database(scene: Scene, item: str) -> None:
    assert scene.before[item] > 0  # the scenario had this kind of data
    assert _count(scene.engine, ITEMS[item](scene)) == 0


def test_others_keep_their_own_data(scene: Scene) -> None:
    bram = scene.bram
    assert _count(scene.engine, ReflectionRow.id == scene.bram_lesson) == 1
    assert _count(scene.engine, PromptRow.member_id == bram.id) == 1
    assert _count(scene.engine, IdentityRow.member_id == bram.id) == 1
    assert _count(scene.engine, MemberRow.id == bram.id) == 1


def test_forget_is_audited_by_member_id_only(scene: Scene) -> None:
    entries = scene.store.audit_entries(100)
    forget = [e for e in entries if e.action == "member.forget"]
    assert [(e.actor_id, e.target, e.via) for e in forget] == [
        (None, f"member:{scene.anna.id}", "chat")
    ]
    # Her export is still on record, but no longer as hers, and nothing names her.
    assert any(e.action == "member.export" and e.actor_id is None for e in entries)
    trail = " ".join(f"{e.action} {e.target}" for e in entries)
    assert "Anna" not in trail and "anna" not in trail


def test_forget_removes_her_lessons_from_every_index_method(scene: Scene) -> None:
    gone = set(scene.anna_lessons) | {scene.anna_draft}
    # Two questions per index: each asks for all her lessons, in words and in meaning.
    questions = [" ".join(text for _, text in ANNA_LESSONS), "brand evacuatie nazorg radio"]
    for index in (scene.index, LessonIndex(scene.store, [E5Encoder()], scene.data_dir)):
        assert set(index.methods) == {"bm25", "e5"}
        for question in questions:
            found = index.rankings(question, 50)
            for method, ranking in found.items():
                assert not gone & {rid for rid, _ in ranking}, method
            # Bram's lesson is still found: the index works, it just forgot hers.
        assert scene.bram_lesson in {rid for rid, _ in index.rankings(BRAM_LESSON, 5)["e5"]}
        assert index.stats() == {"bm25": 1, "e5": 1}


def test_after_forget_no_search_finds_her_lessons(scene: Scene) -> None:
    bram = scene.store.get_member(scene.bram.id)
    assert bram is not None
    assert scene.before["found by Bram"] == 2  # before: her network and anonymous lesson
    assert _found(scene, bram) == set()
    replies = scene.bot.handle_text(bram, f"/vraag {ANNA_LESSONS[2][1]}")
    assert ANNA_LESSONS[2][1] not in [r.lesson for r in replies if isinstance(r, LessonCard)]
    assert scene.store.member_by_identity(Identity("telegram", "4242")) is None
