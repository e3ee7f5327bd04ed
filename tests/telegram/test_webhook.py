"""Webhook mode: updates arrive at POST /telegram/webhook on the shared HTTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import text

from adapters.runtime import build
from adapters.telegram import app as telegram_app
from adapters.telegram.app import TelegramAdapter
from tests.telegram.conftest import SECRET, World, make_settings, message_update, webhook_server
from tests.telegram.fake_api import FakeBotApi

HOOK = "https://leerlus.example.nl/telegram/webhook"


@dataclass
class Hooked:
    world: World
    adapter: TelegramAdapter
    url: str
    session: aiohttp.ClientSession

    async def post(self, update: dict[str, Any], secret: str | None = SECRET) -> int:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        async with self.session.post(self.url, json=update, headers=headers) as response:
            return response.status

    def processed(self) -> int:
        with self.world.rt.engine.connect() as connection:
            return int(
                connection.execute(text("SELECT count(*) FROM processed_events")).scalar() or 0
            )


@pytest_asyncio.fixture
async def hooked(tmp_path: Path, fake: FakeBotApi) -> AsyncIterator[Hooked]:
    settings = make_settings(
        tmp_path, fake, telegram_webhook_url=HOOK, telegram_webhook_secret=SECRET
    )
    async with (
        webhook_server(settings) as (world, adapter, url),
        aiohttp.ClientSession() as session,
    ):
        yield Hooked(world, adapter, url, session)


@pytest.mark.asyncio
async def test_start_registers_the_webhook_with_its_secret(
    hooked: Hooked, fake: FakeBotApi
) -> None:
    assert hooked.adapter.describe() == "webhook at POST /telegram/webhook"
    registered = fake.called("setWebhook")
    assert registered[0]["url"] == HOOK and registered[0]["secret_token"] == SECRET
    assert "callback_query" in registered[0]["allowed_updates"]
    assert fake.called("getUpdates") == []  # no polling next to the webhook


@pytest.mark.asyncio
async def test_an_update_with_the_right_secret_is_handled_once(
    hooked: Hooked, fake: FakeBotApi
) -> None:
    update = message_update(1, 1001, "/mijn")
    assert await hooked.post(update) == 200
    assert fake.texts(1001)[0].startswith("Overzicht van Tess Jansen")
    assert await hooked.post(update) == 200  # Telegram retries a delivery it was unsure of
    assert len(fake.sent(1001)) == 1
    assert hooked.processed() == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x"])
async def test_a_request_without_the_right_secret_is_refused(
    hooked: Hooked, fake: FakeBotApi, secret: str | None
) -> None:
    status = await hooked.post(message_update(2, 1001, "/kudos @Tom_Bakker dank"), secret)
    assert status == 401
    assert fake.sent() == []
    assert hooked.processed() == 0
    assert hooked.world.rt.store.kudos_received(hooked.world.tom.id) == []


@pytest.mark.asyncio
async def test_a_malformed_body_is_refused(hooked: Hooked) -> None:
    async with hooked.session.post(
        hooked.url, data=b"not json", headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    ) as response:
        assert response.status == 400
    assert hooked.processed() == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("secret", [None, "has spaces", "x" * 257])
async def test_a_webhook_without_a_usable_secret_stays_off(
    tmp_path: Path, fake: FakeBotApi, secret: str | None
) -> None:
    settings = make_settings(tmp_path, fake, telegram_webhook_url=HOOK,
                             telegram_webhook_secret=secret)  # fmt: skip
    rt = build(settings)
    assert telegram_app.configure(rt) is None
    assert "TELEGRAM_WEBHOOK_SECRET" in telegram_app.not_configured(rt)
