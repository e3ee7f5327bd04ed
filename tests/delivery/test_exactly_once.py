"""Exactly once, proven with real processes, a real database and a fake chat platform.

Two workers (the real Scheduler, real APScheduler, real claims) share one database and
deliver 200 due prompts to a fake platform that counts what arrives. Then a worker is
killed with SIGKILL while a message is in flight, and a new one takes over after the
lease. Reproduce with:

    LEERLUS_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        python -m pytest tests/delivery -q -s -p no:cacheprovider
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.handlers.prompts import LEASE
from bot.models import Discipline, Identity, IncidentKind, PromptState
from storage import SqlStore, make_engine, upgrade
from tests.delivery.sink import Sink

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # a Tuesday: no digest in between


def seed(db_url: str, members: int, incidents: int) -> list[int]:
    """A network with members on Telegram and one due prompt per member per incident."""
    upgrade(db_url)
    engine = make_engine(db_url)
    store = SqlStore(engine)
    try:
        with store.transaction():
            org = store.add_org("Brandweer Midden", "bw", Discipline.BRANDWEER)
            people = [
                store.add_member(org.id, f"Lid {n}", Identity("telegram", f"{1000 + n}"))
                for n in range(members)
            ]
            ids: list[int] = []
            for i in range(incidents):
                incident = store.add_incident(
                    org.id, f"Incident {i}", IncidentKind.INCIDENT, NOW, NOW, [m.id for m in people]
                )
                due = NOW - timedelta(minutes=5)
                for m in people:
                    prompt = store.add_prompt(incident.id, m.id, due, NOW, due + timedelta(days=7))
                    ids.append(prompt.id)
        return ids
    finally:
        engine.dispose()


def states(db_url: str) -> dict[int, tuple[PromptState, str | None, int]]:
    engine = make_engine(db_url)
    store = SqlStore(engine)
    try:
        with store.transaction():
            org = store.find_org("bw")
            assert org is not None
            return {
                p.id: (p.state, p.claimed_by, p.attempts) for p in store.prompts_for_org(org.id)
            }
    finally:
        engine.dispose()


class Workers:
    """Starts worker processes and makes sure none outlives the test."""

    def __init__(self, db_url: str, sink: Sink) -> None:
        self.db_url = db_url
        self.sink = sink
        self.running: list[subprocess.Popen[str]] = []

    def start(self, name: str, now: datetime) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        command = ["-m", "tests.delivery.worker", self.db_url, self.sink.url, now.isoformat()]
        process = subprocess.Popen(
            [sys.executable, *command, name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        self.running.append(process)
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready", process.stderr
        return process

    @staticmethod
    def go(*processes: subprocess.Popen[str]) -> None:
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()

    @staticmethod
    def stop(process: subprocess.Popen[str]) -> str:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        return err

    def cleanup(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=30)


@pytest.fixture
def sink() -> Iterator[Sink]:
    sink = Sink(delay=0.005).start()
    yield sink
    sink.stop()


@pytest.fixture
def workers(db_url: str, sink: Sink) -> Iterator[Workers]:
    workers = Workers(db_url, sink)
    yield workers
    workers.cleanup()


def wait_for(condition: Callable[[], bool], seconds: float = 90) -> None:
    """Bounded polling for a side effect of another process."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the workers did not get there in time"
        time.sleep(0.02)


def test_two_processes_deliver_each_prompt_exactly_once(
    db_url: str, sink: Sink, workers: Workers
) -> None:
    ids = seed(db_url, members=40, incidents=5)
    a, b = workers.start("A", NOW), workers.start("B", NOW)
    workers.go(a, b)
    wait_for(lambda: len({d.prompt_id for d in sink.snapshot()}) == len(ids))
    workers.stop(a)
    workers.stop(b)  # both have stopped: nothing more can arrive
    deliveries = sink.snapshot()
    per_prompt = Counter(d.prompt_id for d in deliveries)
    per_worker = Counter(d.worker for d in deliveries)
    print(
        f"\n[{db_url.split(':')[0]}] two processes: {len(ids)} prompts, "
        f"{len(deliveries)} deliveries, {len(per_prompt)} distinct; by worker {dict(per_worker)}"
    )
    assert set(per_prompt) == set(ids)
    assert max(per_prompt.values()) == 1 and len(deliveries) == len(ids)
    assert per_worker["A"] > 0 and per_worker["B"] > 0  # they really worked side by side
    final = states(db_url)
    assert {state for state, _, _ in final.values()} == {PromptState.SENT}
    assert {attempts for _, _, attempts in final.values()} == {1}
    assert all(final[d.prompt_id][1] == d.worker for d in deliveries)  # settled by its sender


def test_a_worker_killed_mid_delivery_loses_nothing(
    db_url: str, sink: Sink, workers: Workers
) -> None:
    ids = seed(db_url, members=10, incidents=3)
    sink.block_at = 7  # the 7th message hangs at the platform
    a = workers.start("A", NOW)
    workers.go(a)
    assert sink.blocked.wait(60)
    a.send_signal(signal.SIGKILL)  # mid-delivery: accepted by the platform, not settled
    a.communicate(timeout=30)
    sink.release.set()
    in_flight = sink.snapshot()[-1].prompt_id
    before = states(db_url)
    claimed_by_a = {pid for pid, (state, who, _) in before.items() if state is PromptState.SENDING}
    assert in_flight in claimed_by_a and all(before[p][1] == "A" for p in claimed_by_a)

    # Restarted before the lease is over: the dead claims are respected, the rest goes out.
    early = workers.start("B", NOW + LEASE - timedelta(seconds=1))
    workers.go(early)
    wait_for(
        lambda: len({d.prompt_id for d in sink.snapshot()}) == len(ids) - len(claimed_by_a) + 1
    )
    workers.stop(early)
    # After the lease the next process takes the dead claims over.
    c = workers.start("C", NOW + LEASE)
    workers.go(c)
    wait_for(lambda: len({d.prompt_id for d in sink.snapshot()}) == len(ids))
    workers.stop(c)

    deliveries = sink.snapshot()
    per_prompt = Counter(d.prompt_id for d in deliveries)
    twice = sorted(p for p, n in per_prompt.items() if n > 1)
    print(
        f"\n[{db_url.split(':')[0]}] kill -9: {len(ids)} prompts, {len(deliveries)} deliveries, "
        f"{len(per_prompt)} distinct; killed with {len(claimed_by_a)} claimed, "
        f"prompt {in_flight} in flight; delivered twice: {twice}"
    )
    assert set(per_prompt) == set(ids)  # nothing lost
    # at-least-once: only the message the platform had accepted when A died came twice
    assert twice == [in_flight] and len(deliveries) == len(ids) + 1
    final = states(db_url)
    assert {state for state, _, _ in final.values()} == {PromptState.SENT}
    assert {p for p, (_, who, _) in final.items() if who == "C"} == claimed_by_a
    assert all(final[p][2] == 2 for p in claimed_by_a)  # one attempt by A, one by C
