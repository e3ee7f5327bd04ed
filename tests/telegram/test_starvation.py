"""Direct messages from worker threads must never wait for another worker thread.

The core runs in worker threads; a kudos notice (or a prompt) is sent from such a thread,
which waits for the event loop to do the sending. If that sending needed a worker thread
itself, a busy pool would wait for itself until the send timeout: under load every worker
thread was waiting in a kudos notice and nothing moved. These tests run the adapter with a
pool that refuses work instead of queueing it when all its threads are busy, which makes the
starvation visible at once, without waiting for any timeout.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
import pytest_asyncio

from adapters.telegram.app import TelegramAdapter
from bot.replies import Text
from tests.telegram.conftest import Chat, World
from tests.telegram.fake_api import FakeBotApi


class Starved(RuntimeError):
    """Work was handed to a pool whose every thread was busy."""


class StrictPool(ThreadPoolExecutor):
    """A thread pool that raises instead of queueing when all its threads are busy."""

    def __init__(self, workers: int) -> None:
        super().__init__(max_workers=workers, thread_name_prefix="strict")
        self.workers = workers
        self.busy = 0
        self.refused = 0
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            if self.busy >= self.workers:
                self.refused += 1
                raise Starved(f"all {self.workers} worker threads are busy")
            self.busy += 1

        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:  # before the future completes, so the next submit sees a free thread
                with self._lock:
                    self.busy -= 1

        return super().submit(run)


@pytest_asyncio.fixture
async def one_thread() -> AsyncIterator[StrictPool]:
    """The event loop's worker threads: just one."""
    pool = StrictPool(1)
    asyncio.get_running_loop().set_default_executor(pool)
    yield pool
    pool.shutdown(wait=True)


@pytest.mark.asyncio
async def test_a_direct_message_needs_no_second_worker_thread(
    one_thread: StrictPool, world: World, fake: FakeBotApi, adapter: TelegramAdapter
) -> None:
    tess = world.tess.identities[0]
    # The only worker thread sends; the sending itself must not need another one.
    await asyncio.to_thread(adapter.send_direct, tess, [Text("Hallo Tess")])
    assert fake.texts(1001) == ["Hallo Tess"]
    assert one_thread.refused == 0


@pytest.mark.asyncio
async def test_a_kudos_notice_arrives_with_a_single_worker_thread(
    one_thread: StrictPool, world: World, fake: FakeBotApi, chat: Chat
) -> None:
    answer = await chat.say(1002, "/kudos @Tess_Jansen voor de briefing")
    assert answer == ["Je kudos zijn verstuurd aan Tess Jansen. Mooi dat je dat doet!"]
    assert fake.texts(1001) == ["🎉 Kudos van Tom Bakker (Politie Oost): voor de briefing"]
    assert one_thread.refused == 0
