"""Joining with an invite code, and users without an organisation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.handlers import membership
from bot.models import Identity, Invite
from tests.telegram.conftest import Chat, World


def invite(world: World, *, days: int = 14, uses: int = 5, code: str | None = None) -> str:
    store = world.rt.store
    now = datetime.now(UTC)
    with store.transaction():
        if code is None:
            return membership.new_invite(store, world.politie, now, world.tess.id).code
        store.add_invite(Invite(code, world.politie.id, None, now + timedelta(days=days), uses))
    return code


def member_of(world: World, user_id: int) -> str | None:
    member = world.rt.bot.member_for(Identity("telegram", str(user_id)))
    if member is None:
        return None
    org = world.rt.store.get_org(member.org_id)
    return f"{member.name} @ {org.name if org else '?'} ({member.locale})"


@pytest.mark.asyncio
async def test_start_with_a_valid_code_joins_the_organisation(world: World, chat: Chat) -> None:
    code = invite(world)
    answer = await chat.say(2001, f"/start {code}", name="Sanne")
    assert answer == [
        "Welkom, Sanne! Je bent nu lid van Politie Oost. Stel gerust een vraag, of typ /help."
    ]
    assert member_of(world, 2001) == "Sanne @ Politie Oost (nl)"
    # Afterwards the member simply talks to the bot.
    again = await chat.say(2001, f"/start {code}")
    assert again == ["Je bent al lid van Politie Oost."]


@pytest.mark.asyncio
async def test_the_deep_link_joins_in_the_users_language(world: World, chat: Chat) -> None:
    code = invite(world)
    # t.me/leerlus_bot?start=CODE makes the Telegram app send "/start CODE".
    answer = await chat.say(2002, f"/start {code.lower()}", name="Sam", language_code="en-GB")
    assert answer[0].startswith("Welcome, Sam! You are now a member of Politie Oost.")
    assert member_of(world, 2002) == "Sam @ Politie Oost (en)"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("code", "days", "uses", "expected"),
    [
        ("OLDCODE1", -1, 5, "Deze uitnodigingscode is verlopen."),
        ("FULLCODE", 14, 0, "Deze uitnodigingscode is al te vaak gebruikt."),
        (None, 0, 0, "Die uitnodigingscode ken ik niet."),
    ],
)
async def test_a_bad_code_is_explained(
    world: World, chat: Chat, code: str | None, days: int, uses: int, expected: str
) -> None:
    if code is not None:
        invite(world, code=code, days=days, uses=uses)
    answer = await chat.say(2003, f"/start {code or 'NOSUCH99'}")
    assert len(answer) == 1 and answer[0].startswith(expected)
    assert "coördinator" in answer[0]
    assert member_of(world, 2003) is None


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "text", ["/vraag evacuatie", "hoe evacueer je een flat?", "/help", "/start"]
)
async def test_a_user_without_organisation_is_told_how_to_join(
    world: World, chat: Chat, text: str
) -> None:
    answer = await chat.say(2004, text)
    assert answer == [
        "Je bent nog niet gekoppeld aan een organisatie. Vraag de coördinator van je "
        "organisatie om een uitnodigingscode en stuur /start CODE."
    ]


@pytest.mark.asyncio
async def test_a_button_of_a_user_without_organisation_is_answered(
    world: World, chat: Chat
) -> None:
    answer = await chat.press(2005, "/nuttig 1")
    assert answer[0].startswith("Je bent nog niet gekoppeld")
    assert any(p["callback_query_id"] == "cb1" for p in chat.fake.called("answerCallbackQuery"))


@pytest.mark.asyncio
async def test_a_coordinator_creates_a_code_that_a_colleague_uses(world: World, chat: Chat) -> None:
    answer = await chat.say(1001, "/uitnodiging")
    assert answer[0].startswith("Uitnodigingscode voor Politie Oost: ")
    code = answer[0].split(": ")[1].split()[0]
    joined = await chat.say(2006, f"/start {code}", name="Kim")
    assert joined[0].startswith("Welkom, Kim!")
    refused = await chat.say(1002, "/uitnodiging")
    assert refused[0].startswith("Alleen een coördinator kan uitnodigingen maken.")


@pytest.mark.asyncio
async def test_start_without_code_for_a_member_shows_help(world: World, chat: Chat) -> None:
    answer = await chat.say(1002, "/start")
    assert answer[0].startswith("Ik ben Leerlus")
