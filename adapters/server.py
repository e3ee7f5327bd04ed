"""`leerlus run`: one event loop with the HTTP server and every configured adapter.

A chat adapter (Slack, Telegram) or background service (the scheduler) plugs in through
`ChatAdapter`: a module in ADAPTER_MODULES offers `configure(rt) -> ChatAdapter | None`
(None when its settings are absent, with the reason in `not_configured(rt)`), adds its
routes to the one aiohttp application, and is started and stopped with it.

On SIGINT or SIGTERM the server first stops taking work (no new connections, no more
polling), then lets the work it already took finish, for at most DRAIN_TIMEOUT seconds in
all, and only then closes the adapters' connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import math
import signal
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

from aiohttp import web
from rich.console import Console
from sqlalchemy import text

from adapters.runtime import Runtime
from adapters.scheduler import SCHEDULER, Scheduler
from bot.handlers.delivery import backlog

log = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0  # seconds between prunings of the index change log
KEEP_CHANGES = timedelta(days=1)  # far longer than any process goes without a refresh
# Seconds `leerlus run` gives accepted work to finish on SIGTERM before it closes anyway.
DRAIN_TIMEOUT = 10.0

# One line per adapter module; each has NAME, `configure(rt)` and `not_configured(rt)`.
ADAPTER_MODULES: list[str] = [
    "adapters.slack.app",
    "adapters.telegram.app",
    "adapters.scheduler",
    "adapters.api",
]


class ChatAdapter(Protocol):
    """What `leerlus run` needs of an adapter."""

    name: str

    def describe(self) -> str:
        """How it runs, for the start-up lines and /healthz (e.g. "Socket Mode")."""
        ...

    def add_routes(self, app: web.Application) -> None:
        """Add HTTP endpoints (before the server starts); may add none."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@runtime_checkable
class Draining(Protocol):
    """An adapter that takes work of its own (polling, Socket Mode, work after an ack) and
    can finish it before it stops: `leerlus run` calls these before `stop()`."""

    name: str

    async def stop_receiving(self) -> None:
        """Take no new work (stop polling, disconnect Socket Mode); keep the clients open."""
        ...

    async def drain(self, timeout: float) -> int:
        """Wait up to `timeout` seconds for the work taken; return how much is unfinished."""
        ...


def load_adapters(rt: Runtime) -> tuple[list[ChatAdapter], dict[str, str]]:
    """The configured adapters, and a status line for every known one."""
    running: list[ChatAdapter] = []
    status: dict[str, str] = {}
    for module_name in ADAPTER_MODULES:
        module = importlib.import_module(module_name)
        adapter = module.configure(rt)
        if adapter is None:
            status[module.NAME] = "off (" + module.not_configured(rt) + ")"
        else:
            running.append(adapter)
            status[adapter.name] = adapter.describe()
    return running, status


def health(
    rt: Runtime, adapters: dict[str, str], scheduler: Scheduler | None = None
) -> tuple[int, dict[str, Any]]:
    """The status of database, index, adapters, scheduler and prompts, with its HTTP status."""
    status: dict[str, Any] = {"adapters": adapters}
    status["scheduler"] = scheduler.health() if scheduler else {"state": "not running"}
    try:
        with rt.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        status["database"] = "ok"
        status["prompts"] = backlog(rt.bot.clock.now(), store=rt.store)
    except Exception as error:  # any driver error means: not reachable now
        log.warning("health: database unreachable: %s", type(error).__name__)
        status["database"] = "unreachable"
    status["index"] = rt.index.stats()
    healthy = status["database"] == "ok"
    status["status"] = "ok" if healthy else "degraded"
    return (200 if healthy else 503), status


def make_app(rt: Runtime, adapters: dict[str, str]) -> web.Application:
    """The aiohttp application with every endpoint this process serves."""

    async def healthz(request: web.Request) -> web.Response:
        scheduler = request.app.get(SCHEDULER)
        code, body = await asyncio.to_thread(health, rt, adapters, scheduler)
        return web.json_response(body, status=code)

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_get("/healthz", healthz)
    return app


