"""Slack display names are stored as Telegram names are: cleaned and at most 200 characters."""

from __future__ import annotations

import pytest

from tests.slack.conftest import HttpSlack


async def first_contact(http_slack: HttpSlack, user: str, name: str) -> str:
    """A user of the mapped workspace writes for the first time; the member's stored name."""
    fake = http_slack.fake
    fake.add_user(user, name)
    before = len(fake.hooks)
    await http_slack.command(user, "help")
    await fake.wait_for(lambda: len(fake.hooks) > before)
    member = http_slack.world.member(user)
    assert member is not None
    return member.name


@pytest.mark.asyncio
async def test_control_characters_are_dropped_from_a_slack_name(http_slack: HttpSlack) -> None:
    assert await first_contact(http_slack, "UNUL", "\u202eAn\x00na\u200f\t") == "Anna"


@pytest.mark.asyncio
async def test_a_long_slack_name_is_cut_to_200_characters(http_slack: HttpSlack) -> None:
    assert await first_contact(http_slack, "ULONG", "Marieke " + "x" * 300) == (
        "Marieke " + "x" * 192
    )


@pytest.mark.asyncio
async def test_a_name_of_control_characters_only_falls_back_to_the_next(
    http_slack: HttpSlack,
) -> None:
    # The fake's real_name is the display name plus " (real)": all that is left is "(real)".
    assert await first_contact(http_slack, "UCTRL", "\x00\u200f\u202e") == "(real)"


@pytest.mark.asyncio
async def test_a_mentioned_user_gets_a_clean_name_too(http_slack: HttpSlack) -> None:
    fake = http_slack.fake
    fake.add_user("UMEN", "Me\x00ns")
    await http_slack.command("UANNA", "kudos <@UMEN> voor de hulp")
    await fake.wait_for(lambda: fake.hooks)
    member = http_slack.world.member("UMEN")
    assert member is not None and member.name == "Mens"
