"""The real Bolt app and Web API client against a fake Slack, over a real SqlStore."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from adapters.runtime import Runtime, build
from adapters.slack.app import SlackAdapter, configure
from bot.commands import SubmitReflection
from bot.config import Settings
from bot.models import Discipline, Identity, Member, Organisation
from bot.replies import Text
from tests.slack import payloads
from tests.slack.fake_slack import TEAM, FakeSlack

BOT_TOKEN = "xoxb-test-bot-token-1234"
APP_TOKEN = "xapp-test-app-token-5678"
SIGNING_SECRET = "test-signing-secret-9abc"


@dataclass
class World:
    """A network with a Slack-mapped fire brigade and a police force on the console."""

    rt: Runtime
    fire: Organisation
    police: Organisation
    officer: Member  # a console member of the police

    def member(self, user: str) -> Member | None:
        return self.rt.bot.member_for(Identity("slack", user))


def make_world(tmp_path: Path, fake: FakeSlack, *, socket_mode: bool) -> World:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        embedding_model="",
        slack_bot_token=BOT_TOKEN,
        slack_app_token=APP_TOKEN if socket_mode else None,
        slack_signing_secret=None if socket_mode else SIGNING_SECRET,
        slack_api_url=fake.url,
    )
    rt = build(settings)
    store = rt.store
    with store.transaction():
        fire = store.add_org("Brandweer Noord", "bw-noord", Discipline.BRANDWEER, slack_team=TEAM)
        police = store.add_org("Politie Zuid", "pol-zuid", Discipline.POLITIE)
        officer = store.add_member(police.id, "Olga", Identity("console", "olga"))
    rt.index.load()  # as `leerlus run` does before serving
    fake.add_user("UANNA", "Anna")
    fake.add_user("UBART", "Bart")
    fake.add_user("UCOR", "Cor")
    return World(rt, fire, police, officer)


def share_lesson(world: World, author: Member, lesson: str, visibility: str = "netwerk") -> str:
    """Let a member share a lesson through the core, as a finished form."""
    command = SubmitReflection(
        went_well="De samenwerking met de gemeente liep goed.",
        improve="De eerste melding kwam laat binnen.",
        lesson=lesson,
        visibility=visibility,
    )
    replies = world.rt.bot.handle(author, command)
    return "\n".join(r.body for r in replies if isinstance(r, Text))


@pytest.fixture
def fake(slack_fake: FakeSlack) -> FakeSlack:
    """The fake Slack of tests/conftest.py, under this directory's short name."""
    return slack_fake


class HttpSlack:
    """Slack as it reaches Leerlus in HTTP mode: signed POSTs to /slack/events."""

    def __init__(self, client: TestClient[Any, Any], fake: FakeSlack, world: World) -> None:
        self.client = client
        self.fake = fake
        self.world = world

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        secret: str = SIGNING_SECRET,
        timestamp: int | None = None,
        retry: int | None = None,
    ) -> tuple[int, str]:
        headers = payloads.sign(secret, body, timestamp or int(time.time()))
        headers["Content-Type"] = content_type
        if retry is not None:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        response = await self.client.post("/slack/events", data=body, headers=headers)
        return response.status, await response.text()

    async def event(self, body: dict[str, Any], **kwargs: Any) -> tuple[int, str]:
        return await self.post(json.dumps(body), "application/json", **kwargs)

    async def command(self, user: str, text: str, **kwargs: Any) -> tuple[int, str]:
        form = payloads.slash(user, text, self.fake.hook_url(user), **kwargs)
        return await self.post(urlencode(form), "application/x-www-form-urlencoded")

    async def interact(self, payload: dict[str, Any]) -> tuple[int, str]:
        return await self.post(payloads.as_form(payload), "application/x-www-form-urlencoded")


@asynccontextmanager
async def slack_http(rt: Runtime) -> AsyncIterator[TestClient[Any, Any]]:
    """Slack in HTTP mode for `rt`: the real Bolt app's routes behind a test server."""
    adapter = configure(rt)
    assert isinstance(adapter, SlackAdapter)
    app = web.Application()
    adapter.add_routes(app)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    await adapter.start()
    try:
        yield client
    finally:
        await adapter.stop()
        await client.close()


@pytest_asyncio.fixture
async def http_slack(tmp_path: Path, fake: FakeSlack) -> AsyncIterator[HttpSlack]:
    world = make_world(tmp_path, fake, socket_mode=False)
    async with slack_http(world.rt) as client:
        yield HttpSlack(client, fake, world)


@dataclass
class SocketSlack:
    adapter: SlackAdapter
    fake: FakeSlack
    world: World


@pytest_asyncio.fixture
async def socket_slack(tmp_path: Path, fake: FakeSlack) -> AsyncIterator[SocketSlack]:
    world = make_world(tmp_path, fake, socket_mode=True)
    adapter = configure(world.rt)
    assert isinstance(adapter, SlackAdapter)
    await adapter.start()
    yield SocketSlack(adapter, fake, world)
    await adapter.stop()


@pytest.fixture
def world_factory(tmp_path: Path) -> Any:
    return lambda fake, socket_mode=False: make_world(tmp_path, fake, socket_mode=socket_mode)
