"""The database down behind a chat adapter: Telegram's webhook answers "try again shortly".

Decision: an update that arrives while the database is down is *answered* (the user reads
"try again shortly", a button press is acknowledged) and the webhook returns 200, so
Telegram does not pile it up for redelivery behind newer updates. It is not marked handled
either (that mark is itself a database write that failed), so a redelivery by Telegram is
carried out normally once the database is back; nothing of it was stored in between.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import create_engine, text

from adapters.telegram.app import TelegramAdapter
from bot.texts import Translator
from tests.faults.conftest import OwnPostgres
from tests.faults.helpers import reflection_rows
from tests.pg import fresh_database
from tests.telegram.conftest import (
    SECRET,
    World,
    callback_update,
    make_settings,
    message_update,
    webhook_server,
)
from tests.telegram.fake_api import FakeBotApi

HOOK = "https://leerlus.example.nl/telegram/webhook"
TR = Translator("nl")
SECRET_TEXT = "GEHEIM-antwoord"


@dataclass
class Hooked:
    world: World
    adapter: TelegramAdapter
    url: str
    db_url: str
    session: aiohttp.ClientSession

    async def post(self, update: dict[str, Any]) -> int:
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with self.session.post(self.url, json=update, headers=headers) as response:
            return response.status

    def processed(self) -> set[str]:
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as connection:
                rows = connection.execute(text("SELECT key FROM processed_events"))
                return {str(r[0]) for r in rows}
        finally:
            engine.dispose()


@pytest.fixture
def pg_url(own_postgres: OwnPostgres) -> Iterator[str]:
    if not own_postgres.running():
        own_postgres.start()
    with fresh_database(own_postgres.url) as url:
        yield url


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    api = FakeBotApi()
    await api.start()
    yield api
    await api.stop()


@pytest_asyncio.fixture
async def hooked(tmp_path: Path, fake: FakeBotApi, pg_url: str) -> AsyncIterator[Hooked]:
    settings = make_settings(
        tmp_path,
        fake,
        database_url=pg_url,
        telegram_webhook_url=HOOK,
        telegram_webhook_secret=SECRET,
    )
    async with (
        webhook_server(settings) as (world, adapter, url),
        aiohttp.ClientSession() as session,
    ):
        yield Hooked(world, adapter, url, pg_url, session)


@pytest.mark.asyncio
async def test_telegram_webhook_while_postgres_is_down(
    hooked: Hooked,
    fake: FakeBotApi,
    own_postgres: OwnPostgres,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tom = 1002
    assert await hooked.post(message_update(1, tom, "/reflectie")) == 200
    assert await hooked.post(message_update(2, tom, "De afstemming met de brandweer")) == 200
    assert fake.texts(tom)[-1] == TR("reflect.q_improve", limit=1000)

    during = message_update(3, tom, f"Eerder opschalen {SECRET_TEXT}")
    press = callback_update(4, tom, "/mijn")
    own_postgres.stop("fast")
    try:
        caplog.clear()
        with caplog.at_level(logging.INFO):
            assert await hooked.post(during) == 200
            assert await hooked.post(press) == 200
    finally:
        own_postgres.start()
    unavailable = TR("error.unavailable")
    assert fake.texts(tom)[-2:] == [unavailable, unavailable]
    # The button press was acknowledged, so the user's app stops waiting.
    assert [p["callback_query_id"] for p in fake.called("answerCallbackQuery")] == ["cb4"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2 and all("database unavailable" in m for m in errors)
    assert SECRET_TEXT not in caplog.text
    # Neither update was marked handled, and nothing of the answer was stored.
    assert {"telegram:update:3", "telegram:update:4"} & hooked.processed() == set()
    rows = reflection_rows(hooked.db_url)
    assert [(r["draft_step"], r["improve"]) for r in rows] == [("improve", "")]

    # Back, without a restart: Telegram redelivering update 3 gets it carried out once.
    assert await hooked.post(during) == 200
    assert fake.texts(tom)[-1] == TR("reflect.q_lesson", limit=1000)
    assert await hooked.post(during) == 200  # a second redelivery is recognised
    assert fake.texts(tom)[-1] == TR("reflect.q_lesson", limit=1000)
    rows = reflection_rows(hooked.db_url)
    assert [(r["draft_step"], r["went_well"]) for r in rows] == [
        ("lesson", "De afstemming met de brandweer")
    ]
    assert rows[0]["improve"] == f"Eerder opschalen {SECRET_TEXT}"
