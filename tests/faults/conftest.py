"""Fixtures for the fault tests: a PostgreSQL server of our own that a test may stop.

The shared test server (LEERLUS_TEST_POSTGRES_URL) is used by other workers and must never
be stopped, so `own_postgres` runs a throwaway cluster: `initdb` as user postgres in a
temporary directory, on a free port of 127.0.0.1, its unix socket in that directory. It is
stopped and deleted after the tests of the module. Without the PostgreSQL binaries (or
without root to run them as postgres) the tests that need it skip, saying why.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import make_engine
from storage.db import upgrade
from tests.storage.conftest import db_url  # a fresh SQLite and PostgreSQL database per test

__all__ = ["OwnPostgres", "db_url", "own_postgres"]

START_TIMEOUT = 30  # seconds pg_ctl waits for the server to accept connections


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnPostgres:
    """A PostgreSQL cluster that belongs to this test run alone."""

    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin = bin_dir
        self.root = root
        self.data = root / "data"
        self.port = _free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stderr.strip()[-500:]}")

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c max_connections=40"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
            "-o", options, "-w", "-t", str(START_TIMEOUT), "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; "fast" ends open sessions, "immediate" is a crash."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[OwnPostgres]:
    """A migrated, running throwaway PostgreSQL (skips when it cannot be made)."""
    bin_dir = _pg_bin()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        pytest.skip("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("running initdb as user postgres needs root and runuser")
    root = Path(tempfile.mkdtemp(prefix="leerlus-faults-pg-"))
    shutil.chown(root, "postgres", "postgres")
    server = OwnPostgres(bin_dir, root)
    try:
        try:
            server.init()
            server.start()
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as error:
            pytest.skip(f"could not start a throwaway PostgreSQL: {error}")
        engine = make_engine(server.url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        yield server
    finally:
        if server.running():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                server.stop("immediate")
        # The server process is gone once pg_ctl returns; give the OS a moment for files.
        deadline = time.monotonic() + 5
        while server.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        shutil.rmtree(root, ignore_errors=True)
