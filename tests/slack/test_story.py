"""A whole story in Slack, and what the core's direct messages look like there."""

from __future__ import annotations

import asyncio
import logging

import pytest

from adapters.slack.delivery import DeliveryFailed
from bot.handlers.prompts import prompt_message
from bot.models import Identity, Member, PromptState
from bot.replies import LessonCard, Text
from bot.texts import Translator
from tests.slack import payloads
from tests.slack.conftest import BOT_TOKEN, SIGNING_SECRET, HttpSlack, World
from tests.slack.fake_slack import Failure


def deliver_prompt(world: World, member: Member) -> None:
    """What the scheduler will do: mark the due prompt sent and DM it through the notifier."""
    store = world.rt.store
    with store.transaction():
        [prompt] = store.prompts_of(member.id)
        incident = store.get_incident(prompt.incident_id)
        assert incident is not None
        store.update_prompt(prompt.id, world.rt.bot.clock.now(), state=PromptState.SENT)
    message = prompt_message(prompt, incident, Translator(member.locale))
    world.rt.notifier.notify(member, [message])


@pytest.mark.asyncio
async def test_incident_prompt_modal_and_a_lesson_found_elsewhere(
    http_slack: HttpSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    world, fake = http_slack.world, http_slack.fake
    # Anna registers the incident in Slack, with Bart as participant.
    await http_slack.command("UANNA", "incident Brand in parkeergarage met <@UBART>")
    await fake.wait_for(lambda: fake.hooks)
    assert "Bart" in fake.hooks[0]["text"]
    bart = world.member("UBART")
    assert bart is not None

    # The prompt reaches Bart as a DM with the three actions.
    await asyncio.to_thread(deliver_prompt, world, bart)
    [dm] = fake.calls_to("chat.postMessage")
    assert dm.args["channel"] == "DUBART" and "Brand in parkeergarage" in dm.args["text"]
    actions = {
        e["text"]["text"]: e["value"]
        for block in dm.args["blocks"]
        for e in block.get("elements", [])
        if e.get("type") == "button"
    }
    assert set(actions) == {"Nu invullen", "Later", "Morgenochtend", "Overslaan"}

    # Nu invullen opens the modal ...
    click = payloads.click("UBART", actions["Nu invullen"], channel="DUBART")
    await http_slack.interact(click)
    await fake.wait_for(lambda: fake.calls_to("views.open"))
    view = fake.calls_to("views.open")[0].args["view"]

    # ... which Bart fills in and submits.
    values = {
        "went_well": "De inzet met de politie was goed afgestemd.",
        "improve": "Het bereik van de portofoons in de kelder.",
        "lesson": "Zet bij ondergrondse branden vooraf een repeater neer voor de portofoons.",
        "visibility": "netwerk",
        "loop_level": "organisatie",
    }
    await http_slack.interact(payloads.submit("UBART", view, values))
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) == 2)
    assert "Je les is bewaard" in fake.texts()[1]
    [prompt] = world.rt.store.prompts_of(bart.id)
    assert prompt.state is PromptState.ANSWERED

    # A police officer on the console finds the lesson.
    replies = await asyncio.to_thread(
        world.rt.bot.handle_text, world.officer, "/vraag repeater portofoons ondergronds"
    )
    cards = [r for r in replies if isinstance(r, LessonCard)]
    assert cards and "repeater" in cards[0].lesson and "Brandweer Noord" in cards[0].source

    secrets = (BOT_TOKEN, SIGNING_SECRET)
    assert caplog.records
    assert not [r for r in caplog.records if any(s in r.getMessage() for s in secrets)]


@pytest.mark.asyncio
async def test_a_failed_dm_raises_for_the_caller_and_never_undoes_kudos(
    http_slack: HttpSlack,
) -> None:
    world, fake = http_slack.world, http_slack.fake
    await http_slack.command("UBART", "mijn")
    await fake.wait_for(lambda: fake.hooks)
    bart = world.member("UBART")
    assert bart is not None
    fake.fail("conversations.open", Failure("user_not_found", times=2))
    with pytest.raises(DeliveryFailed):
        await asyncio.to_thread(world.rt.notifier.notify, bart, [Text("Hallo")])
    # Kudos from the console to Bart: stored, even though the DM fails.
    replies = await asyncio.to_thread(
        world.rt.bot.handle_text, world.officer, "/kudos @slack:UBART goede overdracht"
    )
    assert "Bart" in replies[0].body  # type: ignore[union-attr]
    assert len(world.rt.store.kudos_received(bart.id)) == 1


@pytest.mark.asyncio
async def test_direct_messages_must_not_block_the_event_loop(http_slack: HttpSlack) -> None:
    sender = http_slack.world.rt.notifier.senders["slack"]
    with pytest.raises(RuntimeError, match="worker thread"):
        sender(Identity("slack", "UBART"), [Text("Hallo")])
