"""Groups: the bot answers its commands, mentions and replies to it; other chatter is ignored."""

from __future__ import annotations

import pytest

from tests.telegram.conftest import Chat, World
from tests.telegram.fake_api import FakeBotApi

GROUP = -100123


@pytest.mark.asyncio
async def test_plain_group_text_is_ignored(world: World, fake: FakeBotApi, chat: Chat) -> None:
    world.lesson(world.anna, "Evacuatie van een flat vraagt een vast aanspreekpunt.")
    ignored = await chat.say(1002, "evacuatie flat", chat_id=GROUP, chat_type="supergroup")
    other_bot = await chat.say(1002, "/vraag@anderebot evacuatie", chat_id=GROUP, chat_type="group")
    assert ignored == [] and other_bot == []
    assert fake.sent(GROUP) == []


@pytest.mark.asyncio
async def test_a_mention_in_a_group_is_answered_in_reply(
    world: World, fake: FakeBotApi, chat: Chat
) -> None:
    world.lesson(world.anna, "Evacuatie van een flat vraagt een vast aanspreekpunt.")
    answer = await chat.say(
        1002, "@Leerlus_Bot evacuatie flat?", chat_id=GROUP, chat_type="supergroup"
    )
    assert answer[0] == "Dit leerden anderen over ‘evacuatie flat?’:"
    asked = fake.sent(GROUP)[0]
    assert asked["reply_parameters"]["message_id"] > 0  # quotes the question


@pytest.mark.asyncio
async def test_commands_for_this_bot_and_replies_to_it_are_answered(
    world: World, chat: Chat
) -> None:
    answer = await chat.say(1002, "/mijn@leerlus_bot", chat_id=GROUP, chat_type="group")
    assert answer[0].startswith("Dat bespreek ik liever onder vier ogen")  # not in a group
    replied = await chat.say(1002, "/help", chat_id=GROUP, chat_type="group")
    assert replied[0].startswith("Ik ben Leerlus")
    reply = await chat.say(1002, "brandkranen", chat_id=GROUP, chat_type="group", reply_to_bot=True)
    assert reply[0].startswith("Ik vond geen lessen die echt over ‘brandkranen’ gaan.")


@pytest.mark.asyncio
async def test_nuttig_in_a_group_is_a_private_toast(
    world: World, fake: FakeBotApi, chat: Chat
) -> None:
    rid = world.lesson(world.anna, "Evacuatie van een flat vraagt een vast aanspreekpunt.")
    shown = await chat.press(1002, f"/nuttig {rid}", chat_id=GROUP)
    assert shown == []  # nothing in the group for everyone to read
    toast = [p for p in fake.called("answerCallbackQuery") if p["callback_query_id"] == "cb1"]
    assert toast[0]["text"] == "Dank je, fijn dat deze les hielp. Dat geven we door."
