"""A local fake Slack: Web API that records every call, response_url hooks, Socket Mode.

Like Bolt's own `tests/mock_web_api_server/`, but an aiohttp server in the test's event
loop on a free port. The real slack_sdk client talks to it through SLACK_API_URL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from aiohttp import WSMsgType, web

BOT_USER = "UBOT"
TEAM = "T1"


@dataclass
class Call:
    """One Web API call as the fake received it."""

    method: str
    args: dict[str, Any]
    token: str
    ok: bool = True  # False when the fake answered with a queued failure


@dataclass
class Failure:
    """An error the fake answers instead of success, `times` times, when `when` holds."""

    error: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    when: Callable[[dict[str, Any]], bool] = lambda args: True


class FakeSlack:
    """The fake server; `url` is the Web API base, `hook_url(n)` a response_url."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.hooks: list[dict[str, Any]] = []
        self.acks: list[dict[str, Any]] = []
        self.failures: dict[str, list[Failure]] = {}
        self.users: dict[str, tuple[str, str]] = {}
        self.uploads: dict[str, bytes] = {}  # file id -> content (files_upload_v2)
        self.socket: web.WebSocketResponse | None = None
        self._connected = asyncio.Event()
        self._ts = count(1)
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/hooks/{hook}", self._hook)
        app.router.add_get("/link", self._link)
        app.router.add_post("/upload/{file_id}", self._upload)
        self.runner = web.AppRunner(app, access_log=None)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def hook_url(self, name: str = "1") -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{name}"

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.socket is not None:
            await self.socket.close()
        await self.runner.cleanup()

    # what tests set up and look at

    def add_user(self, user: str, name: str, team: str = TEAM) -> None:
        self.users[user] = (name, team)

    def fail(self, method: str, failure: Failure) -> None:
        self.failures.setdefault(method, []).append(failure)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def texts(self, method: str = "chat.postMessage") -> list[str]:
        """Every text shown by `method` calls: fallback text and all block texts."""
        return [_all_text(c.args) for c in self.calls_to(method)]

    async def wait_for(self, condition: Callable[[], object], timeout: float = 5.0) -> None:
        """Poll until `condition()` is true; fail after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            if loop.time() > deadline:
                raise AssertionError("the fake Slack did not see what the test waited for")
            await asyncio.sleep(0.01)

    async def push(self, envelope: dict[str, Any]) -> None:
        """Send a Socket Mode envelope to the connected client."""
        await asyncio.wait_for(self._connected.wait(), 5)
        assert self.socket is not None
        await self.socket.send_str(json.dumps(envelope))

    # the server side

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(dict(await request.post()))
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        call = Call(method, args, token)
        self.calls.append(call)
        for failure in self.failures.get(method, []):
            if failure.times > 0 and failure.when(args):
                failure.times -= 1
                call.ok = False
                body = {"ok": False, "error": failure.error}
                return web.json_response(body, status=failure.status, headers=failure.headers)
        return web.json_response(self._answer(method, args))

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "team_id": TEAM, "user_id": BOT_USER, "bot_id": "BBOT"}
        if method == "users.info":
            user = str(args.get("user"))
            if user not in self.users:
                return {"ok": False, "error": "user_not_found"}
            name, team = self.users[user]
            profile = {"display_name": name, "real_name": name + " (real)"}
            return {"ok": True, "user": {"id": user, "team_id": team, "profile": profile}}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(args.get("users"))}}
        if method in ("chat.postMessage", "chat.postEphemeral"):
            ts = f"1700000000.{next(self._ts):06d}"
            return {"ok": True, "channel": args.get("channel"), "ts": ts, "message_ts": ts}
        if method in ("views.open", "views.publish"):
            return {"ok": True, "view": {"id": "V1", "hash": "h1"}}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts)}"
            url = f"http://127.0.0.1:{self.port}/upload/{file_id}"
            return {"ok": True, "file_id": file_id, "upload_url": url}
        if method == "files.completeUploadExternal":
            files = args.get("files")
            files = json.loads(files) if isinstance(files, str) else files or []
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link"}
        return {"ok": True}

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads[request.match_info["file_id"]] = await request.read()
        return web.Response(text="OK - " + str(len(self.uploads)))

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.hooks.append({"hook": request.match_info["hook"], **body})
        return web.Response(text="ok")

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.socket = socket
        await socket.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        self._connected.set()
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                self.acks.append(json.loads(message.data))
        return socket


def _all_text(args: dict[str, Any]) -> str:
    """The fallback text and every text inside the blocks (or view) of a call."""
    parts = [str(args.get("text", ""))]
    blocks = args.get("blocks")
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    view = args.get("view")
    if isinstance(view, str):
        view = json.loads(view)
    _collect(blocks, parts)
    _collect(view, parts)
    return "\n".join(parts)


def _collect(node: Any, parts: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                parts.append(value)
            else:
                _collect(value, parts)
    elif isinstance(node, list):
        for item in node:
            _collect(item, parts)
