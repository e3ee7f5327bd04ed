"""Updates to text for the core (pure functions)."""

from __future__ import annotations

from typing import Any

from telegram import Update

from adapters.telegram import inbound
from adapters.telegram.inbound import Incoming
from bot import commands as c
from bot.models import Identity
from tests.telegram.conftest import callback_update, message_update
from tests.telegram.fake_api import BOT_ID, BOT_USERNAME


def read(data: dict[str, Any]) -> Incoming | inbound.Reachability | None:
    return inbound.read_update(Update.de_json(data), BOT_USERNAME, BOT_ID)


def test_a_private_message_is_read_as_typed() -> None:
    event = read(message_update(1, 42, "hoe zet je een CoPI op?", name="Ali", language_code="en"))
    assert isinstance(event, Incoming)
    assert event.identity == Identity("telegram", "42") and event.name == "Ali"
    assert event.text == "hoe zet je een CoPI op?" and event.locale == "en"
    assert event.reply_to is None and not event.group


def test_group_messages_for_the_bot_only() -> None:
    assert read(message_update(1, 42, "gewoon gepraat", chat_id=-5, chat_type="supergroup")) is None
    assert (
        read(message_update(2, 42, "/vraag@AnderBot x", chat_id=-5, chat_type="supergroup")) is None
    )
    mention = read(
        message_update(
            3, 42, "Hé @leerlus_bot, wat weten we over rook?", chat_id=-5, chat_type="supergroup"
        )
    )
    assert isinstance(mention, Incoming) and mention.text == "Hé, wat weten we over rook?"
    assert mention.reply_to == 30 and mention.group
    command = read(
        message_update(4, 42, "/vraag@leerlus_bot rook", chat_id=-5, chat_type="supergroup")
    )
    assert isinstance(command, Incoming) and command.text == "/vraag@leerlus_bot rook"
    assert c.parse_command(command.text) == c.Ask("rook")


def test_a_button_press_carries_the_choice_command() -> None:
    event = read(callback_update(9, 42, "/later 3 morgen"))
    assert isinstance(event, Incoming)
    assert event.text == "/later 3 morgen" and event.callback_id == "cb9"
    assert event.chat_id == 42


def test_start_means_help_for_members_and_carries_the_code() -> None:
    assert inbound.command_for_member("/start") == c.Help()
    assert inbound.command_for_member("/start ABC") == c.Join("ABC")
    assert inbound.join_code("/start ABCD2345") == "ABCD2345"
    assert inbound.join_code("/help") is None
