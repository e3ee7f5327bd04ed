"""HTTP mode: signed requests at POST /slack/events, handled by the real Bolt app."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from bot.models import Identity, PromptState
from tests.slack import payloads
from tests.slack.conftest import HttpSlack, share_lesson
from tests.slack.fake_slack import Failure

EVACUATION = "Spreek bewoners bij een evacuatie persoonlijk aan, deur voor deur."


def buttons(blocks: list[dict]) -> dict[str, str]:  # type: ignore[type-arg]
    """Button label -> value of every button in a list of blocks."""
    found = {}
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("type") == "button":
                found[element["text"]["text"]] = element["value"]
    return found


@pytest.mark.asyncio
async def test_slash_help_answers_ephemeral_with_slack_spelling(http_slack: HttpSlack) -> None:
    fake = http_slack.fake
    status, _ = await http_slack.command("UANNA", "help")
    assert status == 200
    await fake.wait_for(lambda: fake.hooks)
    hook = fake.hooks[0]
    assert hook["response_type"] == "ephemeral" and hook["replace_original"] is False
    assert "/leerlus vraag" in hook["text"]
    member = http_slack.world.member("UANNA")
    assert member is not None and member.name == "Anna"


@pytest.mark.asyncio
async def test_slash_vraag_shows_lesson_cards_with_nuttig_and_bedank(http_slack: HttpSlack) -> None:
    world, fake = http_slack.world, http_slack.fake
    share_lesson(world, world.officer, EVACUATION)
    await http_slack.command("UANNA", "vraag hoe evacuatie bewoners")
    await fake.wait_for(lambda: fake.hooks)
    hook = fake.hooks[0]
    assert hook["response_type"] == "ephemeral"
    text = json.dumps(hook["blocks"], ensure_ascii=False)
    assert "deur voor deur" in text and "Politie Zuid" in text
    assert "De samenwerking met de gemeente" in text  # went well
    found = buttons(hook["blocks"])
    assert found["Nuttig"].startswith("/nuttig ") and found["Bedank"].startswith("/bedank ")


@pytest.mark.asyncio
async def test_slash_kudos_creates_the_mentioned_member_and_sends_a_dm(
    http_slack: HttpSlack,
) -> None:
    world, fake = http_slack.world, http_slack.fake
    await http_slack.command("UANNA", "kudos <@UBART|bart> voor de heldere briefing")
    await fake.wait_for(lambda: fake.hooks and fake.calls_to("chat.postMessage"))
    assert "Bart" in fake.hooks[0]["text"]
    dm = fake.calls_to("chat.postMessage")[0]
    assert dm.args["channel"] == "DUBART"
    assert "Kudos van Anna" in dm.args["text"] and "heldere briefing" in dm.args["text"]
    assert [c.args["users"] for c in fake.calls_to("conversations.open")] == ["UBART"]
    bart = world.member("UBART")
    assert bart is not None and bart.name == "Bart"
    assert len(world.rt.store.kudos_received(bart.id)) == 1


@pytest.mark.asyncio
async def test_slash_incident_registers_participants(http_slack: HttpSlack) -> None:
    world, fake = http_slack.world, http_slack.fake
    await http_slack.command("UANNA", "incident Brand in loods met <@UBART> <@UCOR>")
    await fake.wait_for(lambda: fake.hooks)
    assert "Brand in loods" in fake.hooks[0]["text"]
    for user in ("UBART", "UCOR"):
        member = world.member(user)
        assert member is not None
        [prompt] = world.rt.store.prompts_of(member.id)
        assert prompt.state is PromptState.SCHEDULED


@pytest.mark.asyncio
async def test_slash_mijn_unknown_and_empty(http_slack: HttpSlack) -> None:
    fake = http_slack.fake
    await http_slack.command("UANNA", "mijn")
    await fake.wait_for(lambda: len(fake.hooks) == 1)
    assert "Overzicht van Anna" in fake.hooks[0]["text"]
    await http_slack.command("UANNA", "vliegen")
    await fake.wait_for(lambda: len(fake.hooks) == 2)
    assert "vliegen" in fake.hooks[1]["text"] and "ken ik niet" in fake.hooks[1]["text"]
    await http_slack.command("UANNA", "")
    await fake.wait_for(lambda: len(fake.hooks) == 3)
    assert "Leerlus" in fake.hooks[2]["text"]  # an empty command shows the help


@pytest.mark.asyncio
async def test_direct_message_is_a_question(http_slack: HttpSlack) -> None:
    world, fake = http_slack.world, http_slack.fake
    share_lesson(world, world.officer, EVACUATION)
    status, _ = await http_slack.event(
        payloads.event_callback(payloads.dm("UANNA", "wat weten we over evacuatie?"))
    )
    assert status == 200
    await fake.wait_for(lambda: fake.calls_to("chat.postMessage"))
    post = fake.calls_to("chat.postMessage")[0]
    assert post.args["channel"] == "DUANNA" and "thread_ts" not in post.args
    assert "deur voor deur" in fake.texts()[0]
    assert post.token == "xoxb-test-bot-token-1234"


@pytest.mark.asyncio
async def test_mention_is_answered_in_the_thread(http_slack: HttpSlack) -> None:
    world, fake = http_slack.world, http_slack.fake
    share_lesson(world, world.officer, EVACUATION)
    event = payloads.mention("UANNA", "wat weten we over evacuatie?")
    await http_slack.event(payloads.event_callback(event))
    await fake.wait_for(lambda: fake.calls_to("chat.postMessage"))
    post = fake.calls_to("chat.postMessage")[0]
    assert post.args["channel"] == "C1" and post.args["thread_ts"] == event["ts"]
    assert "deur voor deur" in fake.texts()[0]


@pytest.mark.asyncio
async def test_buttons_nuttig_and_bedank(http_slack: HttpSlack) -> None:
    world, fake = http_slack.world, http_slack.fake
    share_lesson(world, world.officer, EVACUATION)
    [reflection] = world.rt.store.reflections_of(world.officer.id)
    hook = fake.hook_url("card")
    await http_slack.interact(
        payloads.click("UANNA", f"/nuttig {reflection.id}", channel="C1", response_url=hook)
    )
    await fake.wait_for(lambda: len(fake.hooks) == 1)
    assert "fijn dat deze les hielp" in fake.hooks[0]["text"]
    assert fake.hooks[0]["response_type"] == "ephemeral"
    await http_slack.interact(
        payloads.click("UANNA", f"/bedank {reflection.id}", channel="C1", response_url=hook)
    )
    await fake.wait_for(lambda: len(fake.hooks) == 2)
    assert "Olga" in fake.hooks[1]["text"]
    # Olga is on the console only: the thanks waits there as a notice.
    notices = world.rt.bot.notices(world.officer)
    assert len(notices) == 1 and "Anna" in notices[0]


@pytest.mark.asyncio
async def test_reflection_modal_opens_and_saves(http_slack: HttpSlack) -> None:
    world, fake = http_slack.world, http_slack.fake
    await http_slack.command("UANNA", "reflectie")
    await fake.wait_for(lambda: fake.calls_to("views.open"))
    call = fake.calls_to("views.open")[0]
    view = call.args["view"]
    assert call.args["trigger_id"].startswith("trigger.")
    labels = [block["label"]["text"] for block in view["blocks"]]
    assert labels[:3] == [
        "Wat ging er goed?",
        "Waar zit ruimte voor verbetering?",
        "Welke les wil je anderen meegeven?",
    ]
    kinds = {block["block_id"]: block["element"]["type"] for block in view["blocks"]}
    assert kinds == {
        "went_well": "plain_text_input",
        "improve": "plain_text_input",
        "lesson": "plain_text_input",
        "visibility": "static_select",
        "loop_level": "static_select",
        "themes": "multi_static_select",
        "thanks": "users_select",
    }
    values = {
        "went_well": "Snelle opschaling.",
        "improve": "Verbindingen in de tunnel.",
        "lesson": "Test de portofoons vooraf in de tunnel.",
        "visibility": "netwerk",
        "themes": ["techniek", "communicatie"],
        "thanks": "UBART",
    }
    status, body = await http_slack.interact(payloads.submit("UANNA", view, values))
    assert status == 200 and body in ("", "{}")
    await fake.wait_for(lambda: fake.calls_to("chat.postMessage"))
    anna = world.member("UANNA")
    assert anna is not None
    [saved] = world.rt.store.reflections_of(anna.id)
    assert saved.lesson == values["lesson"] and saved.themes == ("techniek", "communicatie")
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) == 2)
    texts = fake.texts()
    assert any("Je les is bewaard" in t for t in texts)
    assert any("Kudos van Anna" in t for t in texts)  # the thanks reached Bart


@pytest.mark.asyncio
async def test_unmapped_workspace_gets_an_explanation(http_slack: HttpSlack) -> None:
    world, fake = http_slack.world, http_slack.fake
    await http_slack.command("UZED", "vraag evacuatie", team="T999")
    await fake.wait_for(lambda: fake.hooks)
    assert "niet gekoppeld" in fake.hooks[0]["text"] and "T999" in fake.hooks[0]["text"]
    assert world.member("UZED") is None


@pytest.mark.asyncio
async def test_users_info_is_asked_once(http_slack: HttpSlack) -> None:
    fake = http_slack.fake
    for text in ("eerste vraag", "tweede vraag"):
        await http_slack.event(payloads.event_callback(payloads.dm("UANNA", text)))
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) == 2)
    assert len(fake.calls_to("users.info")) == 1


@pytest.mark.asyncio
async def test_retried_event_gives_one_kudos_and_one_answer(
    http_slack: HttpSlack, caplog: pytest.LogCaptureFixture
) -> None:
    world, fake = http_slack.world, http_slack.fake
    caplog.set_level(logging.INFO, logger="adapters.slack")
    body = payloads.event_callback(payloads.dm("UANNA", "/kudos <@UBART> dank voor het overnemen"))
    # The retries arrive while the first delivery is still being worked on.
    await asyncio.gather(
        http_slack.event(body), http_slack.event(body, retry=1), http_slack.event(body, retry=2)
    )
    await fake.wait_for(lambda: caplog.text.count("handled once already") == 2)
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) == 2)
    bart = world.member("UBART")
    assert bart is not None
    assert len(world.rt.store.kudos_received(bart.id)) == 1
    posts = [c.args["channel"] for c in fake.calls_to("chat.postMessage")]
    assert sorted(posts) == ["DUANNA", "DUBART"]


@pytest.mark.asyncio
async def test_repeated_click_and_submission_count_once(
    http_slack: HttpSlack, caplog: pytest.LogCaptureFixture
) -> None:
    world, fake = http_slack.world, http_slack.fake
    caplog.set_level(logging.INFO, logger="adapters.slack")
    share_lesson(world, world.officer, EVACUATION)
    [reflection] = world.rt.store.reflections_of(world.officer.id)
    click = payloads.click(
        "UANNA", f"/bedank {reflection.id}", channel="DUANNA", action_ts="1700000999.000001"
    )
    await http_slack.interact(click)
    await http_slack.interact(click)
    await fake.wait_for(lambda: caplog.text.count("handled once already") == 1)
    await http_slack.command("UANNA", "reflectie")
    await fake.wait_for(lambda: fake.calls_to("views.open"))
    view = fake.calls_to("views.open")[0].args["view"]
    values = {"went_well": "a", "improve": "b", "lesson": "c", "visibility": "prive"}
    submission = payloads.submit("UANNA", view, values)
    await http_slack.interact(submission)
    await http_slack.interact(submission)
    await fake.wait_for(lambda: caplog.text.count("handled once already") == 2)
    anna = world.member("UANNA")
    assert anna is not None
    assert len(world.rt.store.kudos_given(anna.id)) == 1
    assert len(world.rt.store.reflections_of(anna.id)) == 1


@pytest.mark.asyncio
async def test_bad_or_stale_signature_is_refused_and_changes_nothing(
    http_slack: HttpSlack,
) -> None:
    world, fake = http_slack.world, http_slack.fake
    body = json.dumps(payloads.event_callback(payloads.dm("UANNA", "/kudos <@UBART> top")))
    status, _ = await http_slack.post(body, "application/json", secret="wrong-secret")
    assert status == 401
    stale = int(time.time()) - 10 * 60
    status, _ = await http_slack.post(body, "application/json", timestamp=stale)
    assert status == 401
    assert fake.calls == [] and fake.hooks == []
    assert world.member("UANNA") is None and world.member("UBART") is None


@pytest.mark.asyncio
async def test_rate_limited_post_is_retried(http_slack: HttpSlack) -> None:
    fake = http_slack.fake
    fake.fail("chat.postMessage", Failure("ratelimited", 429, {"Retry-After": "0"}))
    await http_slack.event(payloads.event_callback(payloads.dm("UANNA", "evacuatie")))
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) == 2)
    first, second = fake.calls_to("chat.postMessage")
    assert first.args == second.args


@pytest.mark.asyncio
async def test_channel_not_found_answers_by_dm(http_slack: HttpSlack) -> None:
    world, fake = http_slack.world, http_slack.fake
    share_lesson(world, world.officer, EVACUATION)
    gone = Failure("channel_not_found", when=lambda args: args.get("channel") == "CGONE")
    fake.fail("chat.postMessage", gone)
    event = payloads.mention("UANNA", "evacuatie bewoners", channel="CGONE")
    await http_slack.event(payloads.event_callback(event))
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) == 2)
    failed, dm = fake.calls_to("chat.postMessage")
    assert failed.args["channel"] == "CGONE" and dm.args["channel"] == "DUANNA"
    assert "deur voor deur" in fake.texts()[1]


@pytest.mark.asyncio
async def test_home_tab_shows_the_overview_with_open_prompts(http_slack: HttpSlack) -> None:
    fake = http_slack.fake
    await http_slack.command("UANNA", "incident Oefening dijkdoorbraak")
    await fake.wait_for(lambda: fake.hooks)
    await http_slack.event(payloads.event_callback(payloads.home_opened("UANNA")))
    await fake.wait_for(lambda: fake.calls_to("views.publish"))
    call = fake.calls_to("views.publish")[0]
    assert call.args["user_id"] == "UANNA" and call.args["view"]["type"] == "home"
    text = fake.texts("views.publish")[0]
    assert "Overzicht van Anna" in text and "dijkdoorbraak" in text
    fill_in = [
        v for v in buttons(call.args["view"]["blocks"]).values() if v.startswith("/invullen")
    ]
    assert len(fill_in) == 1
    # The button on the home tab opens the reflection modal.
    await http_slack.interact(payloads.click("UANNA", fill_in[0], channel=None))
    await fake.wait_for(lambda: fake.calls_to("views.open"))
    meta = json.loads(fake.calls_to("views.open")[0].args["view"]["private_metadata"])
    assert meta["submit"] == "reflection" and meta["context"]["incident_id"]


@pytest.mark.asyncio
async def test_server_error_is_retried(http_slack: HttpSlack) -> None:
    fake = http_slack.fake
    fake.fail("chat.postMessage", Failure("internal_error", 503))
    await http_slack.event(payloads.event_callback(payloads.dm("UANNA", "evacuatie")))
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) == 2)


@pytest.mark.asyncio
async def test_expired_trigger_offers_the_form_as_a_button(http_slack: HttpSlack) -> None:
    fake = http_slack.fake
    fake.fail("views.open", Failure("expired_trigger_id"))
    await http_slack.command("UANNA", "reflectie")
    await fake.wait_for(lambda: fake.hooks)
    assert buttons(fake.hooks[0]["blocks"]) == {"Reflectie": "/reflectie"}


@pytest.mark.asyncio
async def test_the_run_command_starts_slack(http_slack: HttpSlack) -> None:
    from adapters.server import ADAPTER_MODULES
    from adapters.slack.app import configure

    assert "adapters.slack.app" in ADAPTER_MODULES
    adapter = configure(http_slack.world.rt)
    assert adapter is not None and adapter.describe() == "HTTP mode (POST /slack/events)"


@pytest.mark.asyncio
async def test_url_verification_answers_the_challenge(http_slack: HttpSlack) -> None:
    body = {"type": "url_verification", "token": "legacy", "challenge": "c-123"}
    status, text = await http_slack.event(body)
    assert status == 200 and "c-123" in text


@pytest.mark.asyncio
async def test_a_mention_in_a_channel_shows_only_network_lessons(http_slack: HttpSlack) -> None:
    world, fake = http_slack.world, http_slack.fake
    colleague = world.rt.store.add_member(world.fire.id, "Frits", Identity("console", "frits"))
    share_lesson(world, colleague, "Intern: evacuatie via het achterterrein", "organisatie")
    share_lesson(world, world.officer, EVACUATION)
    await http_slack.event(payloads.event_callback(payloads.mention("UANNA", "evacuatie?")))
    await fake.wait_for(lambda: fake.calls_to("chat.postMessage"))
    in_channel = " ".join(fake.texts())
    assert "deur voor deur" in in_channel and "achterterrein" not in in_channel
    await http_slack.event(
        payloads.event_callback(payloads.dm("UANNA", "evacuatie?"), event_id="Ev-dm-2")
    )
    await fake.wait_for(lambda: len(fake.calls_to("chat.postMessage")) >= 2)
    assert "achterterrein" in " ".join(fake.texts())  # Anna's own organisation, in private
