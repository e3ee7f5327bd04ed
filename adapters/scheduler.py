"""The one scheduler of `leerlus run` (APScheduler): it only says *when* the core's jobs run.

Each job is a plain function of `now` in the core (`bot.handlers.delivery`, `.digest`),
run in a worker thread because the store is synchronous. The scheduler keeps no state of
its own that matters: the prompt and member rows say what is due, so a restart, or a
second `leerlus run` on the same PostgreSQL database, neither loses nor repeats a message.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING
from apscheduler.triggers.interval import IntervalTrigger

from adapters.runtime import Runtime
from bot.handlers import delivery, digest
from bot.ports import Clock, Notifier, Store

log = logging.getLogger(__name__)

NAME = "scheduler"
PROMPT_INTERVAL = 60.0  # seconds between delivery runs
EXPIRY_INTERVAL = 900.0
DIGEST_INTERVAL = 300.0  # the digest arrives within five minutes after Monday 09:00
MAX_BATCHES = 200  # per delivery run; the next run continues where this one stopped
STOP_GRACE = 30.0  # seconds a stopping scheduler waits for a batch in flight


@dataclass
class JobStatus:
    """What /healthz says about one job."""

    last_run: datetime | None = None
    last_error: str | None = None
    runs: int = 0


def worker_id() -> str:
    """A name for this process in claims: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Scheduler:
    """Runs delivery, expiry and digest jobs on the event loop of `leerlus run`."""

    name = NAME

    def __init__(
        self,
        *,
        store: Store,
        notifier: Notifier,
        clock: Clock,
        worker: str | None = None,
        interval: float = PROMPT_INTERVAL,
        expiry_interval: float = EXPIRY_INTERVAL,
        digest_interval: float = DIGEST_INTERVAL,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self.worker = worker or worker_id()
        self.intervals = {
            "prompts": interval,
            "expiry": expiry_interval,
            "digest": digest_interval,
        }
        self.jobs = {job: JobStatus() for job in self.intervals}
        self._scheduler: AsyncIOScheduler | None = None
        self._busy: set[asyncio.Task[Any]] = set()

    def describe(self) -> str:
        """How it runs, for the start-up lines."""
        every = self.intervals["prompts"]
        return f"running (prompts every {every:g} s; weekly digest Mondays 09:00 local time)"

    def add_routes(self, app: web.Application) -> None:
        """No endpoints of its own: it makes itself known to /healthz."""
        app[SCHEDULER] = self

    async def start(self) -> None:
        """Start the jobs; each also runs once right away, so nothing waits a full interval."""
        scheduler = AsyncIOScheduler(
            timezone=UTC,
            # Never two runs of one job at once in this process, no catch-up bursts after
            # a pause, and a late run still runs: the rows tell it what is due.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        jobs: dict[str, Callable[[], Any]] = {
            "prompts": self.run_prompts,
            "expiry": self.run_expiry,
            "digest": self.run_digest,
        }
        for job, func in jobs.items():
            scheduler.add_job(
                func,
                IntervalTrigger(seconds=self.intervals[job], timezone=UTC),
                id=job,
                name=job,
                next_run_time=datetime.now(UTC),
            )
        scheduler.start()
        self._scheduler = scheduler

    async def stop(self) -> None:
        """Stop scheduling, after letting a batch in flight settle its claims."""
        if self._scheduler is None or not self._scheduler.running:
            return
        self._scheduler.pause()
        if self._busy:
            # Settled now rather than left to the lease: no ten-minute delay after a restart.
            await asyncio.wait(set(self._busy), timeout=STOP_GRACE)
        self._scheduler.shutdown(wait=False)
        # APScheduler 3.11 shuts down on the loop's next turn (call_soon_threadsafe).
        await asyncio.sleep(0)

    @property
    def state(self) -> str:
        """ "running", "paused", "stopped" or "not started"."""
        if self._scheduler is None:
            return "not started"
        return {STATE_RUNNING: "running", STATE_PAUSED: "paused"}.get(
            self._scheduler.state, "stopped"
        )

    def health(self) -> dict[str, Any]:
        """The scheduler's state and its jobs' last and next runs."""
        jobs: dict[str, Any] = {}
        for name, status in self.jobs.items():
            job = self._scheduler.get_job(name) if self._scheduler else None
            next_run = getattr(job, "next_run_time", None) if job else None
            jobs[name] = {
                "last_run": status.last_run.isoformat() if status.last_run else None,
                "next_run": next_run.isoformat() if next_run else None,
                "runs": status.runs,
                "last_error": status.last_error,
            }
        return {"state": self.state, "worker": self.worker, "jobs": jobs}

    # the jobs: each runs the core's function of `now` in a worker thread

    async def run_prompts(self) -> None:
        """Deliver due prompts and reminders, batch after batch, until none is due."""

        def work() -> None:
            for _ in range(MAX_BATCHES):
                # A fresh `now` per batch: a claim's age must be measured from real time.
                run = delivery.deliver_due(
                    self.clock.now(), store=self.store, notifier=self.notifier, worker=self.worker
                )
                if run.claimed < delivery.CLAIM_BATCH:
                    return

        await self._run("prompts", work)

    async def run_expiry(self) -> None:
        """Expire prompts that stayed open for a week."""
        await self._run("expiry", lambda: delivery.expire_due(self.clock.now(), store=self.store))

    async def run_digest(self) -> None:
        """Send the weekly digest to members whose Monday 09:00 has come."""
        await self._run(
            "digest",
            lambda: digest.send_digests(self.clock.now(), store=self.store, notifier=self.notifier),
        )

    async def _run(self, job: str, work: Callable[[], object]) -> None:
        status = self.jobs[job]
        task = asyncio.current_task()
        if task is not None:
            self._busy.add(task)
        try:
            await asyncio.to_thread(work)
            status.last_error = None
        except Exception as error:  # a failing job must not stop the scheduler
            log.exception("scheduler job %s failed", job)
            status.last_error = type(error).__name__
        finally:
            status.last_run = self.clock.now()
            status.runs += 1
            if task is not None:
                self._busy.discard(task)


SCHEDULER = web.AppKey("scheduler", Scheduler)


def configure(rt: Runtime) -> Scheduler:
    """The scheduler always runs in `leerlus run`."""
    return Scheduler(store=rt.store, notifier=rt.notifier, clock=rt.bot.clock)


def not_configured(rt: Runtime) -> str:
    """Never off; present for the adapter interface."""
    return ""
