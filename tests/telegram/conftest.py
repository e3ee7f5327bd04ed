"""The Telegram adapter against a fake Bot API: a real runtime, a real PTB Application."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from sqlalchemy import text

from adapters.runtime import Runtime, build
from adapters.server import make_app
from adapters.telegram.app import TelegramAdapter, configure
from bot.config import Settings
from bot.models import Discipline, Identity, Member, NewReflection, Organisation, Role, Visibility
from tests.telegram.fake_api import BOT_ID, BOT_USERNAME, FakeBotApi

TOKEN = "123:ABC"
SECRET = "s3cret-token_for-webhooks"
SENTINEL = 777  # a user without an organisation whose button presses mark "all handled"


async def wait_for(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll until `condition()` is truthy (bounded); return its value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = condition()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met within the time limit")
        await asyncio.sleep(0.02)


def message_update(
    update_id: int,
    user_id: int,
    text: str,
    *,
    chat_id: int | None = None,
    chat_type: str = "private",
    name: str = "Tess",
    language_code: str = "nl",
    reply_to_bot: bool = False,
) -> dict[str, Any]:
    """A Bot API update with a text message."""
    chat = {"id": chat_id or user_id, "type": chat_type}
    if chat_type == "private":
        chat["first_name"] = name
    else:
        chat["title"] = "Regionale oefening"
    message: dict[str, Any] = {
        "message_id": update_id * 10,
        "date": 1_700_000_000,
        "chat": chat,
        "from": {
            "id": user_id,
            "is_bot": False,
            "first_name": name,
            "language_code": language_code,
        },
        "text": text,
    }
    if text.startswith("/"):
        length = len(text.split()[0])
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    if reply_to_bot:
        message["reply_to_message"] = {
            "message_id": 5,
            "date": 1_700_000_000,
            "chat": chat,
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Leerlus"},
            "text": "1/3 — Wat ging er goed?",
        }
    return {"update_id": update_id, "message": message}


def callback_update(
    update_id: int,
    user_id: int,
    data: str,
    *,
    chat_id: int | None = None,
    message_text: str = "…",
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Bot API update for a button press on a message of the bot."""
    chat_id = chat_id or user_id
    buttons = [[{"text": label, "callback_data": cmd}] for cmd, label in (labels or {}).items()]
    message: dict[str, Any] = {
        "message_id": 4242,
        "date": 1_700_000_000,
        "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Leerlus"},
        "text": message_text,
    }
    if buttons:
        message["reply_markup"] = {"inline_keyboard": buttons}
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cb{update_id}",
            "from": {"id": user_id, "is_bot": False, "first_name": "Tess"},
            "chat_instance": "1",
            "data": data,
            "message": message,
        },
    }


def make_settings(tmp_path: Path, fake: FakeBotApi, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": f"sqlite:///{tmp_path / 'leerlus.db'}",
        "embedding_model": "",
        "telegram_bot_token": TOKEN,
        "telegram_api_url": fake.api_url,
        "telegram_webhook_url": None,
        "telegram_webhook_secret": None,
        **extra,
    }
    return Settings(**values)


@dataclass
class World:
    """Two organisations: a fire brigade on the console, a police force on Telegram."""

    rt: Runtime
    brandweer: Organisation
    politie: Organisation
    anna: Member  # console, brandweer
    tess: Member  # telegram 1001, politie, coordinator
    tom: Member  # telegram 1002, politie

    def lesson(
        self,
        author: Member,
        lesson: str,
        *,
        went_well: str = "De samenwerking in het CoPI liep goed.",
        improve: str = "De informatie kwam laat binnen.",
        visibility: Visibility = Visibility.NETWERK,
    ) -> int:
        """Store a finished lesson and make it searchable."""
        store = self.rt.store
        with store.transaction():
            reflection = store.add_reflection(
                NewReflection(
                    org_id=author.org_id,
                    member_id=author.id,
                    went_well=went_well,
                    improve=improve,
                    lesson=lesson,
                    visibility=visibility,
                ),
                datetime.now(UTC),
            )
        self.rt.index.add([reflection])
        return reflection.id

    def unreachable(self, member: Member) -> bool:
        with self.rt.engine.connect() as connection:
            row = connection.execute(
                text("SELECT unreachable FROM members WHERE id = :id"), {"id": member.id}
            ).one()
        return bool(row[0])


