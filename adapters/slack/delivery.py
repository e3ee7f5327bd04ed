"""Putting replies in front of a Slack user: in the thread, ephemeral, by DM, as a modal.

Rate limits and Slack's server errors are retried by the Web API client itself (its retry
handlers): a 429 after its Retry-After, a 500/502/503 or a refused connection with backoff
(0.5 s, doubling). The waits go through an injectable `sleep`, so tests need no real time.
A message that still fails raises; messages of the scheduler (prompts) stay queued in the
database and are tried again later (see bot.handlers.delivery).

What cannot be posted where it belongs (the bot is not in the channel, the channel is gone,
a response_url expired) goes to the user by direct message instead, so an answer is never
dropped silently; only when that fails too does the caller get the error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack import outbound
from adapters.slack.inbound import Origin
from bot.replies import File, Form, LessonCard, Reply, Text

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://slack.com/api/"
# Retries per call (the count is shared by the handlers: one call makes at most 1 + 3 tries).
CONNECTION_RETRIES = 2
RATE_LIMIT_RETRIES = 3
SERVER_ERROR_RETRIES = 3
BACKOFF_FACTOR = 0.5  # seconds before the first retry; doubles with every further one
MAX_RATE_LIMIT_WAIT = 60.0  # seconds; a longer Retry-After is cut to this
# 504 is not retried: the gateway gave up waiting, so Slack may have posted the message.
SERVER_ERRORS = frozenset({500, 502, 503})

Sleep = Callable[[float], Awaitable[None]]


class _Waiting(AsyncRetryHandler):
    """A retry handler that waits through an injectable `sleep` (time is a parameter)."""

    def __init__(self, max_retry_count: int, sleep: Sleep) -> None:
        super().__init__(max_retry_count, BackoffRetryIntervalCalculator(BACKOFF_FACTOR))
        self.sleep = sleep

    def wait_for(self, state: RetryState, response: HttpResponse | None) -> float:
        return float(self.interval_calculator.calculate_sleep_duration(state.current_attempt))

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        wait = self.wait_for(state, response)
        log.warning(
            "slack: %s, retry %s in %.1f s",
            f"HTTP {response.status_code}" if response is not None else type(error).__name__,
            state.current_attempt + 1,
            wait,
        )
        await self.sleep(wait)
        state.increment_current_attempt()


class ServerErrorRetry(_Waiting):
    """Retries 500, 502 and 503 answers with exponential backoff."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code in SERVER_ERRORS


