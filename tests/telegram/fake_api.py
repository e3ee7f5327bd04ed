"""A local fake of the Telegram Bot API: records every call, serves queued updates.

Runs as an aiohttp server on a free port inside the test process; python-telegram-bot
talks to it through `base_url` exactly as it would talk to Telegram. Errors (429 flood
control, 403 blocked) can be queued per method or per chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

BOT_ID = 999
BOT_USERNAME = "leerlus_bot"
MAX_LONG_POLL = 1.0  # the fake waits at most this long for an update (Telegram: `timeout`)


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # field: (name, content)
    ok: bool = True  # False when the fake answered with an error


def plain(text: str) -> str:
    """What a user sees of an HTML message: the text without tags."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


class FakeBotApi:
    """The Bot API of one bot, for one test."""

    def __init__(self, token: str = "123:ABC") -> None:
        self.token = token
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self.failures: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.blocked: set[int] = set()
        self.webhook: dict[str, Any] = {"url": ""}
        self._ids = itertools.count(1000)
        self._update_ids = itertools.count(1)
        self._new_update = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._new_update.set()  # end a long poll that is still waiting
        if self._runner is not None:
            await self._runner.cleanup()

    # what the tests do

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def queue(self, update: dict[str, Any]) -> None:
        """Make an update available to getUpdates."""
        self.updates.append(update)
        self._new_update.set()

    def fail_next(
        self, method: str, status: int, description: str, retry_after: int | None = None
    ) -> None:
        """Answer the next call of `method` with an error."""
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        self.failures.setdefault(method, []).append((status, body))

    def called(self, method: str) -> list[dict[str, Any]]:
        """The parameters of every successful call of `method`, in order."""
        return [c.params for c in self.calls if c.method == method and c.ok]

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """The messages delivered (optionally to one chat), in order."""
        return [
            p for p in self.called("sendMessage") if chat_id is None or int(p["chat_id"]) == chat_id
        ]

    def texts(self, chat_id: int) -> list[str]:
        """What the user of `chat_id` read, without markup."""
        return [plain(p["text"]) for p in self.sent(chat_id)]

    # the API

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        form = await request.post()
        params = {k: _decode(v) for k, v in form.items() if isinstance(v, str)}
        files = {
            k: (v.filename, v.file.read()) for k, v in form.items() if isinstance(v, FileField)
        }
        call = Call(method, params, files=files)
        self.calls.append(call)
        queued = self.failures.get(method)
        if queued:
            call.ok = False
            status, body = queued.pop(0)
            return web.json_response(body, status=status)
        if method == "sendMessage" and int(params["chat_id"]) in self.blocked:
            call.ok = False
            body = {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            }
            return web.json_response(body, status=403)
        result = await self._result(method, params)
        return web.json_response({"ok": True, "result": result})

    async def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return _bot_user()
        if method == "getUpdates":
            return await self._get_updates(params)
        if method in ("sendMessage", "editMessageText"):
            return self._message(params)
        if method == "sendDocument":
            message = self._message({**params, "text": params.get("caption", "")})
            return {**message, "document": {"file_id": "D1", "file_unique_id": "D1"}}
        if method == "setWebhook":
            self.webhook = {"url": params["url"], "secret_token": params.get("secret_token")}
            return True
        if method == "deleteWebhook":
            self.webhook = {"url": ""}
            return True
        if method == "getWebhookInfo":
            return {"url": self.webhook["url"], "has_custom_certificate": False,
                    "pending_update_count": 0}  # fmt: skip
        return True  # answerCallbackQuery, setMyCommands, close, ...

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), MAX_LONG_POLL)
        # Updates before the offset are confirmed: Telegram forgets them.
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if not self.updates and timeout > 0 and self._runner is not None:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), timeout)
        return [u for u in self.updates if u["update_id"] >= offset]

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": int(params.get("message_id") or next(self._ids)),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "from": _bot_user(),
            "text": plain(params["text"]),
        }
        if isinstance(params.get("reply_markup"), dict):
            message["reply_markup"] = params["reply_markup"]
        return message


def _bot_user() -> dict[str, Any]:
    return {"id": BOT_ID, "is_bot": True, "first_name": "Leerlus", "username": BOT_USERNAME}


def _decode(value: str) -> Any:
    """PTB sends JSON-encoded values (keyboards, command lists) as form fields."""
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
