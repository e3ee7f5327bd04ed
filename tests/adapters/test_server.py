"""`leerlus run` as a process: it says what started and answers GET /healthz."""

from __future__ import annotations

import json
import urllib.request

from tests.adapters.conftest import Cli


def test_run_serves_health_and_stops_on_sigterm(cli: Cli) -> None:
    cli.ok("demo")
    with cli.running() as server:
        assert server.url in server.first_line
        with urllib.request.urlopen(f"{server.url}/healthz", timeout=30) as response:
            assert response.status == 200
            body = json.loads(response.read())
        assert body["status"] == "ok" and body["database"] == "ok"
        assert body["index"]["bm25"] == 46
    assert server.process.returncode == 0, server.err
    assert "Stopping." in server.out
