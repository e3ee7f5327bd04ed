"""Telegram's rules: each update once, flood control, blocked users, answered buttons, logs."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import text
from telegram.error import BadRequest

from adapters.telegram.app import DeliveryFailed, TelegramAdapter, Unreachable
from bot.replies import Text
from tests.telegram.conftest import TOKEN, Chat, World, message_update, wait_for
from tests.telegram.fake_api import FakeBotApi

# PTB's own RetryAfter constructor reads its deprecated int property (PTB 22.2+); not ours.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Deprecated since version v22.2.*retry_after:telegram.warnings.PTBDeprecationWarning"
)


@pytest.mark.asyncio
async def test_an_update_delivered_twice_is_handled_once(
    world: World, fake: FakeBotApi, chat: Chat
) -> None:
    update = message_update(fake.next_update_id(), 1002, "/kudos @Tess_Jansen voor de briefing")
    fake.queue(update)
    fake.queue(update)  # the same update_id again, as after a lost confirmation
    await chat.settle()
    assert fake.texts(1002) == ["Je kudos zijn verstuurd aan Tess Jansen. Mooi dat je dat doet!"]
    assert len(world.rt.store.kudos_received(world.tess.id)) == 1


@pytest.mark.asyncio
async def test_flood_control_is_waited_out_and_retried(
    world: World, fake: FakeBotApi, chat: Chat
) -> None:
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    answer = await chat.say(1002, "/mijn")
    assert answer[0].startswith("Overzicht van Tom Bakker")
    attempts = [
        c for c in fake.calls if c.method == "sendMessage" and c.params["chat_id"] == "1002"
    ]
    assert len(attempts) == 2
    assert attempts[1].at - attempts[0].at >= 0.9  # retry_after was honoured


@pytest.mark.asyncio
async def test_a_user_who_blocked_the_bot_is_marked_unreachable(
    world: World, fake: FakeBotApi, chat: Chat
) -> None:
    fake.blocked.add(1002)
    answer = await chat.say(1001, "/kudos @Tom_Bakker voor het snelle handelen")
    assert answer == ["Je kudos zijn verstuurd aan Tom Bakker. Mooi dat je dat doet!"]
    await wait_for(lambda: world.unreachable(world.tom))
    tries = [c for c in fake.calls if c.method == "sendMessage" and c.params["chat_id"] == "1002"]
    assert len(tries) == 1 and not tries[0].ok  # tried once, not again and again
    # Writing to the bot again (unblocking it) makes Tom reachable.
    fake.blocked.clear()
    update = {
        "update_id": fake.next_update_id(),
        "my_chat_member": {
            "chat": {"id": 1002, "type": "private", "first_name": "Tom"},
            "from": {"id": 1002, "is_bot": False, "first_name": "Tom"},
            "date": 1_700_000_000,
            "old_chat_member": {"status": "kicked", "user": {"id": 999, "is_bot": True,
                                "first_name": "Leerlus"}, "until_date": 0},
            "new_chat_member": {"status": "member", "user": {"id": 999, "is_bot": True,
                                "first_name": "Leerlus"}},
        },
    }  # fmt: skip
    fake.queue(update)
    await chat.settle()
    assert not world.unreachable(world.tom)


@pytest.mark.asyncio
async def test_the_sender_raises_when_delivery_fails(
    world: World, fake: FakeBotApi, adapter: TelegramAdapter
) -> None:
    fake.blocked.add(1002)
    with pytest.raises(Unreachable):
        await asyncio.to_thread(adapter.send_direct, world.tom.identities[0], [Text("Hallo")])
    fake.fail_next("sendMessage", 400, "Bad Request: chat not found")
    with pytest.raises(BadRequest):  # any other Telegram error is raised as it is
        await asyncio.to_thread(adapter.send_direct, world.tess.identities[0], [Text("Hallo")])
    with pytest.raises(DeliveryFailed):  # never wait for the loop from inside the loop
        adapter.send_direct(world.tess.identities[0], [Text("Hallo")])


@pytest.mark.asyncio
async def test_a_button_is_answered_even_when_sending_fails(
    world: World, fake: FakeBotApi, chat: Chat
) -> None:
    fake.fail_next("sendMessage", 400, "Bad Request: can't parse entities")
    answer = await chat.press(1002, "/mijn")
    assert answer == [
        "Er ging iets mis aan mijn kant. Je bericht is niet verloren; probeer het zo nog eens."
    ]
    assert fake.called("answerCallbackQuery")[0]["callback_query_id"] == "cb1"


@pytest.mark.asyncio
async def test_no_log_line_contains_the_token(
    world: World, fake: FakeBotApi, chat: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 0", retry_after=0)
    fake.fail_next("getUpdates", 502, "Bad Gateway")
    fake.blocked.add(1001)
    await chat.say(1002, "/help")
    await chat.say(1002, "/kudos @Tess_Jansen dank")
    await chat.say(1001, "/help")
    await chat.press(1002, "/nuttig 999")
    assert caplog.records, "expected some logging"
    assert TOKEN not in caplog.text
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


@pytest.mark.asyncio
async def test_a_database_failure_still_gets_an_answer(
    world: World, fake: FakeBotApi, chat: Chat
) -> None:
    with world.rt.engine.begin() as connection:
        connection.execute(text("DROP TABLE processed_events"))
    answer = await chat.press(1002, "/mijn")
    assert answer == [
        "Er ging iets mis aan mijn kant. Je bericht is niet verloren; probeer het zo nog eens."
    ]
    assert fake.called("answerCallbackQuery")[0]["callback_query_id"] == "cb1"
