"""Putting replies in front of a Slack user: in the thread, ephemeral, by DM, as a modal.

Rate limits and Slack's server errors are retried by the Web API client itself (its retry
handlers). What cannot be posted where it belongs (the bot is not in the channel, the
channel is gone, a response_url expired) goes to the user by direct message instead, so an
answer is never dropped silently; only when that fails too does the caller get the error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack import outbound
from adapters.slack.inbound import Origin
from bot.replies import Form, LessonCard, Reply, Text

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://slack.com/api/"


def retry_handlers() -> list[AsyncRetryHandler]:
    """Retry connection errors, rate limits (after Retry-After) and 500/503 with backoff."""
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        AsyncServerErrorRetryHandler(max_retry_count=2),
    ]


def web_client(token: str, api_url: str | None) -> AsyncWebClient:
    """The Web API client for every call, pointed at SLACK_API_URL when set."""
    base = (api_url or DEFAULT_API_URL).rstrip("/") + "/"
    return AsyncWebClient(token=token, base_url=base, retry_handlers=retry_handlers())


def _error(error: SlackApiError) -> str:
    """The `error` code of a failed call, for a log line (never the request, never a token)."""
    data = getattr(error.response, "data", None)
    return str(data.get("error", "unknown")) if isinstance(data, dict) else "unknown"


class DeliveryFailed(Exception):
    """A reply could not be delivered at all (also not by direct message)."""


class Delivery:
    """Sends replies to where an interaction came from, with a DM as the last resort."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._dm_channels: dict[str, str] = {}

    async def send(self, origin: Origin, replies: Sequence[Reply]) -> None:
        """Deliver the core's replies for one interaction; raise DeliveryFailed if impossible."""
        shown: list[Reply] = []
        for reply in replies:
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
            await self._public(origin, public)

    async def _public(self, origin: Origin, replies: Sequence[Reply]) -> None:
        if origin.channel is None:
            await self.direct(origin.user, replies)
            return
        try:
            await self.client.chat_postMessage(
                channel=origin.channel, thread_ts=origin.thread_ts, **outbound.message(replies)
            )
        except SlackApiError as error:
            log.warning(
                "slack: posting in %s failed (%s); sending a DM", origin.channel, _error(error)
            )
            await self.direct(origin.user, replies)

    async def _private(self, origin: Origin, replies: Sequence[Reply]) -> None:
        if origin.in_dm or origin.channel is None:
            await self._public(origin, replies)
            return
        body = outbound.message(replies)
        if origin.response_url:
            status: int | str
            webhook = AsyncWebhookClient(origin.response_url, retry_handlers=retry_handlers())
            try:
                response = await webhook.send(
                    **body, response_type="ephemeral", replace_original=False
                )
                status = response.status_code
            except (aiohttp.ClientError, TimeoutError) as error:
                status = type(error).__name__
            if status == 200:
                return
            log.warning("slack: response_url failed (%s); sending a DM", status)
        else:
            try:
                await self.client.chat_postEphemeral(
                    channel=origin.channel, user=origin.user, thread_ts=origin.thread_ts, **body
                )
                return
            except SlackApiError as error:
                log.warning(
                    "slack: ephemeral in %s failed (%s); sending a DM",
                    origin.channel,
                    _error(error),
                )
        await self.direct(origin.user, replies)

    async def direct(self, user: str, replies: Sequence[Reply]) -> None:
        """Send replies as a direct message from the bot; raise DeliveryFailed if impossible."""
        shown = [r for r in replies if isinstance(r, Text | LessonCard)]
        shown += [Text(r.title) for r in replies if isinstance(r, Form)]
        try:
            channel = self._dm_channels.get(user)
            if channel is None:
                opened = await self.client.conversations_open(users=user)
                channel = str(opened["channel"]["id"])
                self._dm_channels[user] = channel
            await self.client.chat_postMessage(channel=channel, **outbound.message(shown))
        except SlackApiError as error:
            self._dm_channels.pop(user, None)  # a stale channel id must not stick
            code = _error(error)
            log.error("slack: direct message to %s failed (%s)", user, code)
            raise DeliveryFailed(code) from error

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
