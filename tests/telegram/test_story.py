"""A whole story across platforms: a console lesson found on Telegram, and thanks sent back."""

from __future__ import annotations

import asyncio

import pytest

from tests.telegram.conftest import Chat, World, wait_for
from tests.telegram.fake_api import FakeBotApi


@pytest.mark.asyncio
async def test_a_console_lesson_helps_a_telegram_member_who_thanks_its_author(
    world: World, fake: FakeBotApi, chat: Chat
) -> None:
    bot = world.rt.bot
    # Anna of the fire brigade reflects in the console (the CLI path: Bot.handle_text).
    lines = [
        "/reflectie",
        "De verbinding met de meldkamer bleef staan.",
        "In de tunnel viel het portofoonverkeer weg.",
        "Neem bij tunnelbranden een mobiele repeater mee voor de portofoons.",
        "netwerk",
        "overslaan",
        "overslaan",
        "overslaan",
    ]
    for line in lines:
        replies = await asyncio.to_thread(bot.handle_text, world.anna, line)
    assert replies[0].body.startswith("Dank je wel! Je les is bewaard")  # type: ignore[union-attr]

    # Tess of the police, on Telegram, asks about it in her own words.
    answer = await chat.say(1001, "portofoons in een tunnel")
    assert answer[0] == "Dit leerden anderen over ‘portofoons in een tunnel’:"
    card = fake.sent(1001)[-1]
    assert "mobiele repeater" in card["text"] and "Anna de Vries, Brandweer Noord" in card["text"]
    thank = next(
        b["callback_data"]
        for row in card["reply_markup"]["inline_keyboard"]
        for b in row
        if b["text"] == "Bedank"
    )

    # She presses Bedank: kudos across organisations, and Anna hears about it.
    thanked = await chat.press(1001, thank)
    assert thanked == ["Je dank is doorgegeven aan Anna de Vries."]
    kudos = world.rt.store.kudos_received(world.anna.id)
    assert len(kudos) == 1 and kudos[0].giver_id == world.tess.id
    notices = world.rt.store.take_notices(world.anna.id)
    assert notices and "Tess Jansen (Politie Oost) bedankt je voor je les" in notices[0]

    # And the other way: Anna's kudos from the console reach Tom on Telegram directly.
    sent = await asyncio.to_thread(
        bot.handle_text, world.anna, "/kudos @Tom_Bakker voor de afzetting"
    )
    assert sent[0].body == "Je kudos zijn verstuurd aan Tom Bakker. Mooi dat je dat doet!"  # type: ignore[union-attr]
    dm = await wait_for(lambda: fake.texts(1002))
    assert dm == ["🎉 Kudos van Anna de Vries (Brandweer Noord): voor de afzetting"]
