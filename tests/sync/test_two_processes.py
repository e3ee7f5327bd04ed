"""Two real `leerlus run` processes on one PostgreSQL database keep their indexes in step.

Members talk to the processes through the Telegram webhook (the real adapter, a local fake
Bot API). A lesson saved through process A becomes findable through process B, and a
lesson hidden or forgotten through A disappears from B's answers. Once with BM25 only
(LEERLUS_EMBEDDING_MODEL empty: fast), once with the bundled MiniLM model and its faiss
index as well. Reproduce, with the figures, with:

    LEERLUS_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        python -m pytest tests/sync/test_two_processes.py -q -s -p no:cacheprovider
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.models import Discipline, Identity, Role
from storage import SqlStore, make_engine, upgrade
from tests.adapters.conftest import free_port
from tests.pg import fresh_database
from tests.telegram.conftest import SECRET, TOKEN, message_update
from tests.telegram.fake_api import FakeBotApi

REPO = Path(__file__).resolve().parents[2]
TESS, BRAM, CHRIS, TOM = 1001, 1002, 1003, 1004  # Telegram user ids (= their chat ids)
T = TypeVar("T")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    base = os.environ.get("LEERLUS_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("LEERLUS_TEST_POSTGRES_URL not set: two processes need PostgreSQL")
    with fresh_database(base, "leerlus_sync") as url:
        yield url


class FakeTelegram:
    """The fake Bot API on an event loop of its own, for a synchronous test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.api = FakeBotApi(TOKEN)
        self._call(self.api.start())

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def texts(self, chat_id: int) -> list[str]:
        return self.api.texts(chat_id)

    def stop(self) -> None:
        self._call(self.api.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram()
    yield fake
    fake.stop()


def seed(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    store = SqlStore(engine)
    try:
        with store.transaction():
            fire = store.add_org("Brandweer Utrecht", "bw-utrecht", Discipline.BRANDWEER)
            police = store.add_org("Politie Midden", "pol-midden", Discipline.POLITIE)
            store.add_member(fire.id, "Tess de Boer", Identity("telegram", str(TESS)))
            store.add_member(
                fire.id, "Bram Smit", Identity("telegram", str(BRAM)), role=Role.COORDINATOR
            )
            store.add_member(police.id, "Chris Jansen", Identity("telegram", str(CHRIS)))
            store.add_member(fire.id, "Tom Visser", Identity("telegram", str(TOM)))
    finally:
        engine.dispose()


def lesson_ids(db_url: str, user: int) -> list[int]:
    engine = make_engine(db_url)
    store = SqlStore(engine)
    try:
        member = store.member_by_identity(Identity("telegram", str(user)))
        assert member is not None
        return [r.id for r in store.reflections_of(member.id)]
    finally:
        engine.dispose()


_updates = itertools.count(1)  # update ids are unique across both processes (dedup key)


@dataclass
class Run:
    """One `leerlus run` process serving the Telegram webhook."""

    name: str
    process: subprocess.Popen[str]
    port: int
    telegram: FakeTelegram
    err: str = ""

    def _request(self, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        if body is not None:
            request.data = json.dumps(body).encode()
            request.add_header("Content-Type", "application/json")
            request.add_header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read()) if body is None else response.status

    def say(self, user: int, words: str) -> list[str]:
        """Send a message; return what the user read in reply (handled before the 200)."""
        before = len(self.telegram.texts(user))
        status = self._request("/telegram/webhook", message_update(next(_updates), user, words))
        assert status == 200
        return self.telegram.texts(user)[before:]

    def indexed(self) -> int:
        """How many lessons this process's indexes hold (GET /healthz; no search made)."""
        counts = set(self._request("/healthz")["index"].values())
        assert len(counts) == 1, counts  # BM25 and every dense index hold the same lessons
        return int(counts.pop())

    def reflect(self, user: int, lesson: str) -> None:
        steps = ["/reflectie", "De inzet liep vlot.", "Het duurde lang voor er water was."]
        for words in [*steps, lesson, "netwerk", "overslaan", "overslaan"]:
            self.say(user, words)
        done = self.say(user, "overslaan")
        assert done[0].startswith("Dank je wel! Je les is bewaard"), done


@pytest.fixture
def start(
    pg_url: str, telegram: FakeTelegram, tmp_path: Path
) -> Iterator[Callable[[str, str], Run]]:
    seed(pg_url)
    started: list[Run] = []
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("LEERLUS_", "SLACK_", "TELEGRAM_"))
    }

    def start(name: str, encoders: str) -> Run:
        port = free_port()
        own = {
            "LEERLUS_DATABASE_URL": pg_url,
            "LEERLUS_DATA_DIR": str(tmp_path / name),
            "LEERLUS_HTTP_PORT": str(port),
            "LEERLUS_EMBEDDING_MODEL": encoders,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": telegram.api.api_url,
            "TELEGRAM_WEBHOOK_URL": f"https://{name.lower()}.example.nl/telegram/webhook",
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "PYTHONPATH": str(REPO),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "adapters.cli", "run"],
            env={**env, **own},
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        run = Run(name, process, port, telegram)
        started.append(run)
        assert process.stdout is not None
        first = process.stdout.readline()  # printed once the server is up
        assert first.startswith("HTTP server"), process.stderr.read() if process.stderr else ""
        return run

    yield start
    for run in started:
        if run.process.poll() is None:
            run.process.send_signal(signal.SIGTERM)
        _, run.err = run.process.communicate(timeout=60)
        assert run.process.returncode == 0, run.err
        assert "index refresh failed" not in run.err


