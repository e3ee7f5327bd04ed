"""Secrets never logged: a whole story over every HTTP entry point, every logger at DEBUG.

One `leerlus run`-like process: Slack in HTTP mode (signing secret + bot token), Telegram
by webhook (secret + bot token), and the incident API (bearer token), all on one aiohttp
server, logging configured as `leerlus run` does it. Then every logger — ours, aiohttp,
slack_sdk/slack_bolt, telegram, httpx/httpcore, sqlalchemy — is turned up to DEBUG, a
story runs with a few failures on the way (tracebacks), and the log file and stderr must
not contain any configured secret, nor the Telegram token's URL path segment.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from adapters.api import configure as configure_api
from adapters.runtime import RedactingFilter, Runtime, build, configure_logging
from adapters.server import make_app
from adapters.slack.app import configure as configure_slack
from adapters.telegram.app import configure as configure_telegram
from bot.config import Settings
from bot.models import Discipline, Identity, Role
from tests.slack import payloads
from tests.slack.fake_slack import TEAM, Failure, FakeSlack
from tests.telegram.conftest import callback_update, message_update, wait_for
from tests.telegram.fake_api import FakeBotApi

SLACK_BOT = "xoxb-1111-2222-SlackBotTokenSecret"
SLACK_SIGNING = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
TELEGRAM_TOKEN = "7654321:AAH-TelegramSecretToken_0123456789"
WEBHOOK_SECRET = "Webhook-Secret_0123456789abcdef"
API_TOKEN = "api-bearer-Secret-0123456789"
SECRETS = (SLACK_BOT, SLACK_SIGNING, TELEGRAM_TOKEN, WEBHOOK_SECRET, API_TOKEN)
# What would betray a secret even when not written whole.
FORBIDDEN = (
    *SECRETS,
    f"bot{TELEGRAM_TOKEN}",
    quote(TELEGRAM_TOKEN, safe=""),
    TELEGRAM_TOKEN.split(":", 1)[1],  # the secret half of the Bot API token
    "SlackBotTokenSecret",
)
NOISY = (
    "aiohttp",
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.server",
    "aiohttp.web",
    "asyncio",
    "slack_sdk",
    "slack_sdk.web.async_client",
    "slack_bolt",
    "slack_bolt.leerlus",
    "telegram",
    "telegram.ext",
    "telegram.ext.ExtBot",
    "telegram._bot",
    "telegram.request",
    "httpx",
    "httpcore",
    "sqlalchemy",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "adapters",
    "bot",
    "storage",
    "embeddings",
)


class RawRecords(logging.Handler):
    """Sees every record before the redacting handlers do: how many carried a secret."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.total = 0
        self.with_secret = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.total += 1
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the filter's business, not ours
            message = str(record.msg)
        if any(s in message for s in SECRETS):
            self.with_secret += 1


@pytest.fixture
def debug_logging(tmp_path: Path) -> Iterator[RawRecords]:
    """Restore the logging set-up of the test session afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_levels = {
        name: logger.level
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    raw = RawRecords()
    yield raw
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if handler not in saved_handlers:
            handler.close()
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            logger.setLevel(saved_levels.get(name, logging.NOTSET))


def everything_at_debug(raw: RawRecords) -> None:
    """Every logger there is (and the ones that appear later) at DEBUG; `raw` sees first."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    for handler in root.handlers:
        handler.setLevel(logging.DEBUG)
    root.handlers.insert(0, raw)
    names = set(NOISY) | set(logging.root.manager.loggerDict)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)


@dataclass
class Process:
    rt: Runtime
    slack: FakeSlack
    telegram: FakeBotApi
    session: aiohttp.ClientSession
    url: str

    async def slack_post(self, body: str, content_type: str) -> int:
        headers = payloads.sign(SLACK_SIGNING, body, int(time.time()))
        headers["Content-Type"] = content_type
        async with self.session.post(f"{self.url}/slack/events", data=body, headers=headers) as r:
            return r.status

    async def slash(self, user: str, text: str) -> int:
        form = payloads.slash(user, text, self.slack.hook_url(user))
        return await self.slack_post(urlencode(form), "application/x-www-form-urlencoded")

    async def telegram_post(self, update: dict[str, Any], secret: str = WEBHOOK_SECRET) -> int:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
        async with self.session.post(
            f"{self.url}/telegram/webhook", json=update, headers=headers
        ) as response:
            return response.status

    async def api_post(self, body: object, token: str = API_TOKEN) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.session.post(
            f"{self.url}/api/incidents", json=body, headers=headers
        ) as response:
            return response.status


