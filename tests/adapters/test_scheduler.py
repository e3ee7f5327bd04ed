"""The scheduler inside the HTTP server: jobs run, /healthz tells, `leerlus run` starts it."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters.runtime import Runtime
from adapters.scheduler import Scheduler
from adapters.server import ChatAdapter, load_adapters, make_app
from bot.handlers.incidents import record_incident
from bot.models import Identity, IncidentKind, PromptState
from bot.replies import Reply, Text
from tests.adapters.conftest import Cli
from tests.adapters.test_api import NOW, TOKEN, runtime
from tests.fakes import FixedClock

HOUR = timedelta(hours=1)
TUESDAY = NOW + timedelta(days=1)


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    rt = runtime(tmp_path, TOKEN)
    rt.bot.clock = FixedClock(TUESDAY)  # not a Monday: no digest in between
    with rt.store.transaction():
        members = rt.store.list_members()
        org = rt.store.list_orgs()[0]
        # Due an hour ago: overdue until the scheduler runs.
        record_incident(
            rt.store,
            org_id=org.id,
            title="Brand",
            kind=IncidentKind.INCIDENT,
            occurred_at=TUESDAY - 3 * HOUR,
            participants=members,
            now=TUESDAY - 3 * HOUR,
            prompt_at=TUESDAY - HOUR,
        )
    yield rt
    rt.engine.dispose()


async def until(condition: Callable[[], bool], seconds: float = 20) -> None:
    """Poll for a side effect of the scheduler's thread, within a bound."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the scheduler did not get there in time"
        await asyncio.sleep(0.01)


def scheduler_of(adapters: Sequence[ChatAdapter]) -> Scheduler:
    return next(a for a in adapters if isinstance(a, Scheduler))


@pytest.mark.asyncio
async def test_jobs_deliver_through_the_notifier_and_healthz_reports(rt: Runtime) -> None:
    received: list[tuple[Identity, Sequence[Reply]]] = []
    rt.notifier.register("slack", lambda who, replies: received.append((who, replies)))

    def failing(who: Identity, replies: Sequence[Reply]) -> None:
        raise ConnectionError("telegram is down")

    rt.notifier.register("telegram", failing)
    adapters, status = load_adapters(rt)
    app = make_app(rt, status)
    for adapter in adapters:
        adapter.add_routes(app)
    scheduler = scheduler_of(adapters)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        before = await (await client.get("/healthz")).json()
        assert before["scheduler"]["state"] == "not started"
        assert before["prompts"] == {"overdue": 3, "failing": 0}
        await scheduler.start()
        await until(lambda: scheduler.jobs["prompts"].runs >= 1)
        health = await (await client.get("/healthz")).json()
        assert health["scheduler"]["state"] == "running"
        assert health["scheduler"]["jobs"]["prompts"]["last_error"] is None
        assert health["prompts"] == {"overdue": 0, "failing": 1}
        await scheduler.stop()
        assert scheduler.state == "stopped"
    finally:
        await client.close()
    [(who, replies)] = received
    assert who == Identity("slack", "U01PIET")
    assert isinstance(replies[0], Text) and "Brand" in replies[0].body
    with rt.store.transaction():
        bas = rt.store.member_by_identity(Identity("console", "bas"))
        anna = rt.store.member_by_identity(Identity("telegram", "4242"))
        assert bas and anna
        [notice] = rt.store.take_notices(bas.id)  # console members get a stored notice
        [failed] = rt.store.prompts_of(anna.id)
    assert "Brand" in notice and "/invullen" in notice
    assert (failed.state, failed.attempts, failed.last_error) == (
        PromptState.SCHEDULED,
        1,
        "ConnectionError",
    )


def test_leerlus_run_starts_the_scheduler_and_prompts_list_shows_the_result(cli: Cli) -> None:
    cli.ok("org", "add", "Brandweer Midden", "--discipline", "brandweer", "--slug", "bw")
    cli.ok("member", "add", "console:bas", "Bas", "--org", "bw")
    cli.ok("incident", "add", "bw", "Brand in loods", "--participant", "console:bas", "--at", "nu")
    listed = cli.ok("prompts", "list", "bw")
    assert "Brand in loods" in listed and "scheduled" in listed
    assert "No prompts" in cli.ok("prompts", "list", "bw", "--state", "sent")
    with cli.running() as server:
        assert server.url in server.first_line
        deadline = time.monotonic() + 30
        while True:  # bounded polling for the first run of the delivery job
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=10) as r:
                health: dict[str, Any] = json.loads(r.read())
            if health["scheduler"]["jobs"]["prompts"]["runs"] >= 1:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert health["scheduler"]["state"] == "running"
        assert health["prompts"] == {"overdue": 0, "failing": 0}
        assert health["adapters"]["api"].startswith("off")
    assert server.process.returncode == 0, server.err
    assert "scheduler: running" in server.out
    sent = cli.ok("prompts", "list", "bw", "--state", "sent", "--state", "answered")
    assert "Brand in loods" in sent and "sent" in sent
    chat = cli.ok("chat", "--as", "bas", input="/exit\n")
    assert "Brand in loods" in chat  # the notice, shown when Bas opens the console
