"""The fake chat APIs of the tests, as processes for the load test.

    python -m bench.load_fakes slack|telegram

Runs `tests.slack.fake_slack.FakeSlack` or `tests.telegram.fake_api.FakeBotApi` on a free port
of 127.0.0.1, next to a small control server on another free port that hands out what the
fake received: GET /calls?since=N returns the records from number N on, each with `at`, the
fake's `time.monotonic()` when the call arrived (the same clock as the driver's on Linux).
Prints one JSON line, {"api": <url>, "control": <port>}, and serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from typing import Any

from aiohttp import web

from tests.slack.fake_slack import FakeSlack, _all_text
from tests.telegram.fake_api import FakeBotApi, plain

TELEGRAM_TOKEN = "4242:load-test-token"  # the fake Bot API answers for this token only

Record = dict[str, Any]


class RecordingSlack(FakeSlack):
    """The fake Slack, keeping a compact, time-stamped record of every call and hook post."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[Record] = []

    async def _api(self, request: web.Request) -> web.Response:
        response = await super()._api(request)
        at = time.monotonic()
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.body_exists:  # aiohttp keeps the body it read: reading it again is cheap
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(dict(await request.post()))
        record: Record = {"at": at, "method": method, "status": response.status}
        if method == "chat.postMessage":
            record["channel"] = str(args.get("channel", ""))
            record["text"] = _all_text(args)
        elif method == "views.open":
            view = args.get("view")
            record["trigger_id"] = str(args.get("trigger_id", ""))
            record["view"] = json.loads(view) if isinstance(view, str) else view
        elif method not in ("conversations.open", "auth.test", "users.info"):
            record["text"] = _all_text(args)
        self.records.append(record)
        return response

    async def _hook(self, request: web.Request) -> web.Response:
        response = await super()._hook(request)
        body = await request.json()
        hook = request.match_info["hook"]
        text = _all_text(body)
        self.records.append({"at": time.monotonic(), "method": "hook", "hook": hook, "text": text})
        return response


def _telegram_records(api: FakeBotApi, since: int) -> list[Record]:
    out: list[Record] = []
    for call in api.calls[since:]:
        record: Record = {"at": call.at, "method": call.method, "ok": call.ok}
        params = call.params
        if "chat_id" in params:
            record["chat_id"] = int(params["chat_id"])
        if isinstance(params.get("text"), str):
            record["text"] = plain(params["text"])
        if "callback_query_id" in params:
            record["callback_query_id"] = str(params["callback_query_id"])
        markup = params.get("reply_markup")
        if isinstance(markup, dict):
            record["reply_markup"] = markup
        out.append(record)
    return out


async def serve(kind: str) -> None:
    if kind == "slack":
        slack = RecordingSlack()
        await slack.start()
        api_url = slack.url
        stop_fake = slack.stop

        def records(since: int) -> list[Record]:
            return slack.records[since:]
    elif kind == "telegram":
        telegram = FakeBotApi(TELEGRAM_TOKEN)
        await telegram.start()
        api_url = telegram.api_url
        stop_fake = telegram.stop

        def records(since: int) -> list[Record]:
            return _telegram_records(telegram, since)
    else:
        raise SystemExit(f"unknown fake {kind!r}: slack or telegram")

    async def calls(request: web.Request) -> web.Response:
        since = max(0, int(request.query.get("since", "0")))
        return web.json_response({"records": records(since)})

    control = web.Application()
    control.router.add_get("/calls", calls)
    runner = web.AppRunner(control, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    print(json.dumps({"api": api_url, "control": port}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    await stop_fake()


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m bench.load_fakes slack|telegram")
    asyncio.run(serve(sys.argv[1]))


if __name__ == "__main__":
    main()
