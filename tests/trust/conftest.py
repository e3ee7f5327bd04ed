"""Shared set-ups for the trust tests: the real adapters on their fake servers, row counts.

The Slack and Telegram fixtures are those of tests/slack and tests/telegram under other
names (both of those directories call their fake server `fake`; `slack_fake` is the one
of tests/conftest.py), so that one test can use both platforms.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest_asyncio
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from tests.slack.conftest import HttpSlack, make_world, slack_http
from tests.slack.fake_slack import FakeSlack
from tests.telegram.conftest import SECRET, TOKEN, make_settings, webhook_server
from tests.telegram.fake_api import FakeBotApi
from tests.telegram.test_webhook import HOOK, Hooked


def row_counts(engine: Engine) -> dict[str, int]:
    """The number of rows of every table, to show that a refusal stored nothing."""
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            if table == "alembic_version":
                continue
            counts[table] = int(
                connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar() or 0
            )
    return counts


@pytest_asyncio.fixture
async def slack(tmp_path: Path, slack_fake: FakeSlack) -> AsyncIterator[HttpSlack]:
    """Slack in HTTP mode: signed POSTs to /slack/events reach the real Bolt app."""
    world = make_world(tmp_path / "slack", slack_fake, socket_mode=False)
    async with slack_http(world.rt) as client:
        yield HttpSlack(client, slack_fake, world)
    world.rt.engine.dispose()


@pytest_asyncio.fixture
async def telegram_fake() -> AsyncIterator[FakeBotApi]:
    api = FakeBotApi(TOKEN)
    await api.start()
    yield api
    await api.stop()


@pytest_asyncio.fixture
async def hooked(tmp_path: Path, telegram_fake: FakeBotApi) -> AsyncIterator[Hooked]:
    """Telegram in webhook mode behind the shared HTTP server, with its secret."""
    settings = make_settings(
        tmp_path, telegram_fake, telegram_webhook_url=HOOK, telegram_webhook_secret=SECRET
    )
    async with (
        webhook_server(settings) as (world, adapter, url),
        aiohttp.ClientSession() as session,
    ):
        yield Hooked(world, adapter, url, session)
