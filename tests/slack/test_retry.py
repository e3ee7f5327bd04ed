"""Which Slack failures are retried: only those where the request was never sent."""

from __future__ import annotations

import aiohttp
import pytest
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.state import RetryState

from adapters.slack.delivery import ConnectionErrorRetry


async def _no_sleep(seconds: float) -> None:
    return None


def _request() -> HttpRequest:
    return HttpRequest(method="POST", url="http://127.0.0.1:1/chat.postMessage", headers={})


@pytest.mark.asyncio
async def test_a_refused_connection_is_retried_a_dropped_one_is_not() -> None:
    retry = ConnectionErrorRetry(2, _no_sleep)
    refused = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 1, False, True, None, None, None),
        OSError(111, "Connection refused"),
    )
    assert await retry.can_retry_async(state=RetryState(), request=_request(), error=refused)
    # The request may have reached Slack: posting again could post the message twice.
    for error in (aiohttp.ServerDisconnectedError(), aiohttp.ServerTimeoutError()):
        assert not await retry.can_retry_async(state=RetryState(), request=_request(), error=error)