@pytest_asyncio.fixture
async def process(tmp_path: Path, debug_logging: RawRecords) -> AsyncIterator[Process]:
    slack, telegram = FakeSlack(), FakeBotApi(TELEGRAM_TOKEN)
    await slack.start()
    await telegram.start()
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        embedding_model="",
        api_token=API_TOKEN,
        slack_bot_token=SLACK_BOT,
        slack_signing_secret=SLACK_SIGNING,
        slack_api_url=slack.url,
        telegram_bot_token=TELEGRAM_TOKEN,
        telegram_api_url=telegram.api_url,
        telegram_webhook_url="https://leerlus.example.nl/telegram/webhook",
        telegram_webhook_secret=WEBHOOK_SECRET,
    )
    configure_logging(settings, to_stderr=True)  # as `leerlus run` does, first
    rt = build(settings)
    with rt.store.transaction():
        fire = rt.store.add_org("Brandweer Noord", "bw", Discipline.BRANDWEER, slack_team=TEAM)
        police = rt.store.add_org("Politie Oost", "pol", Discipline.POLITIE)
        rt.store.add_member(police.id, "Tess", Identity("telegram", "1001"), role=Role.COORDINATOR)
        rt.store.add_member(police.id, "Tom", Identity("telegram", "1002"))
        rt.store.add_member(fire.id, "Olga", Identity("console", "olga"))
    rt.index.load()
    slack.add_user("UANNA", "Anna")
    slack.add_user("UBART", "Bart")
    adapters = [configure_slack(rt), configure_telegram(rt), configure_api(rt)]
    assert all(a is not None for a in adapters)
    # Adapters quieten some loggers when configured; turn everything up again.
    everything_at_debug(debug_logging)
    app = make_app(rt, {a.name: a.describe() for a in adapters if a is not None})
    for adapter in adapters:
        assert adapter is not None
        adapter.add_routes(app)
    runner = web.AppRunner(app)  # with the access log, as `leerlus run` serves
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    for adapter in adapters:
        assert adapter is not None
        await adapter.start()
    async with aiohttp.ClientSession() as session:
        yield Process(rt, slack, telegram, session, f"http://127.0.0.1:{port}")
    for adapter in reversed(adapters):
        assert adapter is not None
        await adapter.stop()
    await runner.cleanup()
    await slack.stop()
    await telegram.stop()
    rt.engine.dispose()


