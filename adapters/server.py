"""`leerlus run`: one event loop with the HTTP server and every configured adapter.

A chat adapter (Slack, Telegram) or background service (the scheduler) plugs in through
`ChatAdapter`: a module in ADAPTER_MODULES offers `configure(rt) -> ChatAdapter | None`
(None when its settings are absent, with the reason in `not_configured(rt)`), adds its
routes to the one aiohttp application, and is started and stopped with it.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
from typing import Any, Protocol

from aiohttp import web
from rich.console import Console
from sqlalchemy import text

from adapters.runtime import Runtime
from adapters.scheduler import SCHEDULER, Scheduler
from bot.handlers.delivery import backlog

log = logging.getLogger(__name__)

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


async def _serve(rt: Runtime, console: Console) -> None:
    # Load (or rebuild) the index before serving, so the first question is not the slow one.
    await asyncio.to_thread(rt.index.load)
    adapters, status = load_adapters(rt)
    app = make_app(rt, status)
    for adapter in adapters:
        adapter.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    console.print("Stopping.")
    for adapter in reversed(adapters):
        try:
            await adapter.stop()
        except Exception:
            log.exception("stopping %s failed", adapter.name)
    await runner.cleanup()


def serve(rt: Runtime, console: Console) -> None:
    """Run the server until SIGINT or SIGTERM."""
    asyncio.run(_serve(rt, console))
