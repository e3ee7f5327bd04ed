"""A chat API failing with 5xx or 429: retried with backoff, and nothing is lost.

The real clients (python-telegram-bot, slack-sdk) talk to the local fakes, which answer a
programmed number of failures first. Every wait between tries goes through an injected
`sleep` that records it and returns at once: no test sleeps for real seconds. A message
that still fails after all tries is a prompt of the scheduler here: it stays queued in the
database (back to `scheduled`, due again after the outbox's backoff) and is delivered
exactly once when the API works again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from adapters.runtime import Runtime, build
from adapters.server import make_app
from adapters.slack.app import SlackAdapter, configure
from adapters.slack.delivery import (
    BACKOFF_FACTOR,
    RATE_LIMIT_RETRIES,
    SERVER_ERROR_RETRIES,
    Delivery,
    retry_handlers,
    web_client,
)
from adapters.slack.inbound import Origin
from adapters.telegram import app as telegram_app
from adapters.telegram.app import BACKOFF_FIRST, MAX_ATTEMPTS, TelegramAdapter
from bot.handlers.delivery import RETRY_FIRST, deliver_due
from bot.models import Identity, IncidentKind, Member, PromptState
from bot.replies import Text
from bot.texts import Translator
from storage import SqlStore
from tests.slack.conftest import BOT_TOKEN
from tests.slack.conftest import make_world as make_slack_world
from tests.slack.fake_slack import Failure, FakeSlack
from tests.telegram.conftest import SECRET, World, make_settings, message_update, seed
from tests.telegram.fake_api import FakeBotApi

# PTB's own RetryAfter constructor reads its deprecated int property (PTB 22.2+); not ours.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Deprecated since version v22.2.*retry_after:telegram.warnings.PTBDeprecationWarning"
)
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
HOOK = "https://leerlus.example.nl/telegram/webhook"
TITLE = "Brand in de Dorpsstraat"


class Waits:
    """An injected `sleep`: records how long a retry would wait, and returns at once."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.seconds.append(seconds)
        await asyncio.sleep(0)


def due_prompt(store: SqlStore, member: Member) -> int:
    """An incident with one prompt for `member`, due five minutes ago."""
    with store.transaction():
        incident = store.add_incident(
            member.org_id, TITLE, IncidentKind.INCIDENT, NOW, NOW, [member.id]
        )
        due = NOW - timedelta(minutes=5)
        return store.add_prompt(incident.id, member.id, due, NOW, due + timedelta(days=7)).id


async def deliver(rt: Runtime, now: datetime) -> Any:
    """One run of the scheduler's delivery job (in a worker thread, as the scheduler does)."""
    return await asyncio.to_thread(
        deliver_due, now, store=rt.store, notifier=rt.notifier, worker="w1"
    )


# Telegram


@dataclass
class Telegram:
    world: World
    adapter: TelegramAdapter
    waits: Waits
    url: str
    session: aiohttp.ClientSession

    async def post(self, update: dict[str, Any]) -> int:
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with self.session.post(self.url, json=update, headers=headers) as response:
            return response.status


@pytest_asyncio.fixture
async def tg_fake() -> AsyncIterator[FakeBotApi]:
    api = FakeBotApi()
    await api.start()
    yield api
    await api.stop()


@pytest_asyncio.fixture
async def telegram(tmp_path: Path, tg_fake: FakeBotApi) -> AsyncIterator[Telegram]:
    settings = make_settings(
        tmp_path, tg_fake, telegram_webhook_url=HOOK, telegram_webhook_secret=SECRET
    )
    world = seed(build(settings))
    adapter = telegram_app.configure(world.rt)
    assert adapter is not None
    waits = Waits()
    adapter.sleep = waits.sleep
    app = make_app(world.rt, {"telegram": adapter.describe()})
    adapter.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    await adapter.start()
    async with aiohttp.ClientSession() as session:
        yield Telegram(world, adapter, waits, f"http://127.0.0.1:{port}/telegram/webhook", session)
    await adapter.stop()
    await runner.cleanup()


def sends(fake: FakeBotApi) -> list[bool]:
    """Whether each sendMessage call succeeded, in order."""
    return [c.ok for c in fake.calls if c.method == "sendMessage"]


