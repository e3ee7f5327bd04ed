"""SIGTERM while work is in flight: `leerlus run` stops taking work, finishes what it took.

A real `leerlus run` process with Slack (HTTP mode) and Telegram (webhook mode), both against
the fakes of their tests in this process. Each fake holds one call of the work in flight
until the test lets it go, so the work is certainly half done when SIGTERM arrives: a Slack
slash command that Bolt has acknowledged, and a Telegram webhook update whose request is
still open. The process must refuse new connections, finish both (the answers arrive after
the signal) and exit cleanly.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from adapters.runtime import build
from bot.config import Settings
from bot.models import Discipline
from tests.adapters.conftest import Cli, free_port
from tests.slack import payloads
from tests.slack.fake_slack import TEAM, FakeSlack
from tests.telegram.conftest import SECRET, message_update, seed
from tests.telegram.fake_api import FakeBotApi

TELEGRAM_TOKEN = "123:ABC"
SLACK_TOKEN = "xoxb-test-bot-token-1234"
SIGNING_SECRET = "test-signing-secret-9abc"
LIMIT = 20.0  # seconds any one step may take before the test fails


class HoldingBotApi(FakeBotApi):
    """The fake Bot API; a message to `held_chat` is answered only once `release` is set."""

    def __init__(self, held_chat: int) -> None:
        super().__init__(TELEGRAM_TOKEN)
        self.held_chat = held_chat
        self.release = asyncio.Event()

    async def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "sendMessage" and int(params["chat_id"]) == self.held_chat:
            await self.release.wait()
        return await super()._result(method, params)


class HoldingSlack(FakeSlack):
    """The fake Slack; users.info is answered only once `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.held = 0  # users.info calls waiting for `release`

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["method"] == "users.info":
            self.held += 1
            await self.release.wait()
        return await super()._api(request)


async def until(condition: Any, what: str) -> None:
    """Poll (bounded) until `condition()` holds."""
    deadline = time.monotonic() + LIMIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def refuses_connections(port: int) -> bool:
    """Whether a TCP connection to the port is refused (a bare connect, no request: a
    request accepted just before the signal would wait for the work in flight)."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


@pytest_asyncio.fixture
async def telegram() -> AsyncIterator[HoldingBotApi]:
    api = HoldingBotApi(held_chat=1001)  # Tess: the kudos notice Tom's update sends her
    await api.start()
    yield api
    api.release.set()
    await api.stop()


@pytest_asyncio.fixture
async def slack() -> AsyncIterator[HoldingSlack]:
    server = HoldingSlack()
    await server.start()
    server.add_user("UNEW", "Nina")
    yield server
    server.release.set()
    await server.stop()


@pytest.mark.asyncio
async def test_sigterm_finishes_accepted_work_and_refuses_new_work(
    cli: Cli, tmp_path: Path, telegram: HoldingBotApi, slack: HoldingSlack
) -> None:
    data = Path(cli.env["LEERLUS_DATA_DIR"])
    rt = build(Settings(_env_file=None, data_dir=data, embedding_model=""))
    world = seed(rt)  # Tess (telegram 1001) and Tom (telegram 1002) of the police
    with rt.store.transaction():
        rt.store.add_org("Brandweer West", "bw-west", Discipline.BRANDWEER, slack_team=TEAM)
    rt.engine.dispose()
    port = free_port()
    env = {
        **cli.env,
        "LEERLUS_HTTP_PORT": str(port),
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_API_URL": telegram.api_url,
        "TELEGRAM_WEBHOOK_URL": "https://leerlus.example.nl/telegram/webhook",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "SLACK_BOT_TOKEN": SLACK_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "run",
        env=env, cwd=cli.home, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        assert process.stdout is not None
        first = await asyncio.wait_for(process.stdout.readline(), 120)
        assert base in first.decode(), first
        async with aiohttp.ClientSession() as session:
            # Slack: a new user's slash command, acknowledged; held at users.info.
            form = urlencode(payloads.slash("UNEW", "help", slack.hook_url("UNEW")))
            headers = payloads.sign(SIGNING_SECRET, form, int(time.time()))
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            async with session.post(f"{base}/slack/events", data=form, headers=headers) as ack:
                assert ack.status == 200
            await until(lambda: slack.held, "Slack's users.info")
            # Telegram: Tom thanks Tess; the webhook request stays open while the notice
            # to Tess is held.
            update = message_update(1, 1002, "/kudos @Tess_Jansen voor de briefing")
            hook = asyncio.ensure_future(
                session.post(
                    f"{base}/telegram/webhook",
                    data=json.dumps(update),
                    headers={
                        "X-Telegram-Bot-Api-Secret-Token": SECRET,
                        "Content-Type": "application/json",
                    },
                )
            )
            await until(
                lambda: any(
                    c.method == "sendMessage" and c.params["chat_id"] == "1001"
                    for c in telegram.calls
                ),
                "the kudos notice to Tess",
            )
            process.send_signal(signal.SIGTERM)
            # New work is refused at once, while the accepted work is still held.
            deadline = time.monotonic() + LIMIT
            while not await refuses_connections(port):
                assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
                await asyncio.sleep(0.05)
            assert process.returncode is None  # still finishing
            telegram.release.set()  # the open webhook request finishes with its update
            response = await asyncio.wait_for(hook, LIMIT)
            assert response.status == 200
            response.release()
            # The Slack command has no request open any more; it is waited for all the same.
            slack.release.set()
        out, err = await asyncio.wait_for(process.communicate(), LIMIT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    errors = err.decode()
    assert process.returncode == 0, errors
    assert "Stopping." in out.decode()
    assert "not initialized" not in errors and "Traceback" not in errors
    # Both were finished after the signal: the answers are there.
    assert telegram.texts(1001) == ["🎉 Kudos van Tom Bakker (Politie Oost): voor de briefing"]
    assert telegram.texts(1002) == [
        "Je kudos zijn verstuurd aan Tess Jansen. Mooi dat je dat doet!"
    ]
    assert [h["hook"] for h in slack.hooks] == ["UNEW"]
    assert "/leerlus vraag" in slack.hooks[0]["text"]
    check = build(Settings(_env_file=None, data_dir=data, embedding_model=""))
    try:
        assert len(check.store.kudos_received(world.tess.id)) == 1
    finally:
        check.engine.dispose()
