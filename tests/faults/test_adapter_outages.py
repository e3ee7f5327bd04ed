"""The database down *around* the core: Slack, the console and the incident API.

`Bot.handle` answers an outage itself; these are the failures before or after it: Slack's
handled-once mark and member lookup, the console's member refresh, and the incident API's
transaction. Each must answer "try again shortly" (503 for the API), never "something went
wrong", and must not crash.
"""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from rich.console import Console

from adapters.api import IncidentApi
from adapters.console import ConsoleChat
from adapters.runtime import Runtime, build
from bot.config import Settings
from bot.models import Discipline
from bot.texts import Translator
from storage import SqlStore, make_engine
from tests.fakes import FixedClock
from tests.faults.conftest import OwnPostgres
from tests.faults.helpers import make_setup
from tests.pg import fresh_database
from tests.slack import payloads
from tests.slack.conftest import BOT_TOKEN, SIGNING_SECRET, slack_http
from tests.slack.fake_slack import TEAM, FakeSlack

TR = Translator("nl")
UNAVAILABLE = TR("error.unavailable")
INTERNAL = TR("error.internal")
SECRET_TEXT = "GEHEIM-antwoord"


@pytest.fixture
def pg_url(own_postgres: OwnPostgres) -> Iterator[str]:
    if not own_postgres.running():
        own_postgres.start()
    with fresh_database(own_postgres.url) as url:
        yield url


# Slack


@dataclass
class SlackOnPostgres:
    rt: Runtime
    fake: FakeSlack
    client: TestClient[Any, Any]

    async def command(self, user: str, text: str) -> None:
        form = payloads.slash(user, text, self.fake.hook_url(user))
        body = urlencode(form)
        headers = payloads.sign(SIGNING_SECRET, body, int(datetime.now(UTC).timestamp()))
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        response = await self.client.post("/slack/events", data=body, headers=headers)
        assert response.status == 200  # acknowledged; the answer follows at the response_url

    async def answer(self, count: int) -> str:
        """The text of the `count`-th answer at a response_url, once it has arrived."""
        await self.fake.wait_for(lambda: len(self.fake.hooks) >= count)
        return str(self.fake.hooks[count - 1]["text"])


@pytest_asyncio.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def slack(
    tmp_path: Path, fake_slack: FakeSlack, pg_url: str
) -> AsyncIterator[SlackOnPostgres]:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        database_url=pg_url,
        embedding_model="",
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.url,
    )
    rt = build(settings)
    with rt.store.transaction():
        rt.store.add_org("Brandweer Noord", "bw-noord", Discipline.BRANDWEER, slack_team=TEAM)
    rt.index.load()
    fake_slack.add_user("UANNA", "Anna")
    fake_slack.add_user("UBART", "Bart")
    async with slack_http(rt) as client:
        yield SlackOnPostgres(rt, fake_slack, client)
    rt.engine.dispose()


@pytest.mark.asyncio
async def test_slack_answers_try_again_when_the_database_is_down_before_the_core(
    slack: SlackOnPostgres, own_postgres: OwnPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    await slack.command("UANNA", "help")
    assert "/leerlus vraag" in await slack.answer(1)  # Anna is a member now
    own_postgres.stop("fast")
    try:
        caplog.clear()
        with caplog.at_level(logging.INFO):
            # A known member, and a user seen for the first time: both fail before the core.
            await slack.command("UANNA", f"vraag {SECRET_TEXT}")
            await slack.command("UBART", "mijn")
            answers = [await slack.answer(2), await slack.answer(3)]
    finally:
        own_postgres.start()
    assert answers == [UNAVAILABLE, UNAVAILABLE]
    assert all(hook["response_type"] == "ephemeral" for hook in slack.fake.hooks[1:])
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2 and all("not handled" in r.getMessage() for r in errors)
    assert all(r.exc_info is None for r in errors)  # an outage, not a bug: no traceback
    assert SECRET_TEXT not in caplog.text
    # Back up: the same question is carried out (it was not marked handled).
    await slack.command("UANNA", "mijn")
    assert (await slack.answer(4)).startswith("Overzicht van Anna")


# the console


def test_the_console_answers_try_again_and_keeps_running(
    tmp_path: Path, pg_url: str, own_postgres: OwnPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    s = make_setup(pg_url, tmp_path)
    out = io.StringIO()
    chat = ConsoleChat(s.bot, s.anna, Console(file=out, width=200, color_system=None))
    assert chat.step("/mijn") and "Overzicht van Anna" in out.getvalue()
    own_postgres.stop("fast")
    try:
        out.truncate(0)
        out.seek(0)
        caplog.clear()
        with caplog.at_level(logging.INFO):
            assert chat.step("/mijn")  # answered, and the chat goes on
            assert chat.step("2")
        shown = out.getvalue()
    finally:
        own_postgres.start()
    assert shown.count(UNAVAILABLE) == 2 and INTERNAL not in shown
    assert all(r.exc_info is None for r in caplog.records if r.levelno >= logging.ERROR)
    out.truncate(0)
    out.seek(0)
    assert chat.step("/mijn") and "Overzicht van Anna" in out.getvalue()
    s.engine.dispose()


# the incident API


API_TOKEN = "s3cret-token-for-tests"
INCIDENT = {
    "organisation": "bw-oost",
    "title": "Uitslaande brand Lage Weide",
    "kind": "incident",
    "occurred_at": "2026-11-30T08:15:00+01:00",
    "participants": ["console:anna", "console:bart"],
}


async def post_incident(url: str) -> tuple[int, dict[str, str], Any]:
    """POST the incident to an API on the database at `url`."""
    engine = make_engine(url)
    api = IncidentApi(
        store=SqlStore(engine),
        clock=FixedClock(datetime(2026, 11, 30, 10, 0, tzinfo=UTC)),
        token=API_TOKEN,
        timezone="Europe/Amsterdam",
    )
    app = web.Application()
    api.add_routes(app)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        response = await client.post("/api/incidents", json=INCIDENT, headers=headers)
        return response.status, dict(response.headers), await response.json()
    finally:
        await client.close()
        engine.dispose()


@pytest.mark.asyncio
async def test_the_api_answers_503_with_json_when_the_database_cannot_be_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "leerlus.db"
    make_setup(f"sqlite:///{path}", tmp_path).engine.dispose()
    # Opened as SQLite's read-only mode: the error of a read-only mount.
    with caplog.at_level(logging.INFO):
        status, headers, answer = await post_incident(f"sqlite:///file:{path}?mode=ro&uri=true")
    assert status == 503
    assert headers["Retry-After"].isdigit()
    assert answer == {"error": "the database is unavailable; try again shortly"}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "readonly" in errors[0].getMessage()
    assert errors[0].exc_info is None
    # Writable again: the same request is registered (the 503 came from the outage alone).
    status, _, answer = await post_incident(f"sqlite:///{path}")
    assert status == 201 and answer["prompts"] == 2
