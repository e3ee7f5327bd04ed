"""The reflection step by step, /annuleer, and the Nu invullen / Later / Overslaan of prompts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.handlers.prompts import prompt_message
from bot.models import IncidentKind, LoopLevel, Prompt, PromptState, Visibility
from bot.texts import Translator
from tests.telegram.conftest import Chat, World
from tests.telegram.fake_api import FakeBotApi


def keyboard(message: dict[str, object]) -> dict[str, str]:
    markup = message.get("reply_markup")
    assert isinstance(markup, dict), message
    return {b["callback_data"]: b["text"] for row in markup["inline_keyboard"] for b in row}


@pytest.mark.asyncio
async def test_a_reflection_one_question_per_message(
    world: World, fake: FakeBotApi, chat: Chat
) -> None:
    intro = await chat.say(1002, "/reflectie")
    assert intro[0].startswith("Fijn dat je even terugkijkt.") and intro[1].startswith("1/3")
    assert (await chat.say(1002, "De afzetting stond snel."))[0].startswith("2/3")
    assert (await chat.say(1002, "De portofoons vielen uit."))[0].startswith("3/3")
    visibility = await chat.say(1002, "Neem een reserveset portofoons mee.")
    assert visibility == ["Wie mag deze les zien?"]
    options = keyboard(fake.sent(1002)[-1])
    assert options == {"prive": "Privé (alleen ik)", "organisatie": "Mijn organisatie",
                       "netwerk": "Het hele netwerk", "anoniem": "Netwerk, anoniem"}  # fmt: skip
    loop = await chat.press(1002, "netwerk", message_text=visibility[0], labels=options)
    assert loop[0].startswith("Op welk niveau ligt deze les vooral?")
    assert "overslaan" in keyboard(fake.sent(1002)[-1])
    # The answered question shows the choice and loses its buttons.
    edited = fake.called("editMessageText")[-1]
    assert edited["text"] == "Wie mag deze les zien?\n\n✓ Het hele netwerk"
    assert "reply_markup" not in edited
    themes = await chat.press(1002, "organisatie", labels={"organisatie": "Organisatie"})
    assert themes[0].startswith("Thema's?")
    thanks = await chat.say(1002, "techniek, communicatie")
    assert thanks[0].startswith("Wil je iemand bedanken")
    done = await chat.press(1002, "overslaan", labels={"overslaan": "Overslaan"})
    assert done[0].startswith("Dank je wel! Je les is bewaard (zichtbaarheid: Het hele netwerk")
    saved = world.rt.store.reflections_of(world.tom.id)[0]
    assert saved.lesson == "Neem een reserveset portofoons mee."
    assert saved.visibility is Visibility.NETWERK and saved.loop_level is LoopLevel.ORGANISATIE
    assert saved.themes == ("techniek", "communicatie")


@pytest.mark.asyncio
async def test_annuleer_stops_and_keeps_the_draft(world: World, chat: Chat) -> None:
    await chat.say(1002, "/reflectie")
    await chat.say(1002, "De briefing was helder.")
    stopped = await chat.say(1002, "/annuleer")
    assert stopped == ["Gestopt. Je concept is bewaard; ga verder met /reflectie."]
    draft = world.rt.store.current_draft(world.tom.id)
    assert draft is not None and draft.went_well == "De briefing was helder."
    # After /annuleer plain text is a question again, and /reflectie resumes.
    assert (await chat.say(1002, "portofoons"))[0].startswith("Ik vond geen lessen")
    resumed = await chat.say(1002, "/reflectie")
    assert resumed[0].startswith("Je had nog een reflectie in concept") and resumed[1].startswith(
        "2/3"
    )


@pytest.mark.asyncio
async def test_a_too_long_answer_is_refused_and_nothing_is_lost(world: World, chat: Chat) -> None:
    await chat.say(1002, "/reflectie")
    refused = await chat.say(1002, "x" * 1200)
    assert refused[0].startswith("Je antwoord is 1200 tekens; het maximum is 1000.")
    assert (await chat.say(1002, "Korter nu."))[0].startswith("2/3")


def prompts_for_tom(world: World, count: int) -> list[Prompt]:
    store = world.rt.store
    now = datetime.now(UTC)
    with store.transaction():
        incident = store.add_incident(
            world.politie.id, "Brand in de Maastunnel", IncidentKind.INCIDENT,
            now - timedelta(hours=3), now, participant_ids=[world.tom.id],
        )  # fmt: skip
        return [store.add_prompt(incident.id, world.tom.id, now, now) for _ in range(count)]


@pytest.mark.asyncio
async def test_a_prompt_arrives_with_its_three_actions(
    world: World, fake: FakeBotApi, chat: Chat
) -> None:
    later, skip, now = prompts_for_tom(world, 3)
    incident = world.rt.store.get_incident(later.incident_id)
    assert incident is not None
    message = prompt_message(later, incident, Translator("nl"))
    await asyncio.to_thread(world.rt.notifier.notify, world.tom, [message])
    sent = fake.sent(1002)[-1]
    assert sent["text"].startswith("Je was betrokken bij ‘Brand in de Maastunnel’")
    assert list(keyboard(sent).values()) == ["Nu invullen", "Later", "Morgenochtend", "Overslaan"]

    snoozed = await chat.press(1002, f"/later {later.id}", labels=keyboard(sent))
    assert snoozed[0].startswith("Goed, ik vraag het je opnieuw op")
    assert fake.called("editMessageText")[-1]["text"].endswith("✓ Later")
    skipped = await chat.press(1002, f"/overslaan {skip.id}")
    assert skipped[0].startswith("Prima, deze sla ik over.")
    store = world.rt.store
    assert store.get_prompt(later.id).state is PromptState.SCHEDULED  # type: ignore[union-attr]
    assert store.get_prompt(skip.id).state is PromptState.SKIPPED  # type: ignore[union-attr]
    started = await chat.press(1002, f"/invullen {now.id}")
    assert started[0] == (
        "Fijn dat je even terugkijkt op ‘Brand in de Maastunnel’. Drie korte vragen, samen "
        "zo'n twee minuten. Stoppen kan met /annuleer; wat je al schreef, bewaar ik."
    )
    assert started[1].startswith("1/3")