def prompt_messages(fake: FakeBotApi, chat_id: int, prompt_id: int) -> list[dict[str, Any]]:
    """The delivered messages that carry the buttons of this prompt (its delivery key)."""
    key = f"/invullen {prompt_id}"
    return [p for p in fake.sent(chat_id) if key in json.dumps(p.get("reply_markup"))]


@pytest.mark.asyncio
async def test_telegram_reply_is_retried_after_502_and_429(
    telegram: Telegram, tg_fake: FakeBotApi
) -> None:
    tg_fake.fail_next("sendMessage", 502, "Bad Gateway")
    tg_fake.fail_next("sendMessage", 502, "Bad Gateway")
    tg_fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    assert await telegram.post(message_update(1, 1001, "/mijn")) == 200
    assert sends(tg_fake) == [False, False, False, True]
    texts = tg_fake.texts(1001)
    assert len(texts) == 1 and texts[0].startswith("Overzicht van Tess Jansen")
    # Backoff for the 502s (doubling), then as long as Telegram asked.
    assert telegram.waits.seconds == [BACKOFF_FIRST, 2 * BACKOFF_FIRST, 3.0]


@pytest.mark.asyncio
async def test_telegram_bad_request_is_not_retried(telegram: Telegram, tg_fake: FakeBotApi) -> None:
    tg_fake.fail_next("sendMessage", 400, "Bad Request: message text is empty")
    assert await telegram.post(message_update(1, 1001, "/mijn")) == 200
    # Our own mistake is not repeated; the user gets the apology instead.
    assert sends(tg_fake) == [False, True]
    assert tg_fake.texts(1001) == [Translator("nl")("error.internal")]
    assert telegram.waits.seconds == []


@pytest.mark.asyncio
async def test_telegram_prompt_stays_queued_until_the_api_is_back(
    telegram: Telegram, tg_fake: FakeBotApi
) -> None:
    rt, tess = telegram.world.rt, telegram.world.tess
    prompt_id = due_prompt(rt.store, tess)
    for _ in range(MAX_ATTEMPTS):
        tg_fake.fail_next("sendMessage", 502, "Bad Gateway")

    run = await deliver(rt, NOW)
    assert (run.claimed, run.sent, run.failed) == (1, 0, 1)
    assert sends(tg_fake) == [False] * MAX_ATTEMPTS
    assert telegram.waits.seconds == [BACKOFF_FIRST * 2**i for i in range(MAX_ATTEMPTS - 1)]
    with rt.store.transaction():
        prompt = rt.store.get_prompt(prompt_id)
    assert prompt is not None
    assert prompt.state == PromptState.SCHEDULED and prompt.attempts == 1
    assert prompt.due_at == NOW + RETRY_FIRST and prompt.last_error == "NetworkError"

    # Not before its backoff is over; then once, and never again.
    assert (await deliver(rt, NOW + RETRY_FIRST / 2)).claimed == 0
    run = await deliver(rt, NOW + RETRY_FIRST)
    assert (run.claimed, run.sent, run.failed) == (1, 1, 0)
    assert (await deliver(rt, NOW + timedelta(hours=1))).claimed == 0
    assert len(prompt_messages(tg_fake, 1001, prompt_id)) == 1
    assert TITLE in tg_fake.texts(1001)[0]


@pytest.mark.asyncio
async def test_telegram_prompt_waits_out_flood_control(
    telegram: Telegram, tg_fake: FakeBotApi
) -> None:
    rt, tess = telegram.world.rt, telegram.world.tess
    prompt_id = due_prompt(rt.store, tess)
    tg_fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    run = await deliver(rt, NOW)
    assert (run.sent, run.failed) == (1, 0)
    assert telegram.waits.seconds == [7.0]
    assert len(prompt_messages(tg_fake, 1001, prompt_id)) == 1


# Slack


def posts(fake: FakeSlack) -> list[bool]:
    return [c.ok for c in fake.calls_to("chat.postMessage")]


@pytest.mark.asyncio
async def test_slack_message_is_retried_after_5xx_and_429(slack_fake: FakeSlack) -> None:
    waits = Waits()
    delivery = Delivery(web_client(BOT_TOKEN, slack_fake.url, sleep=waits.sleep), waits.sleep)
    slack_fake.fail("chat.postMessage", Failure("internal_error", status=502))
    slack_fake.fail("chat.postMessage", Failure("service_unavailable", status=503))
    limited = Failure("ratelimited", status=429, headers={"Retry-After": "4"})
    slack_fake.fail("chat.postMessage", limited)
    await delivery.direct("UANNA", [Text("Dank voor je les")])
    assert posts(slack_fake) == [False, False, False, True]
    assert "Dank voor je les" in slack_fake.texts()[-1]
    # Backoff with jitter (at most a second extra) for the 5xx; Retry-After for the 429.
    first, second, third = waits.seconds
    assert BACKOFF_FACTOR <= first < BACKOFF_FACTOR + 1
    assert 2 * BACKOFF_FACTOR <= second < 2 * BACKOFF_FACTOR + 1
    assert third == 4.0


