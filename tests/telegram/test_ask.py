"""Asking in a private chat: lesson cards with Nuttig / Bedank / Meer, escaped, split."""

from __future__ import annotations

import pytest

from bot.models import Visibility
from tests.telegram.conftest import Chat, World
from tests.telegram.fake_api import FakeBotApi


def buttons(message: dict[str, object]) -> list[tuple[str, str]]:
    markup = message.get("reply_markup")
    assert isinstance(markup, dict)
    return [(b["text"], b["callback_data"]) for row in markup["inline_keyboard"] for b in row]


@pytest.mark.asyncio
async def test_a_question_is_answered_with_lesson_cards_and_buttons(
    world: World, fake: FakeBotApi, chat: Chat
) -> None:
    rid = world.lesson(
        world.anna, "Zet bij een evacuatie een vast aanspreekpunt voor bewoners neer."
    )
    answer = await chat.say(1002, "hoe communiceer je met bewoners bij een evacuatie?")
    assert answer[0].startswith("Dit leerden anderen over ‘hoe communiceer je met bewoners")
    card = fake.sent(1002)[-1]
    assert card["parse_mode"] == "HTML"
    assert "<b>Les:</b> Zet bij een evacuatie een vast aanspreekpunt" in card["text"]
    assert "Anna de Vries, Brandweer Noord" in card["text"]
    assert buttons(card) == [("Nuttig", f"/nuttig {rid}"), ("Bedank", f"/bedank {rid}"),
                             ("Meer", "/meer")]  # fmt: skip


@pytest.mark.asyncio
async def test_nuttig_bedank_and_meer_are_answered(
    world: World, fake: FakeBotApi, chat: Chat
) -> None:
    rid = world.lesson(world.anna, "Oefen de evacuatie van een zorginstelling jaarlijks.")
    await chat.say(1002, "evacuatie zorginstelling")
    labels = {f"/nuttig {rid}": "Nuttig", f"/bedank {rid}": "Bedank", "/meer": "Meer"}
    helpful = await chat.press(1002, f"/nuttig {rid}", labels=labels)
    assert helpful == ["Dank je, fijn dat deze les hielp. Dat geven we door."]
    thanked = await chat.press(1002, f"/bedank {rid}", labels=labels)
    assert thanked == ["Je dank is doorgegeven aan Anna de Vries."]
    more = await chat.press(1002, "/meer", labels=labels)
    assert more[0].startswith("Meer relevante lessen over ‘evacuatie zorginstelling’ heb ik niet")
    answered = [p["callback_query_id"] for p in fake.called("answerCallbackQuery")]
    assert {"cb3", "cb5", "cb7"} <= set(answered)  # every press acknowledged
    assert fake.called("editMessageText") == []  # lesson buttons stay usable
    assert len(world.rt.store.kudos_received(world.anna.id)) == 1


@pytest.mark.asyncio
async def test_markup_typed_by_users_is_shown_literally(
    world: World, fake: FakeBotApi, chat: Chat
) -> None:
    nasty = "Gebruik <b>nooit</b> *sterretjes* of _lijnen_ of [x](http://y.nl) & co"
    world.lesson(world.anna, f"Brandkranen controleren. {nasty}", improve="a < b > c")
    await chat.say(1002, "brandkranen controleren <b>vet</b>")
    header, card = fake.sent(1002)[-2:]
    assert "&lt;b&gt;vet&lt;/b&gt;" in header["text"]
    assert (
        "&lt;b&gt;nooit&lt;/b&gt; *sterretjes* of _lijnen_ of [x](http://y.nl) &amp; co"
        in card["text"]
    )
    assert "a &lt; b &gt; c" in card["text"]
    # What the user reads is exactly what the author typed.
    shown = fake.texts(1002)
    assert nasty in shown[-1] and "a < b > c" in shown[-1]
    assert "‘brandkranen controleren <b>vet</b>’" in shown[-2]


@pytest.mark.asyncio
async def test_a_reply_longer_than_telegram_allows_is_split(
    world: World, fake: FakeBotApi, chat: Chat
) -> None:
    long_lesson = "Sirenes testen. " + " ".join(f"regel{i} & meer" for i in range(340))
    assert len(long_lesson) > 5000
    world.lesson(world.anna, long_lesson)
    before = len(fake.sent(1002))
    await chat.say(1002, "sirenes testen")
    messages = fake.sent(1002)[before:]
    assert len(messages) == 3, [m["text"][:80] for m in messages]
    parts = messages[1:]
    assert all(len(p["text"]) <= 4096 for p in parts)
    assert "reply_markup" not in parts[0] and buttons(parts[1])[0][0] == "Nuttig"
    assert parts[0]["text"].count("<b>") == parts[0]["text"].count("</b>")
    joined = " ".join(fake.texts(1002)[before + 1 :])
    assert "regel0 & meer" in joined and "regel339 & meer" in joined


@pytest.mark.asyncio
async def test_an_anonymous_lesson_shows_only_the_discipline(
    world: World, fake: FakeBotApi, chat: Chat
) -> None:
    world.lesson(world.anna, "Meld stress na een inzet altijd.", visibility=Visibility.ANONIEM)
    await chat.say(1002, "stress na een inzet")
    card = fake.texts(1002)[-1]
    assert "anoniem (brandweer)" in card and "Anna" not in card
