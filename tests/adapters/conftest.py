"""Run the real `leerlus` command in a subprocess, in a fresh data directory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from storage import SqlStore, make_engine

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    process: subprocess.Popen[str]
    port: int
    first_line: str = ""
    out: str = ""
    err: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cli:
    home: Path
    env: dict[str, str]

    def __call__(
        self, *args: str, input: str | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "adapters.cli", *args],
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.home,
            timeout=timeout,
        )

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self(*args, input=input)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    @contextmanager
    def running(self) -> Iterator[RunningServer]:
        """Start `leerlus run` on a free port; SIGTERM it afterwards and keep its output."""
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "adapters.cli", "run"],
            env={**self.env, "LEERLUS_HTTP_PORT": str(port)},
            cwd=self.home,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        server = RunningServer(process, port)
        try:
            assert process.stdout is not None
            server.first_line = process.stdout.readline()  # blocks until the server is up
            yield server
        finally:
            process.send_signal(signal.SIGTERM)
            server.out, server.err = process.communicate(timeout=30)

    def store(self) -> SqlStore:
        return SqlStore(make_engine(f"sqlite:///{self.home / 'data' / 'leerlus.db'}"))


def _cli(tmp_path: Path, encoders: str) -> Cli:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("LEERLUS_", "SLACK_", "TELEGRAM_"))
    }
    env.update(
        LEERLUS_DATA_DIR=str(tmp_path / "data"),
        LEERLUS_EMBEDDING_MODEL=encoders,
        PYTHONPATH=str(REPO),
        COLUMNS="200",
        NO_COLOR="1",
    )
    return Cli(tmp_path, env)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """The CLI with lexical search only: fast, for everything but ranking quality."""
    return _cli(tmp_path, "")


@pytest.fixture
def cli_models(tmp_path: Path) -> Cli:
    """The CLI with the default encoders (the real bundled models)."""
    return _cli(tmp_path, "e5,minilm")


@pytest.fixture
def real_records(tmp_path: Path) -> Callable[[int], Path]:
    """A JSONL file with the first n records of each real data file (skips without data)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real records not present at {SHARED_DATA}")

    def make(n: int) -> Path:
        path = tmp_path / "records.jsonl"
        lines: list[str] = []
        for name in ("vr_grip_nl.jsonl", "safenet.jsonl", "nasa_llis.jsonl"):
            with (SHARED_DATA / name).open(encoding="utf-8") as handle:
                lines += [next(handle) for _ in range(n)]
        path.write_text("".join(lines), encoding="utf-8")
        return path

    return make
