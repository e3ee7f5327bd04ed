"""Socket Mode: the real Socket Mode client connects to the fake's websocket and acks."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.slack import payloads
from tests.slack.conftest import APP_TOKEN, BOT_TOKEN, SocketSlack


def envelope(
    kind: str, payload: dict[str, Any], envelope_id: str, retry: int = 0
) -> dict[str, Any]:
    return {
        "envelope_id": envelope_id,
        "type": kind,
        "payload": payload,
        "accepts_response_payload": kind != "events_api",
        "retry_attempt": retry,
        "retry_reason": "timeout" if retry else "",
    }


@pytest.mark.asyncio
async def test_connects_with_the_app_token_through_slack_api_url(socket_slack: SocketSlack) -> None:
    fake = socket_slack.fake
    [opened] = fake.calls_to("apps.connections.open")
    assert opened.token == APP_TOKEN
    assert socket_slack.adapter.describe() == "Socket Mode"


@pytest.mark.asyncio
async def test_event_envelope_is_acked_and_answered(socket_slack: SocketSlack) -> None:
    fake = socket_slack.fake
    body = payloads.event_callback(payloads.dm("UANNA", "hoe communiceer je bij brand?"))
    await fake.push(envelope("events_api", body, "env-1"))
    await fake.wait_for(lambda: fake.calls_to("chat.postMessage"))
    assert [a["envelope_id"] for a in fake.acks] == ["env-1"]
    post = fake.calls_to("chat.postMessage")[0]
    assert post.args["channel"] == "DUANNA" and post.token == BOT_TOKEN
    assert "brand" in post.args["text"]  # "nothing found about ‘…brand?’", honestly


@pytest.mark.asyncio
async def test_slash_command_envelope(socket_slack: SocketSlack) -> None:
    fake = socket_slack.fake
    form = payloads.slash("UANNA", "mijn", fake.hook_url("socket"))
    await fake.push(envelope("slash_commands", form, "env-2"))
    await fake.wait_for(lambda: fake.hooks)
    assert fake.acks[0]["envelope_id"] == "env-2"
    assert "Overzicht van Anna" in fake.hooks[0]["text"]


@pytest.mark.asyncio
async def test_redelivered_envelope_is_handled_once(
    socket_slack: SocketSlack, caplog: pytest.LogCaptureFixture
) -> None:
    fake, world = socket_slack.fake, socket_slack.world
    caplog.set_level(logging.INFO, logger="adapters.slack")
    body = payloads.event_callback(payloads.dm("UANNA", "/kudos <@UBART> sterk optreden"))
    await fake.push(envelope("events_api", body, "env-3"))
    await fake.push(envelope("events_api", body, "env-4", retry=1))
    await fake.wait_for(lambda: "handled once already" in caplog.text)
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) == 2)
    assert {a["envelope_id"] for a in fake.acks} == {"env-3", "env-4"}
    bart = world.member("UBART")
    assert bart is not None and len(world.rt.store.kudos_received(bart.id)) == 1


@pytest.mark.asyncio
async def test_button_envelope_opens_the_modal(socket_slack: SocketSlack) -> None:
    fake = socket_slack.fake
    click = payloads.click("UANNA", "/reflectie", channel="DUANNA")
    await fake.push(envelope("interactive", click, "env-5"))
    await fake.wait_for(lambda: fake.calls_to("views.open"))
    assert fake.acks[0]["envelope_id"] == "env-5"
    assert fake.calls_to("views.open")[0].args["trigger_id"] == click["trigger_id"]


@pytest.mark.asyncio
async def test_no_token_in_any_log_line(
    fake: Any, world_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from adapters.slack.app import configure

    caplog.set_level(logging.DEBUG)
    world = world_factory(fake, socket_mode=True)
    adapter = configure(world.rt)
    assert adapter is not None
    await adapter.start()
    try:
        body = payloads.event_callback(payloads.dm("UANNA", "/kudos <@UBART> top"))
        await fake.push(envelope("events_api", body, "env-9"))
        await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) == 2)
    finally:
        await adapter.stop()
    lines = [r.getMessage() for r in caplog.records]
    assert any("env-9" in line for line in lines)  # the debug log was really captured
    assert not [line for line in lines if APP_TOKEN in line or BOT_TOKEN in line]
