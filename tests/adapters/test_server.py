"""`leerlus run` as a process: it says what started and answers GET /healthz."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request

from tests.adapters.conftest import Cli


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_serves_health_and_stops_on_sigterm(cli: Cli) -> None:
    cli.ok("demo")
    port = free_port()
    env = {**cli.env, "LEERLUS_HTTP_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "adapters.cli", "run"],
        env=env,
        cwd=cli.home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # blocks until the server is up
        assert f"http://127.0.0.1:{port}" in first
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as response:
            assert response.status == 200
            body = json.loads(response.read())
        assert body["status"] == "ok" and body["database"] == "ok"
        assert body["index"]["bm25"] == 46
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Stopping." in out
