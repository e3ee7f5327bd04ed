"""Load test: many chat users at once against `leerlus run`, over HTTP, on PostgreSQL.

    python -m bench.load [--users 30] [--duration 120] [--actions N] [--encoders e5,minilm]

Everything runs on 127.0.0.1: the fake Slack Web API and the fake Telegram Bot API of the
tests (each a process, bench/load_fakes.py), a fresh database `leerlus_load_<id>` on the
PostgreSQL server of LEERLUS_TEST_POSTGRES_URL (dropped at the end), and a `leerlus run`
process with Slack in HTTP mode (signing secret) and Telegram in webhook mode (secret), both
pointed at the fakes. The database holds the demo network plus generated members with Slack
and Telegram identities in every organisation.

First one question per platform, not measured (the encoders load their models then), and a
baseline: one Slack and one Telegram user alone, a few actions each. Then `--users`
users at once (half Slack, half Telegram) ask questions, reflect (the Slack modal; the
Telegram step-by-step flow with its buttons) and give kudos, until `--duration` seconds have
passed or `--actions` actions were started. A share of the requests (`--redeliver`) is
delivered twice at once, as Slack and Telegram do when unsure.

Reported: requests per second held, latency percentiles per action and overall (until the
HTTP ack, and until the bot's answer reached the fake chat API), errors by kind, and the
exactly-once check: every accepted reflection and kudos is in the database exactly once, each
kudos notice reached its receiver once, no answer is missing and none came twice. Prints a
table, writes bench/results/load.json, and exits 1 when anything was lost, duplicated or
missing, or any error occurred.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, make_url, text

from bench.load_fakes import TELEGRAM_TOKEN
from bench.load_users import (
    Budget,
    Driver,
    Inbox,
    Person,
    Record,
    SlackUser,
    Stats,
    Target,
    TelegramUser,
    User,
    act,
    notices,
    run_user,
    slack_key,
    telegram_key,
)
from bot.config import DEFAULT_ENCODERS
from bot.models import Discipline, Identity
from storage import SqlStore, make_engine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "load.json"
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SLACK_TEAM = "T1"  # the workspace of the fake Slack (tests.slack.fake_slack.TEAM)

MAX_USERS = 200
MAX_DURATION = 900.0  # seconds of load
MAX_ACTIONS = 100_000
START_TIMEOUT = 300.0  # seconds for `leerlus demo` and for `leerlus run` to become healthy
DRAIN_TIMEOUT = 60.0  # seconds the users may take to finish their last action
NOTICE_WAIT = 10.0  # seconds to wait for the last kudos notices to reach the fakes

FIRST_NAMES = ("Eva", "Daan", "Sanne", "Mohamed", "Lotte", "Bram", "Noor", "Joris", "Iris")
LAST_NAMES = ("Visser", "Smit", "de Jong", "Bos", "Yilmaz", "Kramer", "Peters", "Hoekstra")


@dataclass(frozen=True)
class Options:
    users: int
    duration: float
    actions: int | None
    think: float
    redeliver: float
    encoders: str
    baseline: int
    admin_url: str
    out: Path
    seed: int


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--users", type=int, default=30, help=f"concurrent users (1-{MAX_USERS})")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load (max 900)")
    parser.add_argument("--actions", type=int, default=None, help="stop after this many actions")
    parser.add_argument("--think", type=float, default=0.3, help="mean pause between steps (s)")
    parser.add_argument("--redeliver", type=float, default=0.05, help="share sent twice at once")
    parser.add_argument("--encoders", default=DEFAULT_ENCODERS, help="LEERLUS_EMBEDDING_MODEL")
    parser.add_argument("--baseline", type=int, default=6, help="baseline actions per platform")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("LEERLUS_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL),
        help="a database URL on the server to create the load database on",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if not 1 <= args.users <= MAX_USERS:
        parser.error(f"--users must be 1 to {MAX_USERS}")
    if not 0 < args.duration <= MAX_DURATION:
        parser.error(f"--duration must be more than 0 and at most {MAX_DURATION:.0f}")
    if args.actions is not None and not 1 <= args.actions <= MAX_ACTIONS:
        parser.error(f"--actions must be 1 to {MAX_ACTIONS}")
    if not 0 <= args.redeliver <= 1 or args.think < 0 or not 0 <= args.baseline <= 100:
        parser.error("--redeliver is a share (0-1), --think >= 0, --baseline 0-100")
    return Options(
        users=args.users,
        duration=args.duration,
        actions=args.actions,
        think=args.think,
        redeliver=args.redeliver,
        encoders=args.encoders,
        baseline=args.baseline,
        admin_url=args.postgres,
        out=args.out,
        seed=args.seed,
    )


# the processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Fake:
    process: subprocess.Popen[str]
    api_url: str
    control: int


def start_fake(kind: str, log: IO[str]) -> Fake:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.load_fakes", kind],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # the fake prints its ports first, or dies
    try:
        info = json.loads(line)
        return Fake(process, info["api"], int(info["control"]))
    except (ValueError, KeyError, TypeError):
        stop(process)
        raise RuntimeError(f"the fake {kind} API did not start (see its log)") from None


def stop(process: subprocess.Popen[Any], timeout: float = 30.0) -> int | None:
    """SIGTERM a process we started, and SIGKILL it if it does not end in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    if process.stdout is not None:
        process.stdout.close()
    return process.returncode


