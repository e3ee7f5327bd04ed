"""On shutdown the Slack adapter waits (bounded) for the interactions it acknowledged.

Slack does not send an acknowledged interaction again, so cancelling it at shutdown would
lose it. The fake Slack holds users.info until the test opens it: the interaction is then
certainly half done.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from adapters.slack.app import SlackAdapter, configure
from tests.slack.conftest import HttpSlack, make_world
from tests.slack.fake_slack import FakeSlack


class HoldingSlack(FakeSlack):
    """The fake Slack; users.info is answered only once `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.held = 0

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["method"] == "users.info":
            self.held += 1
            await self.release.wait()
        return await super()._api(request)


@pytest_asyncio.fixture
async def held(tmp_path: Path) -> AsyncIterator[tuple[HttpSlack, SlackAdapter, HoldingSlack]]:
    fake = HoldingSlack()
    await fake.start()
    world = make_world(tmp_path, fake, socket_mode=False)
    adapter = configure(world.rt)
    assert isinstance(adapter, SlackAdapter)
    app = web.Application()
    adapter.add_routes(app)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    await adapter.start()
    yield HttpSlack(client, fake, world), adapter, fake
    fake.release.set()
    await adapter.stop()
    await client.close()
    await fake.stop()


async def acknowledged_and_held(slack: HttpSlack, fake: HoldingSlack) -> None:
    """A first-time user's command: acknowledged, then held at users.info."""
    status, _ = await slack.command("UANNA", "help")
    assert status == 200
    while not fake.held:  # the listener runs on after the ack; bounded by the test timeout
        await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_drain_waits_for_an_acknowledged_command(
    held: tuple[HttpSlack, SlackAdapter, HoldingSlack],
) -> None:
    slack, adapter, fake = held
    await acknowledged_and_held(slack, fake)
    await adapter.stop_receiving()
    draining = asyncio.ensure_future(adapter.drain(30.0))
    for _ in range(20):  # let the loop run: nothing may finish the drain but the work itself
        await asyncio.sleep(0)
    assert not draining.done()
    fake.release.set()
    assert await asyncio.wait_for(draining, 30.0) == 0
    # Finished when the drain returned: the answer is there, without waiting further.
    assert len(fake.hooks) == 1 and "/leerlus vraag" in fake.hooks[0]["text"]


@pytest.mark.asyncio
async def test_drain_is_bounded_and_says_what_is_unfinished(
    held: tuple[HttpSlack, SlackAdapter, HoldingSlack],
) -> None:
    slack, adapter, fake = held
    await acknowledged_and_held(slack, fake)
    assert await adapter.drain(0.0) == 1
    assert fake.hooks == []
    fake.release.set()
    assert await adapter.drain(30.0) == 0
    assert len(fake.hooks) == 1
