"""Test-wide settings.

Property-based tests explore new random examples on every developer run; on CI (`CI` set,
as .ci/run does) they replay a fixed, derandomised set, so a landing run does not depend on
luck. A failure found locally prints its example: add it as an @example to keep it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest_asyncio
from hypothesis import settings

from tests.slack.fake_slack import FakeSlack

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest_asyncio.fixture
async def slack_fake() -> AsyncIterator[FakeSlack]:
    """A fake Slack Web API on a free local port, recording every call."""
    server = FakeSlack()
    await server.start()
    yield server
    await server.stop()