@pytest.mark.asyncio
async def test_a_full_story_logs_no_secret(
    process: Process, debug_logging: RawRecords, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    slack, telegram = process.slack, process.telegram

    # Slack: a slash command, a DM question, the reflection modal, a failing post.
    assert await process.slash("UANNA", "kudos <@UBART> voor de heldere briefing") == 200
    await slack.wait_for(lambda: slack.hooks and slack.calls_to("chat.postMessage"))
    event = payloads.event_callback(payloads.dm("UANNA", "wat weten we over evacuatie?"))
    assert await process.slack_post(json.dumps(event), "application/json") == 200
    await slack.wait_for(lambda: len(slack.calls_to("chat.postMessage")) == 2)
    assert await process.slash("UANNA", "reflectie") == 200
    await slack.wait_for(lambda: slack.calls_to("views.open"))
    view = slack.calls_to("views.open")[0].args["view"]
    values = {"went_well": "Snel.", "improve": "Portofoons.", "lesson": "Test vooraf.",
              "visibility": "netwerk"}  # fmt: skip
    submit = payloads.as_form(payloads.submit("UANNA", view, values))
    slack.fail("chat.postMessage", Failure("internal_error", 500, times=5))
    assert await process.slack_post(submit, "application/x-www-form-urlencoded") == 200
    await slack.wait_for(lambda: len(slack.calls_to("chat.postMessage")) >= 3, timeout=20)
    anna = process.rt.bot.member_for(Identity("slack", "UANNA"))
    assert anna is not None
    await wait_for(lambda: process.rt.store.reflections_of(anna.id))
    # A badly signed request is refused (and logged as such).
    bad = json.dumps(payloads.event_callback(payloads.dm("UANNA", "x")))
    headers = payloads.sign("wrong", bad, int(time.time()))
    async with process.session.post(f"{process.url}/slack/events", data=bad,
                                    headers=headers) as response:  # fmt: skip
        assert response.status == 401

    # Telegram: messages and a button by webhook, a failing send, a wrong secret.
    assert await process.telegram_post(message_update(1, 1001, "/mijn")) == 200
    assert await process.telegram_post(message_update(2, 1002, "evacuatie bewoners")) == 200
    assert await process.telegram_post(callback_update(3, 1001, "/help")) == 200
    telegram.fail_next("sendMessage", 500, "Internal Server Error")
    telegram.fail_next("sendMessage", 500, "Internal Server Error")
    assert await process.telegram_post(message_update(4, 1002, "/help")) == 200
    assert await process.telegram_post(message_update(5, 1001, "/kudos @Tom dank")) == 200
    assert await process.telegram_post(message_update(6, 1001, "/mijn"), "nope") == 401
    assert telegram.sent(1001) and telegram.sent(1002)

    # The API: one registered incident, one refused token, one refused body.
    incident = {
        "organisation": "pol",
        "title": "Brand",
        "kind": "incident",
        "occurred_at": "2026-11-30T08:15:00+01:00",
        "participants": ["telegram:1002"],
    }
    assert await process.api_post(incident) == 201
    assert await process.api_post(incident, token="wrong") == 401
    assert await process.api_post({"title": "x"}) == 422

    # A traceback that quotes a secret (as an HTTP error with a Bot API URL would).
    try:
        raise ConnectionError(f"POST https://api.telegram.org/bot{TELEGRAM_TOKEN}/getMe failed")
    except ConnectionError:
        logging.getLogger("telegram.request").exception("request failed")
    logging.getLogger("adapters.test").debug("settings: %r", process.rt.settings)
    await asyncio.sleep(0)

    for handler in logging.getLogger().handlers:
        handler.flush()
    written = (tmp_path / "leerlus.log").read_text(encoding="utf-8")
    captured = capfd.readouterr()
    # The test can fail: secrets did reach logging, at DEBUG from the libraries too.
    assert debug_logging.total > 100
    assert debug_logging.with_secret > 0
    for logger in ("aiohttp.access", "slack_sdk", "telegram", "httpx", "sqlalchemy.engine"):
        assert f" {logger}" in written, f"nothing logged by {logger}"
    assert "[redacted]" in written and "Traceback" in written
    for output in (written, captured.out, captured.err):
        leaked = [s for s in FORBIDDEN if s in output]
        assert leaked == [], f"secrets in the logs: {leaked}"


def test_the_filter_redacts_what_logging_would_print_about_a_broken_record() -> None:
    """A record whose arguments do not fit its message: logging prints it on stderr when
    formatting fails, so the filter must clean it without raising."""
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "token %s %s", (SLACK_BOT,), None)
    assert RedactingFilter([SLACK_BOT]).filter(record)
    assert SLACK_BOT not in str(record.msg) and not record.args
    assert "[redacted]" in record.getMessage()


def test_the_filter_redacts_stack_info_and_url_encoded_secrets() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "GET /bot%s/getMe", (quote(TELEGRAM_TOKEN, safe=""),),
        None, sinfo=f"Stack (most recent call last):\n  token={TELEGRAM_TOKEN}",
    )  # fmt: skip
    assert RedactingFilter([TELEGRAM_TOKEN]).filter(record)
    line = logging.Formatter("%(message)s").format(record)
    assert not [s for s in FORBIDDEN if s in line]
    assert line.count("[redacted]") == 2


def test_the_database_password_is_a_secret_too(
    tmp_path: Path, debug_logging: RawRecords, capfd: pytest.CaptureFixture[str]
) -> None:
    password = "Pg-Passw0rd-secret"
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        database_url=f"postgresql+psycopg://leerlus:{password}@127.0.0.1:1/leerlus",
    )
    configure_logging(settings, to_stderr=True)
    try:
        raise ConnectionError(f"could not connect with {settings.database_url}")
    except ConnectionError:
        logging.getLogger("storage.test").exception("database away")
    for handler in logging.getLogger().handlers:
        handler.flush()
    written = (tmp_path / "leerlus.log").read_text(encoding="utf-8")
    assert "database away" in written and "[redacted]" in written
    assert password not in written + capfd.readouterr().err