def seed(rt: Runtime) -> World:
    store = rt.store
    with store.transaction():
        brandweer = store.add_org("Brandweer Noord", "brandweer-noord", Discipline.BRANDWEER)
        politie = store.add_org("Politie Oost", "politie-oost", Discipline.POLITIE)
        anna = store.add_member(brandweer.id, "Anna de Vries", Identity("console", "anna"))
        tess = store.add_member(
            politie.id, "Tess Jansen", Identity("telegram", "1001"), role=Role.COORDINATOR
        )
        tom = store.add_member(politie.id, "Tom Bakker", Identity("telegram", "1002"))
    return World(rt, brandweer, politie, anna, tess, tom)


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    api = FakeBotApi(TOKEN)
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
def world(tmp_path: Path, fake: FakeBotApi) -> World:
    return seed(build(make_settings(tmp_path, fake)))


@pytest_asyncio.fixture
async def adapter(world: World) -> AsyncIterator[TelegramAdapter]:
    """The adapter in long-polling mode, started."""
    telegram = configure(world.rt)
    assert telegram is not None
    telegram.poll_timeout = 1
    await telegram.start()
    yield telegram
    await telegram.stop()


class Chat:
    """Drive the bot as Telegram users would, through the fake's getUpdates."""

    _sentinels = itertools.count(1)

    def __init__(self, fake: FakeBotApi) -> None:
        self.fake = fake

    async def settle(self) -> None:
        """Wait until every queued update is handled (updates are handled in order)."""
        marker = f"cb-sentinel-{next(self._sentinels)}"
        update = callback_update(self.fake.next_update_id(), SENTINEL, "/help")
        update["callback_query"]["id"] = marker
        self.fake.queue(update)
        await wait_for(
            lambda: any(
                p["callback_query_id"] == marker for p in self.fake.called("answerCallbackQuery")
            )
        )

    async def say(self, user_id: int, text: str, **kwargs: Any) -> list[str]:
        """Send a message; return what the bot sent to that chat in answer."""
        chat_id = kwargs.get("chat_id") or user_id
        before = len(self.fake.sent(chat_id))
        self.fake.queue(message_update(self.fake.next_update_id(), user_id, text, **kwargs))
        await self.settle()
        return self.fake.texts(chat_id)[before:]

    async def press(self, user_id: int, data: str, **kwargs: Any) -> list[str]:
        """Press a button; return what the bot sent to that chat in answer."""
        chat_id = kwargs.get("chat_id") or user_id
        before = len(self.fake.sent(chat_id))
        self.fake.queue(callback_update(self.fake.next_update_id(), user_id, data, **kwargs))
        await self.settle()
        return self.fake.texts(chat_id)[before:]


@pytest.fixture
def chat(fake: FakeBotApi, adapter: TelegramAdapter) -> Chat:
    return Chat(fake)


__all__ = ["BOT_USERNAME", "SECRET", "TOKEN", "Chat", "World", "wait_for"]


@asynccontextmanager
async def webhook_server(settings: Settings) -> AsyncIterator[tuple[World, TelegramAdapter, str]]:
    """The seeded world with Telegram in webhook mode behind the shared HTTP server, on a
    free port: yields the world, the adapter and the webhook URL; stops and closes after."""
    world = seed(build(settings))
    adapter = configure(world.rt)
    assert adapter is not None
    app = make_app(world.rt, {"telegram": adapter.describe()})
    adapter.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    await adapter.start()
    try:
        yield world, adapter, f"http://127.0.0.1:{port}/telegram/webhook"
    finally:
        await adapter.stop()
        await runner.cleanup()
        world.rt.engine.dispose()
