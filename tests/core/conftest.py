"""A small network on the hand-written fakes: three organisations, five members."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.models import Discipline, Identity, Member, Role
from bot.replies import LessonCard, Reply, Text
from bot.service import Bot
from tests.fakes import FakeIndex, FixedClock, InMemoryStore, RecordingNotifier


@dataclass
class Net:
    bot: Bot
    store: InMemoryStore
    index: FakeIndex
    clock: FixedClock
    notifier: RecordingNotifier
    anna: Member  # politie, coordinator
    bas: Member  # politie
    piet: Member  # brandweer
    sara: Member  # ghor, English
    kim: Member  # brandweer

    def say(self, member: Member, text: str) -> list[Reply]:
        fresh = self.store.get_member(member.id) or member
        return self.bot.handle_text(fresh, text)

    def text(self, member: Member, text: str) -> str:
        """All text of the replies, joined (cards included)."""
        return "\n".join(render(r) for r in self.say(member, text))

    def reflect(
        self,
        member: Member,
        went_well: str,
        improve: str,
        lesson: str,
        visibility: str = "netwerk",
        incident: str = "",
    ) -> int:
        self.say(member, f"/reflectie {incident}".strip())
        for answer in (
            went_well,
            improve,
            lesson,
            visibility,
            "overslaan",
            "overslaan",
            "overslaan",
        ):
            self.say(member, answer)
        saved = self.store.reflections_of(member.id)
        return saved[0].id


def render(reply: Reply) -> str:
    if isinstance(reply, Text):
        return reply.body + "".join(f" [{c.label}→{c.command}]" for c in reply.choices)
    if isinstance(reply, LessonCard):
        return f"<card {reply.reflection_id} {reply.source}: {reply.lesson}>"
    return f"<form {reply.title}>"


def cards(replies: list[Reply]) -> list[LessonCard]:
    return [r for r in replies if isinstance(r, LessonCard)]


@pytest.fixture
def net() -> Net:
    store = InMemoryStore()
    politie = store.add_org("Politie Midden", "politie", Discipline.POLITIE)
    brandweer = store.add_org("Brandweer Midden", "brandweer", Discipline.BRANDWEER)
    ghor = store.add_org("GHOR Midden", "ghor", Discipline.GHOR)
    anna = store.add_member(
        politie.id, "Anna de Vries", Identity("console", "anna"), role=Role.COORDINATOR
    )
    bas = store.add_member(politie.id, "Bas Jansen", Identity("console", "bas"))
    piet = store.add_member(brandweer.id, "Piet Bakker", Identity("console", "piet"))
    sara = store.add_member(ghor.id, "Sara Smith", Identity("console", "sara"), locale="en")
    kim = store.add_member(brandweer.id, "Kim Visser", Identity("slack", "U123"))
    index = FakeIndex()
    clock = FixedClock()
    notifier = RecordingNotifier()
    bot = Bot(store=store, index=index, clock=clock, notifier=notifier)
    return Net(bot, store, index, clock, notifier, anna, bas, piet, sara, kim)