@pytest.mark.asyncio
async def test_slack_posts_what_a_channel_refused_midway_by_dm(slack_fake: FakeSlack) -> None:
    """A reply of more than 50 blocks goes out as several messages; when the channel
    refuses a later one, the parts not posted there follow by DM, none twice."""
    delivery = Delivery(web_client(BOT_TOKEN, slack_fake.url))
    lines = [f"regel {n}: " + "x" * 2900 for n in range(70)]  # one section each
    slack_fake.fail(
        "chat.postMessage",
        Failure("not_in_channel", when=lambda args: "regel 50:" in json.dumps(args)),
    )
    origin = Origin(team="T1", user="UANNA", channel="C1", thread_ts="1.2")
    await delivery.send(origin, [Text("\n".join(lines))])
    calls = slack_fake.calls_to("chat.postMessage")
    assert [(c.args["channel"], c.ok) for c in calls] == [
        ("C1", True),
        ("C1", False),
        ("DUANNA", True),
    ]
    shown = "".join(json.dumps(c.args["blocks"]) for c in calls if c.ok)
    assert all(shown.count(f"regel {n}:") == 1 for n in range(70))


@pytest.mark.asyncio
async def test_slack_gives_up_after_its_retries(slack_fake: FakeSlack) -> None:
    waits = Waits()
    delivery = Delivery(web_client(BOT_TOKEN, slack_fake.url, sleep=waits.sleep), waits.sleep)
    slack_fake.fail("chat.postMessage", Failure("internal_error", status=500, times=99))
    with pytest.raises(Exception, match="internal_error"):
        await delivery.direct("UANNA", [Text("Dank voor je les")])
    assert posts(slack_fake) == [False] * (1 + SERVER_ERROR_RETRIES)
    assert len(waits.seconds) == SERVER_ERROR_RETRIES


@pytest.mark.asyncio
async def test_slack_prompt_stays_queued_until_the_api_is_back(
    tmp_path: Path, slack_fake: FakeSlack
) -> None:
    world = make_slack_world(tmp_path, slack_fake, socket_mode=False)
    rt = world.rt
    adapter = configure(rt)
    assert isinstance(adapter, SlackAdapter)
    waits = Waits()
    adapter.client.retry_handlers = retry_handlers(waits.sleep)
    with rt.store.transaction():
        anna = rt.store.add_member(world.fire.id, "Anna", Identity("slack", "UANNA"))
    prompt_id = due_prompt(rt.store, anna)
    await adapter.start()
    try:
        tries = 1 + max(SERVER_ERROR_RETRIES, RATE_LIMIT_RETRIES)
        slack_fake.fail("chat.postMessage", Failure("service_unavailable", 503, times=tries))
        run = await deliver(rt, NOW)
        assert (run.claimed, run.sent, run.failed) == (1, 0, 1)
        assert posts(slack_fake) == [False] * (1 + SERVER_ERROR_RETRIES)
        with rt.store.transaction():
            prompt = rt.store.get_prompt(prompt_id)
        assert prompt is not None and prompt.state == PromptState.SCHEDULED
        assert prompt.last_error == "DeliveryFailed"

        slack_fake.failures.clear()  # Slack is back
        assert (await deliver(rt, NOW + RETRY_FIRST / 2)).claimed == 0
        assert (await deliver(rt, NOW + RETRY_FIRST)).sent == 1
        assert (await deliver(rt, NOW + timedelta(hours=1))).claimed == 0
    finally:
        await adapter.stop()
    delivered = [
        c
        for c in slack_fake.calls_to("chat.postMessage")
        if c.ok and f"/invullen {prompt_id}" in json.dumps(c.args)
    ]
    assert len(delivered) == 1 and delivered[0].args["channel"] == "DUANNA"
    assert len(waits.seconds) == SERVER_ERROR_RETRIES
