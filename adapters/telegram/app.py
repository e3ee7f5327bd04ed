"""The Telegram adapter: python-telegram-bot wiring for `leerlus run`.

Long polling by default; with TELEGRAM_WEBHOOK_URL the webhook is registered (with
TELEGRAM_WEBHOOK_SECRET as its secret token) and updates arrive at POST /telegram/webhook
on the shared HTTP server. PTB runs inside the event loop of `leerlus run`; the core is
synchronous and runs in worker threads. Each update is handled once (its id is recorded),
every user action is answered, and every button press is acknowledged.

Failures: flood control (429) is waited out as long as Telegram asks; server and connection
errors (5xx) are retried with backoff (BACKOFF_FIRST, doubling), MAX_ATTEMPTS tries in all,
waiting through the adapter's `sleep` (a parameter, so tests take no real time). A timeout
is not retried: the message may have arrived. When the database is unreachable, the user is
answered "try again shortly" and the update counts as answered (not marked handled, not
redelivered): nothing of it was stored, and the user decides whether to send it again.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import warnings
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from aiohttp import web
from telegram import InputFile, LinkPreviewOptions, Message, ReplyParameters, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application, ContextTypes, TypeHandler
from telegram.warnings import PTBDeprecationWarning

from adapters.runtime import Runtime
from adapters.telegram import inbound, outbound
from adapters.telegram.inbound import Incoming, Reachability
from bot.errors import ServiceUnavailable
from bot.models import Identity
from bot.replies import Reply, Text
from bot.texts import Translator

log = logging.getLogger(__name__)

NAME = "telegram"
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
MAX_ATTEMPTS = 5  # tries per Bot API call (flood control and server errors) before giving up
BACKOFF_FIRST = 0.5  # seconds before retrying a server error; doubles with every retry
BACKOFF_MAX = 30.0
SEND_TIMEOUT = 120.0  # seconds a direct message from another thread may take
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
# These loggers write request URLs, and the token is part of every Bot API URL.
_URL_LOGGERS = ("httpx", "httpcore", "telegram.request", "telegram._bot", "telegram.ext.ExtBot")

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class DeliveryFailed(Exception):
    """A message could not be delivered to Telegram."""


class Unreachable(DeliveryFailed):
    """The user blocked the bot; they are marked unreachable."""


def not_configured(rt: Runtime) -> str:
    """Why the adapter is off."""
    settings = rt.settings
    if not settings.telegram_bot_token:
        return "TELEGRAM_BOT_TOKEN not set"
    return "TELEGRAM_WEBHOOK_SECRET not set or invalid (needed with TELEGRAM_WEBHOOK_URL)"


def configure(rt: Runtime) -> TelegramAdapter | None:
    """The adapter when a token is set (and, for a webhook, a valid secret); else None."""
    settings = rt.settings
    if not settings.telegram_bot_token:
        return None
    secret = settings.telegram_webhook_secret or ""
    if settings.telegram_webhook_url and not _SECRET.fullmatch(secret):
        return None
    for name in _URL_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return TelegramAdapter(rt)


def retry_seconds(error: RetryAfter) -> float:
    """How long Telegram asks us to wait (PTB returns int or timedelta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramAdapter:
    """Leerlus as a Telegram bot."""

    name = NAME

    def __init__(
        self, rt: Runtime, *, poll_timeout: float = 30.0, sleep: Sleep = asyncio.sleep
    ) -> None:
        settings = rt.settings
        assert settings.telegram_bot_token
        self.rt = rt
        self.sleep = sleep  # how retries wait: time is a parameter
        self.webhook_url = settings.telegram_webhook_url
        self.secret = settings.telegram_webhook_secret or ""
        self.poll_timeout = poll_timeout
        builder = Application.builder().token(settings.telegram_bot_token).job_queue(None)
        if settings.telegram_api_url:
            builder = builder.base_url(settings.telegram_api_url)
        if self.webhook_url:
            builder = builder.updater(None)
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def describe(self) -> str:
        """How the adapter receives updates."""
        return f"webhook at POST {WEBHOOK_PATH}" if self.webhook_url else "long polling"

    def add_routes(self, app: web.Application) -> None:
        """Serve the webhook endpoint in webhook mode."""
        if self.webhook_url:
            app.router.add_post(WEBHOOK_PATH, self._webhook)

    async def start(self) -> None:
        """Connect (getMe), publish the command menus, then poll or register the webhook."""
        self._loop = asyncio.get_running_loop()
        application = self.application
        await application.initialize()
        for locale, language_code in (("nl", None), ("nl", "nl"), ("en", "en")):
            await application.bot.set_my_commands(
                outbound.menu(locale), language_code=language_code
            )
        await application.start()
        if self.webhook_url:
            await application.bot.set_webhook(
                self.webhook_url, secret_token=self.secret, allowed_updates=ALLOWED_UPDATES
            )
        elif application.updater is not None:
            await application.updater.start_polling(
                timeout=int(self.poll_timeout), allowed_updates=ALLOWED_UPDATES
            )
        self.rt.notifier.register(inbound.PLATFORM, self.send_direct)
        log.info("telegram: started as @%s (%s)", application.bot.username, self.describe())

    async def stop_receiving(self) -> None:
        """Stop polling (webhook updates stop with the HTTP server); keep the client open."""
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()

    async def drain(self, timeout: float) -> int:
        """Finish the updates already fetched and the work in the background, for at most
        `timeout` seconds; return how many are unfinished."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        application = self.application
        unfinished = 0
        if application.running:
            # PTB handles every update it fetched before it stops. A task of its own, so a
            # timeout here leaves it running rather than breaking an update off halfway.
            stopping = asyncio.ensure_future(application.stop())
            done, _ = await asyncio.wait({stopping}, timeout=timeout)
            if not done:
                unfinished += application.update_queue.qsize() + 1
        if self._tasks:
            left = max(deadline - loop.time(), 0.0)
            _, pending = await asyncio.wait(set(self._tasks), timeout=left)
            unfinished += len(pending)
        return unfinished

    async def stop(self) -> None:
        """Stop receiving updates and close the connections."""
        self.rt.notifier.senders.pop(inbound.PLATFORM, None)
        await self.stop_receiving()
        application = self.application
        if application.running:
            await application.stop()
        await application.shutdown()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._loop = None

    # receiving

    async def _webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            log.warning("telegram: refused a webhook request without the right secret")
            return web.Response(status=401, text="unauthorized")
        if not self.application.running:
            return web.Response(status=503, text="not running")
        try:
            update = Update.de_json(await request.json(), self.application.bot)
        except Exception:  # any malformed body: tell the sender, process nothing
            log.warning("telegram: refused a malformed webhook update")
            return web.Response(status=400, text="bad update")
        wrong = inbound.problem(update)
        if wrong is not None:
            log.warning("telegram: refused a webhook update with a malformed %s", wrong)
            return web.Response(status=400, text="bad update")
        await self.application.process_update(update)
        return web.Response(text="ok")

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        bot = self.application.bot
        event = inbound.read_update(update, bot.username, bot.id)
        if isinstance(event, Reachability):
            if await asyncio.to_thread(self._first_time, update.update_id):
                await asyncio.to_thread(self._set_reachable, event.identity, event.reachable)
        elif event is not None:
            await self._on_action(update, event)

    async def _on_action(self, update: Update, event: Incoming) -> None:
        """Handle a user action once; always answer it, and acknowledge a button press."""
        toast: str | None = None
        acknowledge = event.callback_id is not None
        try:
            if not await asyncio.to_thread(self._first_time, update.update_id):
                log.info("telegram: update %s was already handled", update.update_id)
                acknowledge = False  # the first delivery was acknowledged
                return
            if update.callback_query is not None:
                await self._mark_choice(update.callback_query.message, event.text)
            replies, locale = await asyncio.to_thread(self._handle, event)
            toast = await self._deliver(event, replies, locale)
        except Unreachable:
            log.info("telegram: user blocked the bot; marked unreachable")
        except ServiceUnavailable as error:  # the core logs its own; this came from around it
            log.error("telegram: update %s not handled: %s", update.update_id, error)
            await self._apologise(event, ServiceUnavailable.key)
        except Exception:
            log.exception("telegram: handling an update failed")
            await self._apologise(event)
        finally:
            if acknowledge and event.callback_id is not None:
                await self._answer(event.callback_id, toast)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        log.error("telegram: %s", type(error).__name__, exc_info=error)

    def _first_time(self, update_id: int) -> bool:
        store = self.rt.store
        with store.transaction():
            return store.mark_processed(f"telegram:update:{update_id}", self.rt.bot.clock.now())

    def _set_reachable(self, identity: Identity, reachable: bool) -> None:
        store = self.rt.store
        with store.transaction():
            member = store.member_by_identity(identity)
            if member is not None:
                store.update_member(member.id, unreachable=not reachable)

    def _handle(self, event: Incoming) -> tuple[list[Reply], str]:
        """Run the core for one user action (in a worker thread)."""
        bot = self.rt.bot
        member = bot.member_for(event.identity)
        if member is None:
            code = inbound.join_code(event.text)
            if code is not None:
                return bot.join(event.identity, event.name, code, event.locale), event.locale
            return [Text(Translator(event.locale)("join.no_org"))], event.locale
        command = inbound.command_for_member(event.text)
        return bot.handle(member, command, shared=event.group), member.locale

    # sending

    async def _deliver(self, event: Incoming, replies: Sequence[Reply], locale: str) -> str | None:
        """Send the replies; an ephemeral note on a group button becomes the toast."""
        tr = Translator(locale)
        toast: str | None = None
        for reply in replies:
            if (
                event.callback_id is not None
                and event.group
                and isinstance(reply, Text)
                and reply.ephemeral
                and not reply.choices
                and len(reply.body) <= 200
            ):
                toast = reply.body
                continue
            for message in outbound.render(reply, tr):
                await self._send(event.chat_id, message, event, event.identity)
        return toast

    async def _send(
        self,
        chat_id: int,
        message: outbound.OutMessage,
        event: Incoming | None,
        identity: Identity,
    ) -> None:
        reply_to = event.reply_to if event else None
        thread_id = event.thread_id if event else None
        replying = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        document = message.document
        try:
            if document is not None:  # a file (the member's export), its text the caption
                await self._retrying(
                    lambda: self.application.bot.send_document(
                        chat_id,
                        InputFile(document[1], filename=document[0]),
                        caption=message.text,
                        parse_mode=ParseMode.HTML,
                        message_thread_id=thread_id,
                        reply_parameters=replying,
                    )
                )
                return
            await self._retrying(
                lambda: self.application.bot.send_message(
                    chat_id,
                    message.text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=message.keyboard,
                    message_thread_id=thread_id,
                    reply_parameters=replying,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            )
        except Forbidden as error:
            if str(chat_id) == identity.user_id:  # the private chat: the user blocked the bot
                self._in_background(asyncio.to_thread(self._set_reachable, identity, False))
                raise Unreachable(str(identity)) from error
            raise

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """Make a Bot API call, retrying flood control (429) and server errors (5xx).

        A 429 waits as long as Telegram asks; a 5xx or a failed connection waits
        BACKOFF_FIRST seconds, doubling. After MAX_ATTEMPTS tries the last error is raised.
        """
        for attempt in range(1, MAX_ATTEMPTS):
            try:
                return await call()
            except RetryAfter as error:
                wait = retry_seconds(error)
                log.warning("telegram: flood control, retrying in %.0f s", wait)
            except (BadRequest, TimedOut):
                raise  # our mistake, or the message may have arrived: never send it twice
            except NetworkError as error:
                wait = min(BACKOFF_FIRST * 2 ** (attempt - 1), BACKOFF_MAX)
                # only the class: an HTTP client's message may hold the URL, and so the token
                name = type(error).__name__
                log.warning("telegram: %s, retry %s in %.1f s", name, attempt, wait)
            await self.sleep(wait)
        return await call()

    async def _answer(self, callback_id: str, toast: str | None) -> None:
        try:
            await self._retrying(
                lambda: self.application.bot.answer_callback_query(callback_id, text=toast)
            )
        except TelegramError as error:
            log.warning("telegram: answering a button press failed: %s", type(error).__name__)

    async def _mark_choice(self, message: object, command: str) -> None:
        """Show which one-time choice was taken, and remove its buttons."""
        if not isinstance(message, Message) or message.reply_markup is None:
            return
        if outbound.keeps_keyboard(command):
            return
        labels = [
            b.text
            for row in message.reply_markup.inline_keyboard
            for b in row
            if b.callback_data == command
        ]
        text = outbound.chosen_html(message.text_html, labels[0] if labels else "")
        try:
            await self._retrying(lambda: message.edit_text(text, parse_mode=ParseMode.HTML))
        except TelegramError as error:
            log.warning("telegram: marking a choice failed: %s", type(error).__name__)

    async def _apologise(self, event: Incoming, key: str = "error.internal") -> None:
        try:
            member = await asyncio.to_thread(self.rt.bot.member_for, event.identity)
        except Exception:  # the database may be the reason we are apologising
            member = None
        tr = Translator(member.locale if member else event.locale)
        try:
            await self._send(event.chat_id, outbound.OutMessage(tr(key)), event, event.identity)
        except Exception:
            log.exception("telegram: even the apology could not be sent")

    def _in_background(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # direct messages from the core (kudos notices, prompts)

    def send_direct(self, identity: Identity, replies: Sequence[Reply]) -> None:
        """Deliver replies to a member's private chat; called from a worker thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise DeliveryFailed("the Telegram adapter is not running")
        if _in_loop(loop):  # waiting here would block the loop that must do the sending
            raise DeliveryFailed("send_direct must not be called from the event loop thread")
        # The language is looked up here, in the caller's thread, so the coroutine needs
        # nothing but the event loop. Were it to wait for a worker thread itself, every
        # worker thread could be waiting here for one (kudos notices under load) and nothing
        # would move until the timeout.
        member = self.rt.bot.member_for(identity)
        locale = member.locale if member else self.rt.settings.locale
        future = asyncio.run_coroutine_threadsafe(
            self._send_direct(identity, replies, locale), loop
        )
        try:
            future.result(timeout=SEND_TIMEOUT)
        except TimeoutError:
            future.cancel()
            raise

    async def _send_direct(self, identity: Identity, replies: Sequence[Reply], locale: str) -> None:
        """Send to a private chat; runs on the event loop and never waits for a thread."""
        tr = Translator(locale)
        chat_id = int(identity.user_id)
        for reply in replies:
            for message in outbound.render(reply, tr):
                await self._send(chat_id, message, None, identity)


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
