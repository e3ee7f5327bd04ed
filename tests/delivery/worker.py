"""A `leerlus run` without HTTP: the real Scheduler with a sender that POSTs to the sink.

    python -m tests.delivery.worker DB_URL SINK_URL NOW_ISO WORKER_NAME

It prints "ready" once wired, starts when it reads a line on stdin (a barrier, so two
workers start together), and runs until SIGTERM (or SIGKILL). Its clock stands still at
NOW: the test moves time by starting the next worker with a later NOW.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import urllib.request
from collections.abc import Sequence
from datetime import datetime

from adapters.notify import RoutingNotifier
from adapters.scheduler import Scheduler
from bot.models import Identity
from bot.replies import Reply, Text
from storage import SqlStore, make_engine
from tests.fakes import FixedClock


def sender(sink_url: str, worker: str):  # type: ignore[no-untyped-def]
    def send(identity: Identity, replies: Sequence[Reply]) -> None:
        for reply in replies:
            assert isinstance(reply, Text)
            # The delivery key: the prompt id that the message's buttons carry.
            match = re.search(r"/invullen (\d+)", " ".join(c.command for c in reply.choices))
            assert match is not None
            body = {"prompt_id": int(match[1]), "worker": worker, "user": identity.user_id}
            request = urllib.request.Request(
                sink_url, data=json.dumps(body).encode(), method="POST"
            )
            request.add_header("Content-Type", "application/json")
            with urllib.request.urlopen(request, timeout=120) as response:
                response.read()

    return send


async def main(db_url: str, sink_url: str, now: datetime, worker: str) -> None:
    engine = make_engine(db_url)
    store = SqlStore(engine)
    notifier = RoutingNotifier(store)
    notifier.register("telegram", sender(sink_url, worker))
    scheduler = Scheduler(
        store=store,
        notifier=notifier,
        clock=FixedClock(now),
        worker=worker,
        interval=0.05,
        expiry_interval=3600,
        digest_interval=3600,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    await scheduler.start()
    await stop.wait()
    await scheduler.stop()  # a batch in flight finishes before the process ends


if __name__ == "__main__":
    url, sink, at, name = sys.argv[1:5]
    asyncio.run(main(url, sink, datetime.fromisoformat(at), name))
