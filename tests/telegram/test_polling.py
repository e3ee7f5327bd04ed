"""Long polling end to end, the command menus, and how the adapter plugs into `leerlus run`."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.runtime import build
from adapters.server import load_adapters
from adapters.telegram import app as telegram_app
from adapters.telegram.app import TelegramAdapter
from bot.commands import ALIASES
from tests.telegram.conftest import Chat, World, make_settings
from tests.telegram.fake_api import FakeBotApi

SPEC_COMMANDS = {
    "nl": {"vraag", "reflectie", "kudos", "incident", "oefening", "mijn", "vergeet", "digest",
           "taal", "help", "start", "uitnodiging", "meer", "annuleer", "verberg"},
    "en": {"ask", "reflect", "kudos", "incident", "exercise", "mine", "forget", "digest",
           "language", "help", "start", "invite", "more", "cancel", "hide"},
}  # fmt: skip


@pytest.mark.asyncio
async def test_an_update_queued_at_the_api_is_answered(
    world: World, fake: FakeBotApi, chat: Chat, adapter: TelegramAdapter
) -> None:
    answer = await chat.say(1001, "/help")
    assert any("Ik ben Leerlus" in t for t in answer)
    assert any("/uitnodiging" in t for t in answer)  # Tess is a coordinator
    assert adapter.describe() == "long polling"
    polls = fake.called("getUpdates")
    assert polls and all(p.get("timeout") == "1" for p in polls)
    assert "callback_query" in polls[0]["allowed_updates"]
    assert fake.called("deleteWebhook")  # polling removes a webhook left from before
    sent = fake.sent(1001)[-1]
    assert sent["parse_mode"] == "HTML"


@pytest.mark.asyncio
async def test_the_command_menu_is_published_in_dutch_and_english(
    fake: FakeBotApi, adapter: TelegramAdapter
) -> None:
    menus = {p.get("language_code"): p["commands"] for p in fake.called("setMyCommands")}
    assert set(menus) == {None, "nl", "en"}
    assert menus[None] == menus["nl"]
    for language in ("nl", "en"):
        names = {c["command"] for c in menus[language]}
        assert names == SPEC_COMMANDS[language]
        assert names <= set(ALIASES)  # every menu entry is a command the core parses
        for command in menus[language]:
            assert 1 <= len(command["description"]) <= 256
    described = {c["command"]: c["description"] for c in menus["en"]}
    assert "search" in described["ask"].lower()
    assert "Wekelijkse samenvatting" in {c["description"] for c in menus["nl"]}


@pytest.mark.asyncio
async def test_leerlus_run_lists_telegram(tmp_path: Path, fake: FakeBotApi) -> None:
    rt = build(make_settings(tmp_path, fake))
    adapters, status = load_adapters(rt)
    assert status["telegram"] == "long polling"
    assert any(isinstance(a, TelegramAdapter) for a in adapters)
    off = build(make_settings(tmp_path / "off", fake, telegram_bot_token=None))
    assert telegram_app.configure(off) is None
    assert telegram_app.not_configured(off) == "TELEGRAM_BOT_TOKEN not set"


@pytest.mark.asyncio
async def test_stop_unregisters_the_sender(world: World, fake: FakeBotApi) -> None:
    adapter = telegram_app.configure(world.rt)
    assert adapter is not None
    adapter.poll_timeout = 1
    await adapter.start()
    assert "telegram" in world.rt.notifier.senders
    await adapter.stop()
    assert "telegram" not in world.rt.notifier.senders
