"""A fake chat platform on a free port: it records every delivered prompt, in order.

Each request is recorded when it arrives, before the answer, like a platform that has
accepted a message even if its caller dies waiting for the response. It can hold one
request open (`block_at`) until the test releases it, to kill a sender mid-delivery.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Delivery:
    prompt_id: int
    worker: str
    user: str


@dataclass
class Sink:
    """The recording server; `url` is where senders POST."""

    delay: float = 0.0  # seconds each answer takes, so that two senders interleave
    block_at: int | None = None  # hold the n-th request (1-based) open until released
    deliveries: list[Delivery] = field(default_factory=list)
    blocked: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/deliver"

    def start(self) -> Sink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body: dict[str, Any] = json.loads(
                    self.rfile.read(int(self.headers["Content-Length"]))
                )
                with sink._lock:
                    sink.deliveries.append(
                        Delivery(int(body["prompt_id"]), str(body["worker"]), str(body["user"]))
                    )
                    number = len(sink.deliveries)
                if number == sink.block_at:
                    sink.blocked.set()
                    sink.release.wait(60)
                    return  # no answer: the sender is dead by now
                if sink.delay:
                    time.sleep(sink.delay)  # the platform's latency, not the test waiting
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def snapshot(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)