def leerlus_command() -> list[str]:
    script = Path(sys.executable).with_name("leerlus")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from adapters.cli import main; main()"]


@contextlib.contextmanager
def database(admin_url: str, run_id: str) -> Iterator[str]:
    """A fresh database on the shared server; dropped again at the end."""
    admin = make_url(admin_url)
    name = f"leerlus_load_{run_id}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


# the network


@dataclass
class Network:
    slack: list[Person]
    telegram: list[Person]
    receivers: list[Person]
    baseline_slack: Person
    baseline_telegram: Person


def make_network(url: str, users: int) -> Network:
    """Members with Slack and Telegram identities in every organisation of the demo network,
    and one more organisation mapped to the fake's Slack workspace."""
    engine = make_engine(url)
    store = SqlStore(engine)
    names = (f"{first} {last}" for last in LAST_NAMES for first in FIRST_NAMES)
    slack: list[Person] = []
    telegram: list[Person] = []
    receivers: list[Person] = []
    with store.transaction():
        orgs = store.list_orgs()
        orgs.append(
            store.add_org(
                "Omgevingsdienst Load",
                "omgevingsdienst-load",
                Discipline.OVERIG,
                slack_team=SLACK_TEAM,
            )
        )
        receiver_count = max(4, users // 4)
        for n in range(users + receiver_count + 2):
            platform = "slack" if n % 2 == 0 else "telegram"
            user_id = f"UL{n:05d}" if platform == "slack" else str(7_000_000 + n)
            name = f"{next(names, 'Lid')} {n}"
            person = Person(platform, user_id, name)
            store.add_member(orgs[n % len(orgs)].id, name, Identity(platform, user_id))
            if n < users:
                (slack if platform == "slack" else telegram).append(person)
            elif n < users + receiver_count:
                receivers.append(person)
            elif platform == "slack":
                baseline_slack = person
            else:
                baseline_telegram = person
    engine.dispose()
    return Network(slack, telegram, receivers, baseline_slack, baseline_telegram)


# driving


async def wait_healthy(url: str, server: subprocess.Popen[Any], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError("leerlus run ended before it served (see its log)")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url + "/healthz") as response:
                    if response.status == 200:
                        return dict(await response.json())
            await asyncio.sleep(0.5)
    raise RuntimeError(f"leerlus run was not healthy within {timeout:.0f} s")


@dataclass
class Phase:
    stats: Stats
    seconds: float
    server_cpu_s: float | None = None  # CPU time `leerlus run` used meanwhile


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), None where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def spent(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else round(after - before, 2)


async def drive(
    opts: Options,
    target: Target,
    network: Network,
    slack_fake: Fake,
    telegram_fake: Fake,
    server_pid: int,
    keep: Path | None = None,
) -> tuple[Phase, Phase, Stats, dict[str, Any]]:
    """The baseline, then the load; then the checks that need the fakes' records."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        slack = Inbox(session, slack_fake.control, slack_key)
        telegram = Inbox(session, telegram_fake.control, telegram_key)
        readers = [asyncio.create_task(slack.run()), asyncio.create_task(telegram.run())]
        every = Stats()
        rng = random.Random(opts.seed)

        def driver(stats: Stats) -> Driver:
            return Driver(
                session,
                target,
                slack,
                telegram,
                stats,
                network.receivers,
                redeliver=opts.redeliver,
                think=opts.think,
                rng=rng,
            )

        # Warm-up, not measured: the first question loads the encoders' models.
        warm = driver(Stats())
        for user in (
            SlackUser(warm, network.baseline_slack),
            TelegramUser(warm, network.baseline_telegram),
        ):
            await act(user, "ask")

        # Baseline: one user per platform, alone, the three actions in turn.
        base = driver(Stats())
        started = time.monotonic()
        cpu = cpu_seconds(server_pid)
        alone: list[User] = [
            SlackUser(base, network.baseline_slack),
            TelegramUser(base, network.baseline_telegram),
        ]
        for user in alone:
            for n in range(opts.baseline):
                await act(user, ("ask", "kudos", "reflect")[n % 3])
        baseline = Phase(base.stats, time.monotonic() - started)
        baseline.server_cpu_s = spent(cpu, cpu_seconds(server_pid))
        base.stats.errors.update(warm.stats.errors)  # a failing warm-up counts too
        for kind, example in warm.stats.error_examples.items():
            base.stats.error_examples.setdefault(kind, example)

        # Load: all users at once.
        load = driver(Stats())
        people: list[User] = [SlackUser(load, p) for p in network.slack]
        people += [TelegramUser(load, p) for p in network.telegram]
        rng.shuffle(people)
        started = time.monotonic()
        cpu = cpu_seconds(server_pid)
        budget = Budget(opts.actions, started + opts.duration)
        tasks = [asyncio.create_task(run_user(u, budget)) for u in people]
        _, late = await asyncio.wait(tasks, timeout=opts.duration + DRAIN_TIMEOUT)
        for task in late:
            task.cancel()
        loaded = Phase(load.stats, time.monotonic() - started)
        loaded.server_cpu_s = spent(cpu, cpu_seconds(server_pid))
        if late:
            load.stats.error("driver", f"{len(late)} users did not finish in time")

        # Merge both phases for the exactly-once checks.
        for stats in (warm.stats, base.stats, load.stats):
            every.reflections += stats.reflections
            every.kudos += stats.kudos
            every.callbacks += stats.callbacks
            every.expected_slack.update(stats.expected_slack)
        deadline = time.monotonic() + NOTICE_WAIT
        while time.monotonic() < deadline:
            await slack.sync()
            await telegram.sync()
            if all(n >= 1 for n in notices(every, slack.all, telegram.all).values()):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)  # a duplicate would come right after: give it the chance
        await slack.sync()
        await telegram.sync()
        for reader in readers:
            reader.cancel()
        checks = fake_checks(every, slack.all, telegram.all)
        checks["fake_read_failures"] = slack.failures + telegram.failures
        if keep is not None:  # for a post-mortem: everything the fakes received
            for name, inbox in (("slack", slack), ("telegram", telegram)):
                path = keep / f"{name}_records.json"
                path.write_text(json.dumps(inbox.all, ensure_ascii=False), encoding="utf-8")
    return baseline, loaded, every, checks


def fake_checks(every: Stats, slack: list[Record], telegram: list[Record]) -> dict[str, Any]:
    """Answers and notices at the fakes (their records): none missing, none twice."""
    slack_counts = Counter(k for k in map(slack_key, slack) if k is not None)
    extra_replies = {
        key: slack_counts[key] - expected
        for key, expected in every.expected_slack.items()
        if slack_counts[key] != expected
    }
    answered = Counter(
        r.get("callback_query_id") for r in telegram if r["method"] == "answerCallbackQuery"
    )
    notice_counts = notices(every, slack, telegram)
    return {
        "slack_replies_expected": sum(every.expected_slack.values()),
        "slack_replies_too_many": sum(n for n in extra_replies.values() if n > 0),
        "slack_replies_too_few": -sum(n for n in extra_replies.values() if n < 0),
        "telegram_button_presses": len(every.callbacks),
        "telegram_presses_unanswered": sum(1 for c in every.callbacks if answered[c] == 0),
        "telegram_presses_answered_twice": sum(1 for c in every.callbacks if answered[c] > 1),
        "kudos_notices_missing": sum(1 for n in notice_counts.values() if n == 0),
        "kudos_notices_twice": sum(1 for n in notice_counts.values() if n > 1),
    }


def database_checks(url: str, run_id: str, every: Stats) -> dict[str, Any]:
    """Each accepted reflection and kudos exactly once in the database, nothing half."""
    pattern = f"%LOAD{run_id}N%"
    engine = make_engine(url)
    with engine.connect() as connection:
        lessons = connection.execute(
            text("SELECT lesson, draft FROM reflections WHERE lesson LIKE :p"), {"p": pattern}
        ).all()
        reasons = connection.execute(
            text("SELECT reason FROM kudos WHERE reason LIKE :p"), {"p": pattern}
        ).all()
    engine.dispose()
    from bench.load_users import TOKEN

    saved = Counter(t for lesson, draft in lessons if not draft for t in TOKEN.findall(lesson))
    drafts = Counter(t for lesson, draft in lessons if draft for t in TOKEN.findall(lesson))
    given = Counter(t for (reason,) in reasons for t in TOKEN.findall(reason))
    reflections, kudos = set(every.reflections), {t for t, _ in every.kudos}
    return {
        "reflections_accepted": len(reflections),
        "reflections_lost": sorted(t for t in reflections if saved[t] == 0),
        "reflections_duplicated": sorted(t for t in reflections if saved[t] > 1),
        "reflections_half": sorted(t for t in reflections if drafts[t] > 0),
        "reflections_saved_unacknowledged": sorted(set(saved) - reflections),
        "kudos_accepted": len(kudos),
        "kudos_lost": sorted(t for t in kudos if given[t] == 0),
        "kudos_duplicated": sorted(t for t in kudos if given[t] > 1),
        "kudos_saved_unacknowledged": sorted(set(given) - kudos),
    }


async def index_check(base_url: str, url: str, timeout: float = 10.0) -> dict[str, Any]:
    """Whether the index of `leerlus run` holds every searchable lesson of the database."""
    engine = make_engine(url)
    deadline = time.monotonic() + timeout
    try:
        async with aiohttp.ClientSession() as session:
            while True:
                async with session.get(base_url + "/healthz") as response:
                    counts = dict((await response.json()).get("index", {}))
                with engine.connect() as connection:
                    lessons = connection.execute(
                        text("SELECT count(*) FROM reflections WHERE NOT draft AND NOT hidden")
                    ).scalar_one()
                agrees = bool(counts) and all(n == lessons for n in counts.values())
                if agrees or time.monotonic() > deadline:
                    return {"lessons": lessons, "index": counts, "agrees": agrees}
                await asyncio.sleep(0.5)
    finally:
        engine.dispose()


def server_log(data_dir: Path) -> dict[str, Any]:
    """Errors and warnings `leerlus run` logged (without their text: it may hold content)."""
    levels: Counter[str] = Counter()
    loggers: Counter[str] = Counter()
    for path in sorted(data_dir.glob("leerlus.log*")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split(" ", 4)
            if len(parts) >= 4 and parts[2] in ("ERROR", "WARNING", "CRITICAL"):
                levels[parts[2]] += 1
                loggers[f"{parts[2]} {parts[3]}"] += 1
    return {"levels": dict(levels), "by_logger": dict(loggers.most_common(10))}


# reporting


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(samples: Sequence[tuple[float, float | None]]) -> dict[str, Any]:
    acks = [a for a, _ in samples]
    replies = [r for _, r in samples if r is not None]
    out: dict[str, Any] = {"count": len(samples)}
    for name, values in (("ack", acks), ("reply", replies)):
        for q in (50, 95, 99):
            value = percentile(values, q)
            out[f"{name}_p{q}_ms"] = None if value is None else round(value * 1000, 1)
    return out


def phase_report(phase: Phase) -> dict[str, Any]:
    stats = phase.stats
    labels = {label: summary(s) for label, s in sorted(stats.samples.items())}
    every = [s for samples in stats.samples.values() for s in samples]
    cpu = phase.server_cpu_s
    return {
        "seconds": round(phase.seconds, 2),
        "server_cpu_s": cpu,
        "server_cpu_ms_per_request": (
            round(cpu * 1000 / stats.requests, 1) if cpu is not None and stats.requests else None
        ),
        "requests": stats.requests,
        "requests_per_s": round(stats.requests / phase.seconds, 2) if phase.seconds else None,
        "actions": dict(stats.actions),
        "actions_per_s": (
            round(sum(stats.actions.values()) / phase.seconds, 2) if phase.seconds else None
        ),
        "redelivered": stats.redelivered,
        "errors": dict(stats.errors),
        "error_examples": stats.error_examples,
        "latency": {**labels, "overall": summary(every)},
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def print_report(console: Console, result: dict[str, Any]) -> None:
    load, base = result["load"], result["baseline"]
    table = Table(title=f"Load: {result['users']} users, {load['seconds']:.0f} s")
    table.add_column("action", no_wrap=True)
    table.add_column("n", justify="right")
    for name in ("ack", "reply"):
        for q in (50, 95, 99):
            table.add_column(f"{name} p{q} ms", justify="right")
    for label, row in load["latency"].items():
        cells = [row[f"{n}_p{q}_ms"] for n in ("ack", "reply") for q in (50, 95, 99)]
        style = "bold" if label == "overall" else None
        shown = ["-" if c is None else f"{c:.0f}" for c in cells]
        table.add_row(label, str(row["count"]), *shown, style=style)
    console.print(table)
    b, lo = base["latency"]["overall"], load["latency"]["overall"]
    console.print(
        f"Baseline (1 user per platform, {base['requests']} requests): reply p50 "
        f"{b['reply_p50_ms']} ms, p95 {b['reply_p95_ms']} ms. Under load: p50 x"
        f"{ratio(lo['reply_p50_ms'], b['reply_p50_ms'])}, p95 x"
        f"{ratio(lo['reply_p95_ms'], b['reply_p95_ms'])}."
    )
    console.print(
        f"Held {load['requests_per_s']} requests/s ({load['requests']} requests, "
        f"{load['redelivered']} sent twice), {load['actions_per_s']} actions/s: "
        + ", ".join(f"{v} {k}" for k, v in sorted(load["actions"].items()))
    )
    console.print(
        f"leerlus run used {load['server_cpu_s']} s CPU under load: "
        f"{load['server_cpu_ms_per_request']} ms per request "
        f"(baseline {base['server_cpu_ms_per_request']} ms; {result['cpus']} CPUs, "
        f"load average {result['load_average'][0]:.1f} at the end: shared with other work)."
    )
    errors = Counter(load["errors"]) + Counter(base["errors"])
    console.print("Errors: " + (", ".join(f"{k} {v}" for k, v in errors.items()) or "none"))
    db, fakes = result["database"], result["fakes"]
    console.print(
        f"Exactly once: {db['reflections_accepted']} reflections accepted, "
        f"{len(db['reflections_lost'])} lost, {len(db['reflections_duplicated'])} duplicated, "
        f"{len(db['reflections_half'])} half; {db['kudos_accepted']} kudos accepted, "
        f"{len(db['kudos_lost'])} lost, {len(db['kudos_duplicated'])} duplicated. "
        f"Answers: {fakes['slack_replies_too_few']} missing and "
        f"{fakes['slack_replies_too_many']} twice (Slack), "
        f"{fakes['telegram_presses_unanswered']} presses unanswered and "
        f"{fakes['telegram_presses_answered_twice']} twice (Telegram); kudos notices "
        f"{fakes['kudos_notices_missing']} missing, {fakes['kudos_notices_twice']} twice."
    )
    index = db["index"]
    console.print(
        f"Index: {index['index']} for {index['lessons']} searchable lessons in the database "
        + ("(agree)." if index["agrees"] else "[red](disagree)[/red].")
    )
    console.print(f"Server log: {result['server_log']['by_logger'] or 'no warnings or errors'}")
    verdict = "[green]PASS[/green]" if result["passed"] else "[red]FAIL[/red]"
    console.print(f"{verdict}: {', '.join(result['problems']) or 'nothing lost or duplicated'}")


def problems(result: dict[str, Any]) -> list[str]:
    found: list[str] = []
    db, fakes = result["database"], result["fakes"]
    for key in (
        "reflections_lost",
        "reflections_duplicated",
        "reflections_half",
        "kudos_lost",
        "kudos_duplicated",
    ):
        if db[key]:
            found.append(f"{len(db[key])} {key.replace('_', ' ')}")
    for key in (
        "slack_replies_too_many",
        "slack_replies_too_few",
        "telegram_presses_unanswered",
        "telegram_presses_answered_twice",
        "kudos_notices_missing",
        "kudos_notices_twice",
    ):
        if fakes[key]:
            found.append(f"{fakes[key]} {key.replace('_', ' ')}")
    if not db["index"]["agrees"]:
        found.append(f"index {db['index']['index']} != {db['index']['lessons']} lessons")
    errors = sum(result["load"]["errors"].values()) + sum(result["baseline"]["errors"].values())
    if errors:
        found.append(f"{errors} errors")
    return found


# the whole run


def run(opts: Options, console: Console) -> dict[str, Any]:
    run_id = secrets.token_hex(4)
    work = Path(tempfile.mkdtemp(prefix=f"leerlus-load-{run_id}-"))
    data_dir = work / "data"
    processes: list[subprocess.Popen[Any]] = []
    log = (work / "processes.log").open("w", encoding="utf-8")
    keep = work if os.environ.get("LEERLUS_LOAD_KEEP") else None
    try:
        with database(opts.admin_url, run_id) as url:
            console.print(f"Database leerlus_load_{run_id}; work directory {work}")
            slack_fake = start_fake("slack", log)
            processes.append(slack_fake.process)
            telegram_fake = start_fake("telegram", log)
            processes.append(telegram_fake.process)
            port = free_port()
            base_url = f"http://127.0.0.1:{port}"
            target = Target(
                base_url=base_url,
                signing_secret=secrets.token_hex(16),
                webhook_secret=secrets.token_urlsafe(24),
                slack_hooks=slack_fake.api_url.removesuffix("api/") + "hooks/",
                run_id=run_id,
            )
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("LEERLUS_", "SLACK_", "TELEGRAM_"))
            }
            env.update(
                LEERLUS_DATABASE_URL=url,
                LEERLUS_DATA_DIR=str(data_dir),
                LEERLUS_HTTP_HOST="127.0.0.1",
                LEERLUS_HTTP_PORT=str(port),
                LEERLUS_EMBEDDING_MODEL=opts.encoders,
                SLACK_BOT_TOKEN="xoxb-load-" + secrets.token_hex(8),
                SLACK_SIGNING_SECRET=target.signing_secret,
                SLACK_API_URL=slack_fake.api_url,
                TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
                TELEGRAM_API_URL=telegram_fake.api_url,
                TELEGRAM_WEBHOOK_URL=f"{base_url}/telegram/webhook",
                TELEGRAM_WEBHOOK_SECRET=target.webhook_secret,
            )
            console.print("Loading the demo network (leerlus demo) ...")
            subprocess.run(
                [*leerlus_command(), "demo"],
                cwd=work,  # no .env of the project in the way
                env=env,
                stdout=log,
                stderr=log,
                check=True,
                timeout=START_TIMEOUT,
            )
            network = make_network(url, opts.users)
            server = subprocess.Popen(
                [*leerlus_command(), "run"], cwd=work, env=env, stdout=log, stderr=log
            )
            processes.append(server)
            health = asyncio.run(wait_healthy(base_url, server, START_TIMEOUT))
            console.print(f"leerlus run is up: {health.get('adapters')}")
            console.print(
                f"Baseline, then {opts.users} users for at most {opts.duration:.0f} s"
                + (f" or {opts.actions} actions" if opts.actions else "")
                + " ..."
            )
            baseline, loaded, every, fakes = asyncio.run(
                drive(opts, target, network, slack_fake, telegram_fake, server.pid, keep)
            )
            checked = database_checks(url, run_id, every)
            checked["index"] = asyncio.run(index_check(base_url, url))
            exit_code = stop(server)
            result: dict[str, Any] = {
                "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "users": opts.users,
                "duration_limit_s": opts.duration,
                "actions_limit": opts.actions,
                "think_s": opts.think,
                "redeliver": opts.redeliver,
                "encoders": opts.encoders,
                "cpus": os.cpu_count(),
                "load_average": os.getloadavg(),
                "baseline": phase_report(baseline),
                "load": phase_report(loaded),
                "database": checked,
                "fakes": fakes,
                "server_log": server_log(data_dir),
                "server_exit_code": exit_code,
            }
            result["problems"] = problems(result)
            result["passed"] = not result["problems"]
            return result
    except Exception:
        log.flush()
        tail = (work / "processes.log").read_text(encoding="utf-8", errors="replace")[-3000:]
        console.print("The load test could not run; the processes wrote:\n" + tail, markup=False)
        raise
    finally:
        for process in reversed(processes):
            stop(process)
        log.close()
        if keep is not None:
            console.print(f"Kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    console = Console()
    result = run(opts, console)
    print_report(console, result)
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"Wrote {opts.out}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