async def keep_index_in_step(rt: Runtime) -> None:
    """Refresh the index every `index_refresh_seconds` (other processes' changes) until
    cancelled, and prune the change log every hour."""
    every = rt.settings.index_refresh_seconds
    loop = asyncio.get_running_loop()
    pruned_at = -math.inf
    failing = False
    while True:
        try:
            await asyncio.to_thread(rt.index.refresh)
            if loop.time() - pruned_at >= PRUNE_EVERY:
                before = rt.bot.clock.now() - KEEP_CHANGES
                await asyncio.to_thread(rt.store.prune_index_changes, before)
                pruned_at = loop.time()
            if failing:
                log.warning("index refresh works again")
            failing = False
        except Exception as error:  # the database may be away for a while: keep trying
            if not failing:  # once per outage, not every second
                log.warning("index refresh failed: %s", type(error).__name__, exc_info=True)
            failing = True
        await asyncio.sleep(every)


async def _serve(
    rt: Runtime,
    console: Console,
    *,
    stop: asyncio.Event | None = None,
    drain_timeout: float = DRAIN_TIMEOUT,
) -> None:
    # Load (or rebuild) the index before serving, so the first question is not the slow one.
    await asyncio.to_thread(rt.index.load)
    adapters, status = load_adapters(rt)
    app = make_app(rt, status)
    for adapter in adapters:
        adapter.add_routes(app)
    # On shutdown aiohttp waits this long for requests in flight (a Telegram webhook update
    # is handled within its request) before it cancels them.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=drain_timeout)
    await runner.setup()
    site = web.TCPSite(runner, rt.settings.http_host, rt.settings.http_port)
    await site.start()
    for adapter in adapters:
        await adapter.start()
    console.print(
        f"HTTP server on http://{rt.settings.http_host}:{rt.settings.http_port} (GET /healthz)"
    )
    for name, state in status.items():
        console.print(f"{name}: {state}")
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    syncing = asyncio.create_task(keep_index_in_step(rt))
    await stop.wait()
    console.print("Stopping.")
    syncing.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await syncing
    await shut_down(runner, adapters, drain_timeout)


async def shut_down(runner: web.AppRunner, adapters: list[ChatAdapter], timeout: float) -> None:
    """Stop taking new work, let the work already taken finish (up to `timeout` seconds in
    all), then close the adapters' connections.

    Work is "taken" once the platform was told so: a Slack event after Bolt's ack, a
    Telegram update after its webhook request arrived or polling fetched it. Cancelling such
    work would lose it: the platform does not send it again.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for adapter in adapters:  # no new updates from polling or Socket Mode
        if isinstance(adapter, Draining):
            await _quietly(adapter.name, adapter.stop_receiving())
    # No new HTTP connections; requests in flight finish (bounded by the runner's
    # shutdown_timeout), then the application's cleanup runs.
    await runner.cleanup()
    draining = [adapter for adapter in adapters if isinstance(adapter, Draining)]
    left = max(deadline - loop.time(), 0.0)
    results = await asyncio.gather(*(a.drain(left) for a in draining), return_exceptions=True)
    for adapter, result in zip(draining, results, strict=True):
        if isinstance(result, BaseException):
            log.error("draining %s failed", adapter.name, exc_info=result)
        elif result:
            log.warning("%s: %s accepted requests unfinished at shutdown", adapter.name, result)
    for adapter in reversed(adapters):
        await _quietly(adapter.name, adapter.stop())


async def _quietly(name: str, step: Awaitable[None]) -> None:
    """Run one shutdown step; a failure is logged and the shutdown goes on."""
    try:
        await step
    except Exception:
        log.exception("stopping %s failed", name)


def serve(rt: Runtime, console: Console, *, drain_timeout: float = DRAIN_TIMEOUT) -> None:
    """Run the server until SIGINT or SIGTERM; then finish accepted work (bounded) and stop."""
    asyncio.run(_serve(rt, console, drain_timeout=drain_timeout))