class RateLimitRetry(_Waiting):
    """Retries 429 answers after the Retry-After that Slack sends (at most a minute)."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code == 429

    def wait_for(self, state: RetryState, response: HttpResponse | None) -> float:
        headers = {k.lower(): v for k, v in (response.headers if response else {}).items()}
        values = headers.get("retry-after") or []
        try:
            seconds = float(values[0] if isinstance(values, list) else values)
        except (IndexError, ValueError):
            return super().wait_for(state, response)
        return min(max(seconds, 0.0), MAX_RATE_LIMIT_WAIT)


class ConnectionErrorRetry(_Waiting):
    """Retries a connection that could not be made: the request was never sent.

    Not a connection dropped or timed out later (slack-sdk's own list retries those too):
    Slack may already have posted the message, and a retry would post it twice.
    """

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return isinstance(error, aiohttp.ClientConnectorError)


def retry_handlers(sleep: Sleep = asyncio.sleep) -> list[AsyncRetryHandler]:
    """Retry connection errors, rate limits (after Retry-After) and 5xx with backoff."""
    return [
        ConnectionErrorRetry(CONNECTION_RETRIES, sleep),
        RateLimitRetry(RATE_LIMIT_RETRIES, sleep),
        ServerErrorRetry(SERVER_ERROR_RETRIES, sleep),
    ]


def web_client(token: str, api_url: str | None, sleep: Sleep = asyncio.sleep) -> AsyncWebClient:
    """The Web API client for every call, pointed at SLACK_API_URL when set."""
    base = (api_url or DEFAULT_API_URL).rstrip("/") + "/"
    return AsyncWebClient(token=token, base_url=base, retry_handlers=retry_handlers(sleep))


def _error(error: SlackApiError) -> str:
    """The `error` code of a failed call, for a log line (never the request, never a token)."""
    data = getattr(error.response, "data", None)
    return str(data.get("error", "unknown")) if isinstance(data, dict) else "unknown"


class DeliveryFailed(Exception):
    """A reply could not be delivered at all (also not by direct message)."""


class Delivery:
    """Sends replies to where an interaction came from, with a DM as the last resort."""

    def __init__(self, client: AsyncWebClient, sleep: Sleep = asyncio.sleep) -> None:
        self.client = client
        self.sleep = sleep  # waits between retries of response_url posts
        self._dm_channels: dict[str, str] = {}

    async def send(self, origin: Origin, replies: Sequence[Reply]) -> None:
        """Deliver the core's replies for one interaction; raise DeliveryFailed if impossible."""
        shown: list[Reply] = []
        for reply in replies:
            if isinstance(reply, File):  # personal: always by direct message, never in a channel
                await self.upload(origin.user, reply)
                continue
            if isinstance(reply, Form):
                if await self.open_form(origin, reply):
                    continue
                reply = outbound.form_fallback(reply, origin.command)
            shown.append(reply)
        private = [r for r in shown if origin.private or _ephemeral(r)]
        public = [r for r in shown if not (origin.private or _ephemeral(r))]
        if private:
            await self._private(origin, private)
        if public:
            await self._in_thread(origin, outbound.messages(public))

    async def _in_thread(self, origin: Origin, bodies: Sequence[dict[str, Any]]) -> None:
        if origin.channel is None:
            await self._direct(origin.user, bodies)
            return
        for n, body in enumerate(bodies):
            try:
                await self.client.chat_postMessage(
                    channel=origin.channel, thread_ts=origin.thread_ts, **body
                )
            except SlackApiError as error:
                log.warning(
                    "slack: posting in %s failed (%s); sending a DM", origin.channel, _error(error)
                )
                await self._direct(origin.user, bodies[n:])  # the parts not posted yet
                return

    async def _private(self, origin: Origin, replies: Sequence[Reply]) -> None:
        bodies = outbound.messages(replies)
        if origin.in_dm or origin.channel is None:
            await self._in_thread(origin, bodies)
            return
        for n, body in enumerate(bodies):
            if not await self._ephemeral(origin, origin.channel, body):
                await self._direct(origin.user, bodies[n:])  # the parts not shown yet
                return

    async def _ephemeral(self, origin: Origin, channel: str, body: dict[str, Any]) -> bool:
        """Show one message to the user alone; False when Slack would not."""
        if origin.response_url:
            status: int | str
            webhook = AsyncWebhookClient(
                origin.response_url, retry_handlers=retry_handlers(self.sleep)
            )
            try:
                response = await webhook.send(
                    **body, response_type="ephemeral", replace_original=False
                )
                status = response.status_code
            except (aiohttp.ClientError, TimeoutError) as error:
                status = type(error).__name__
            if status == 200:
                return True
            log.warning("slack: response_url failed (%s); sending a DM", status)
            return False
        try:
            await self.client.chat_postEphemeral(
                channel=channel, user=origin.user, thread_ts=origin.thread_ts, **body
            )
        except SlackApiError as error:
            log.warning("slack: ephemeral in %s failed (%s); sending a DM", channel, _error(error))
            return False
        return True

    async def direct(self, user: str, replies: Sequence[Reply]) -> None:
        """Send replies as a direct message from the bot; raise DeliveryFailed if impossible."""
        shown = [r for r in replies if isinstance(r, Text | LessonCard | File)]
        shown += [Text(r.title) for r in replies if isinstance(r, Form)]
        await self._direct(user, outbound.messages(shown))

    async def _direct(self, user: str, bodies: Sequence[dict[str, Any]]) -> None:
        try:
            channel = self._dm_channels.get(user)
            if channel is None:
                opened = await self.client.conversations_open(users=user)
                channel = str(opened["channel"]["id"])
                self._dm_channels[user] = channel
            for body in bodies:
                await self.client.chat_postMessage(channel=channel, **body)
        except SlackApiError as error:
            self._dm_channels.pop(user, None)  # a stale channel id must not stick
            code = _error(error)
            log.error("slack: direct message to %s failed (%s)", user, code)
            raise DeliveryFailed(code) from error

    async def upload(self, user: str, file: File) -> None:
        """Send a file to a user by direct message (files_upload_v2); if Slack refuses the
        upload, send its content as a message instead. Raise DeliveryFailed if both fail."""
        try:
            channel = self._dm_channels.get(user)
            if channel is None:
                opened = await self.client.conversations_open(users=user)
                channel = str(opened["channel"]["id"])
                self._dm_channels[user] = channel
            await self.client.files_upload_v2(
                channel=channel,
                content=file.content,
                filename=file.name,
                title=file.name,
                initial_comment=file.caption,
            )
            return
        except SlackApiError as error:
            self._dm_channels.pop(user, None)
            log.warning("slack: file upload to %s failed (%s); sending text", user, _error(error))
        await self.direct(user, [file])

    async def open_form(self, origin: Origin, form: Form) -> bool:
        """Open a form as a modal; False when it cannot (no or an expired trigger)."""
        if not origin.trigger_id:
            return False
        try:
            await self.client.views_open(trigger_id=origin.trigger_id, view=outbound.modal(form))
        except SlackApiError as error:
            log.warning("slack: views.open failed (%s); offering a button", _error(error))
            return False
        return True

    async def publish_home(self, user: str, view: dict[str, Any]) -> None:
        """Show the home tab of a user."""
        try:
            await self.client.views_publish(user_id=user, view=view)
        except SlackApiError as error:
            log.error("slack: views.publish for %s failed (%s)", user, _error(error))
            raise DeliveryFailed(_error(error)) from error


def _ephemeral(reply: Reply) -> bool:
    return isinstance(reply, Text) and reply.ephemeral