def within(condition: Callable[[], T], seconds: float = 10.0) -> tuple[T, float]:
    """Bounded polling for another process; return the value and the seconds it took."""
    started = time.monotonic()
    while True:
        value = condition()
        if value:
            return value, time.monotonic() - started
        assert time.monotonic() - started < seconds, "the other process did not catch up"
        time.sleep(0.01)


def shows(run: Run, user: int, lesson: str) -> bool:
    """Whether a question in the lesson's own words is answered with that lesson's card.

    Whether it is found is the point here, not the ranking (MiniLM alone finds little
    in Dutch); the answer repeats the question, so look for the card's "Les:" line.
    """
    return any(f"Les: {lesson}" in said for said in run.say(user, f"/vraag {lesson}"))


@pytest.mark.parametrize("encoders", ["", "minilm"])
def test_a_lesson_saved_hidden_or_forgotten_in_a_is_seen_by_b(
    start: Callable[[str, str], Run], pg_url: str, encoders: str
) -> None:
    a, b = start("A", encoders), start("B", encoders)
    assert a.indexed() == b.indexed() == 0
    first = "Neem bij een binnenbrand altijd een reserveset portofoons mee."

    a.reflect(TESS, first)
    # B's own refresh (once a second) catches up without anyone asking B anything.
    _, periodic = within(lambda: b.indexed() == 1)
    # B's index has it now: the first question finds it (and loads B's model, if any).
    asked = time.monotonic()
    assert shows(b, CHRIS, first)
    asked = time.monotonic() - asked
    assert a.indexed() == 1
    assert shows(a, CHRIS, first)  # A itself: at once

    [first_id] = lesson_ids(pg_url, TESS)
    assert a.say(BRAM, f"/verberg {first_id}")[0].startswith(f"Les {first_id} is verborgen")
    _, hidden = within(lambda: b.indexed() == 0)
    assert not shows(b, CHRIS, first)

    second = "Controleer de dompelpomp voor elke inzet bij wateroverlast."
    a.reflect(TOM, second)
    within(lambda: shows(b, CHRIS, second))
    a.say(TOM, "/vergeet")
    assert a.say(TOM, "/ja")[0].startswith("Klaar. Al je gegevens zijn verwijderd (1 lessen)")
    # (Answers alone would not prove it: they only show lessons the database still has.)
    _, forgotten = within(lambda: b.indexed() == 0)
    assert not shows(b, CHRIS, second)
    print(
        f"\n[{encoders or 'bm25'}] saved in A -> in B's index {periodic:.2f} s (periodic"
        f" refresh), answered by B {asked:.2f} s later; hidden ->"
        f" gone from B's index {hidden:.2f} s; forgotten -> gone from B's index {forgotten:.2f} s"
    )
