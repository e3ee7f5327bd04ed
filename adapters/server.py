"""`leerlus run`: the HTTP server (health now; Slack, Telegram and the API plug in here)."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from aiohttp import web
from rich.console import Console
from sqlalchemy import text

from adapters.runtime import Runtime

log = logging.getLogger(__name__)


def health(rt: Runtime, adapters: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """The status of database, index and adapters, and the HTTP status that goes with it."""
    status: dict[str, Any] = {"adapters": adapters}
    try:
        with rt.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        status["database"] = "ok"
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
        code, body = await asyncio.to_thread(health, rt, adapters)
        return web.json_response(body, status=code)

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_get("/healthz", healthz)
    return app


def configured_adapters(rt: Runtime) -> dict[str, str]:
    """Which chat adapters this configuration would start, and why not the others."""
    s = rt.settings
    return {
        "slack": "configured" if s.slack_bot_token else "off (SLACK_BOT_TOKEN not set)",
        "telegram": "configured" if s.telegram_bot_token else "off (TELEGRAM_BOT_TOKEN not set)",
    }


async def _serve(rt: Runtime, console: Console) -> None:
    # Load (or rebuild) the index before serving, so the first question is not the slow one.
    await asyncio.to_thread(rt.index.load)
    adapters = configured_adapters(rt)
    app = make_app(rt, adapters)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, rt.settings.http_host, rt.settings.http_port)
    await site.start()
    console.print(
        f"HTTP server on http://{rt.settings.http_host}:{rt.settings.http_port} (GET /healthz)"
    )
    for name, state in adapters.items():
        console.print(f"{name}: {state}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    console.print("Stopping.")
    await runner.cleanup()


def serve(rt: Runtime, console: Console) -> None:
    """Run the server until SIGINT or SIGTERM."""
    asyncio.run(_serve(rt, console))
