"""Bolt wiring: Socket Mode or HTTP mode, the listeners, and direct messages for the core.

Socket Mode when SLACK_APP_TOKEN is set; HTTP mode (POST /slack/events, Bolt checks the
signature) when only SLACK_SIGNING_SECRET is. Every listener acknowledges first and works
after: Bolt answers Slack at `ack()` and lets the listener run on (process_before_response
is off), so the three-second limit holds however long a search takes.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from adapters.runtime import Runtime
from adapters.slack import inbound
from adapters.slack.bridge import Bridge
from adapters.slack.delivery import Delivery, web_client
from adapters.slack.people import PLATFORM, People
from adapters.slack.worker import CoreRunner
from bot.commands import parse_command
from bot.models import Identity
from bot.replies import Reply

log = logging.getLogger(__name__)

NAME = "slack"
EVENTS_PATH = "/slack/events"
SLASH_COMMAND = "/leerlus"
SEND_TIMEOUT = 30.0  # seconds a direct message may take, retries included


def not_configured(rt: Runtime) -> str:
    """Why Slack is off."""
    settings = rt.settings
    if not settings.slack_bot_token:
        return "SLACK_BOT_TOKEN not set"
    return "SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode) not set"


def configure(rt: Runtime) -> SlackAdapter | None:
    """The Slack adapter, or None when its settings are missing."""
    settings = rt.settings
    if not settings.slack_bot_token:
        return None
    if not (settings.slack_app_token or settings.slack_signing_secret):
        return None
    return SlackAdapter(rt)


class SlackAdapter:
    """Leerlus in a Slack workspace."""

    name = NAME

    def __init__(self, rt: Runtime) -> None:
        settings = rt.settings
        if not settings.slack_bot_token:
            raise ValueError(not_configured(rt))
        self.rt = rt
        self.app_token = settings.slack_app_token
        self.client = web_client(settings.slack_bot_token, settings.slack_api_url)
        self.delivery = Delivery(self.client)
        run = CoreRunner()
        self.people = People(rt.bot, rt.store, self.client, run)
        self.bridge = Bridge(rt, self.delivery, self.people, run)
        self.app = AsyncApp(
            client=self.client,
            # Pass the secret explicitly: Bolt would otherwise read the environment itself.
            signing_secret=settings.slack_signing_secret or "",
            request_verification_enabled=self.app_token is None,
            process_before_response=False,
            logger=logging.getLogger("slack_bolt.leerlus"),
        )
        register(self.app, self.bridge)
        self.handler: AsyncSocketModeHandler | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def socket_mode(self) -> bool:
        return self.app_token is not None

    def describe(self) -> str:
        """How Slack is connected, for the start-up lines and /healthz."""
        return "Socket Mode" if self.socket_mode else f"HTTP mode (POST {EVENTS_PATH})"

    def add_routes(self, app: web.Application) -> None:
        """Serve events, slash commands and interactivity at POST /slack/events (HTTP mode)."""
        if not self.socket_mode:
            app.router.add_post(EVENTS_PATH, self.http)

    async def http(self, request: web.Request) -> web.Response:
        """Hand one HTTP request to Bolt (signature check, ack) and return its response."""
        try:
            response = await self.app.async_dispatch(await to_bolt_request(request))
        except Exception as error:  # Bolt reads a body of the wrong shape by raising
            log.warning("slack: refused a request Bolt could not read: %s", type(error).__name__)
            return web.Response(status=400, text="bad request")
        if response.status >= 500:
            # Our listeners answer after ack(), so a 5xx is Bolt failing to match or read
            # the body (a key missing, a wrong type): a bad request, not a server fault.
            log.warning("slack: refused a request Bolt could not handle")
            return web.Response(status=400, text="bad request")
        return await to_aiohttp_response(response)

    async def start(self) -> None:
        """Register direct messages with the notifier; connect Socket Mode."""
        self.loop = asyncio.get_running_loop()
        self.rt.notifier.register(PLATFORM, self.send_direct)
        if self.app_token is not None:
            self.handler = AsyncSocketModeHandler(self.app, self.app_token, web_client=self.client)
            await self.handler.connect_async()  # type: ignore[no-untyped-call]

    async def stop_receiving(self) -> None:
        """Disconnect Socket Mode (HTTP mode stops with the HTTP server); work already
        acknowledged goes on."""
        if self.handler is not None:
            await self.handler.close_async()  # type: ignore[no-untyped-call]
            self.handler = None

    async def drain(self, timeout: float) -> int:
        """Wait up to `timeout` seconds for acknowledged interactions to be answered; return
        how many are unfinished."""
        return await self.bridge.drain(timeout)

    async def stop(self) -> None:
        """Stop sending direct messages; disconnect Socket Mode."""
        self.rt.notifier.senders.pop(PLATFORM, None)
        await self.stop_receiving()

    def send_direct(self, identity: Identity, replies: Sequence[Reply]) -> None:
        """Send a DM from a worker thread (the notifier); raise when it did not go out."""
        loop = self.loop
        if loop is None or loop.is_closed():
            raise RuntimeError("the Slack adapter is not running")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:  # waiting here would block the loop that has to do the sending
            raise RuntimeError("send_direct must be called from a worker thread")
        future = asyncio.run_coroutine_threadsafe(
            self.delivery.direct(identity.user_id, replies), loop
        )
        try:
            future.result(timeout=SEND_TIMEOUT)
        except TimeoutError:
            future.cancel()
            raise


def register(app: AsyncApp, bridge: Bridge) -> None:
    """Add the listeners: slash command, DMs, mentions, home tab, buttons, the modal."""

    @app.command(SLASH_COMMAND)
    async def slash(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        origin = inbound.command_origin(body)
        command = inbound.with_forms(parse_command(origin.command))
        mentions = inbound.mentioned_users(body.get("text", ""))
        await bridge.handle(origin, command, key=inbound.command_key(body), mentions=mentions)

    @app.event("message")
    async def direct_message(body: dict[str, Any], context: AsyncBoltContext) -> None:
        event = body.get("event", {})
        # Only people writing to the bot: no edits, joins, or messages of bots (ourselves).
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        raw = event.get("text") or ""
        text = inbound.to_core_text(raw, context.bot_user_id)
        await bridge.handle(
            inbound.event_origin(body),
            parse_command(text),
            key=inbound.event_key(body),
            mentions=inbound.mentioned_users(raw, context.bot_user_id),
        )

    @app.event("app_mention")
    async def mention(body: dict[str, Any], context: AsyncBoltContext) -> None:
        event = body.get("event", {})
        raw = event.get("text") or ""
        text = inbound.mention_text(inbound.to_core_text(raw, context.bot_user_id))
        await bridge.handle(
            inbound.event_origin(body),
            parse_command(text),
            key=inbound.event_key(body),
            mentions=inbound.mentioned_users(raw, context.bot_user_id),
        )

    @app.event("app_home_opened")
    async def home(body: dict[str, Any]) -> None:
        event = body.get("event", {})
        if event.get("tab", "home") != "home":
            return
        await bridge.home(inbound.event_origin(body).team, event.get("user", ""))

    @app.action(re.compile("^" + re.escape(inbound.ACTION_PREFIX)))
    async def button(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await bridge.handle(
            inbound.action_origin(body), inbound.action_command(body), key=inbound.action_key(body)
        )

    @app.view(inbound.FORM_CALLBACK)
    async def submitted(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        command, users = inbound.submission(body.get("view", {}))
        if command is None:
            log.warning("slack: a modal without a known submit arrived; ignored")
            return
        await bridge.handle(
            inbound.view_origin(body), command, key=inbound.view_key(body), mentions=users
        )
