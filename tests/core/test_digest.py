"""The weekly digest: Monday 09:00 local, only what the reader may see, once a week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.handlers.digest import digest_moment, send_digests
from bot.models import NewReflection, Visibility
from bot.replies import Text
from tests.core.conftest import Net
from tests.core.test_delivery import FlakyNotifier

WEEK = timedelta(days=7)
MONDAY_9_CET = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # Monday 7 December, 09:00 Amsterdam


def lesson(net: Net, author_id: int, text: str, visibility: Visibility, *themes: str) -> None:
    author = net.store.get_member(author_id)
    assert author is not None
    new = NewReflection(
        org_id=author.org_id,
        member_id=author.id,
        went_well="goed",
        improve="beter",
        lesson=text,
        visibility=visibility,
        themes=themes,
    )
    net.store.add_reflection(new, net.clock.now())


def digest_of(net: Net, member_id: int) -> str:
    [message] = net.notifier.to(member_id)
    assert isinstance(message, Text)
    return message.body


@pytest.fixture
def week(net: Net) -> Net:
    """A week in the network: Piet (brandweer) writes four lessons, Anna thanks him."""
    lesson(net, net.piet.id, "Netwerkles over portofoons", Visibility.NETWERK, "techniek")
    lesson(net, net.piet.id, "Alleen voor de brandweer", Visibility.ORGANISATIE, "procedures")
    lesson(net, net.piet.id, "Mijn eigen notitie", Visibility.PRIVE)
    lesson(net, net.piet.id, "Anoniem gedeelde les", Visibility.ANONIEM, "nazorg")
    lesson(net, net.sara.id, "Triage at the gate", Visibility.NETWERK, "techniek", "nazorg")
    net.store.add_kudos(net.anna.id, net.piet.id, "Sterke inzet bij de brand", net.clock.now())
    net.say(net.anna, "/incident Brand in loods met @anna om nu")
    net.clock.current = MONDAY_9_CET
    return net


def test_digest_moment_is_monday_nine_local_until_the_evening() -> None:
    assert digest_moment(MONDAY_9_CET, "Europe/Amsterdam") == MONDAY_9_CET
    assert digest_moment(MONDAY_9_CET - timedelta(minutes=1), "Europe/Amsterdam") is None
    assert digest_moment(MONDAY_9_CET + timedelta(hours=12), "Europe/Amsterdam") is None
    assert digest_moment(MONDAY_9_CET + timedelta(days=1), "Europe/Amsterdam") is None
    # 09:00 in New York is 14:00 UTC; in summer time Amsterdam's 09:00 is 07:00 UTC
    ny = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    assert digest_moment(ny, "America/New_York") == ny
    assert digest_moment(MONDAY_9_CET, "America/New_York") is None
    summer = datetime(2026, 3, 30, 7, 0, tzinfo=UTC)  # the Monday after the change
    assert digest_moment(summer, "Europe/Amsterdam") == summer


def test_each_reader_sees_only_what_they_may_see(week: Net) -> None:
    net = week
    assert send_digests(net.clock.now(), store=net.store, notifier=net.notifier) == 5
    anna = digest_of(net, net.anna.id)
    assert "Netwerkles over portofoons — Brandweer Midden" in anna
    assert "Anoniem gedeelde les — brandweer\n" in anna  # the discipline only
    assert "Piet" not in anna  # authors are not named; the anonymous one surely not
    assert "Alleen voor de brandweer" not in anna and "Mijn eigen notitie" not in anna
    assert "Brand in loods" in anna  # her open prompt
    kim = digest_of(net, net.kim.id)  # brandweer, like Piet
    assert "Alleen voor de brandweer" in kim and "Mijn eigen notitie" not in kim
    piet = digest_of(net, net.piet.id)
    assert "Sterke inzet bij de brand" in piet and "Anna de Vries" in piet  # kudos received
    assert "Netwerkles over portofoons" not in piet  # his own lessons are no news to him
    sara = digest_of(net, net.sara.id)
    assert sara.startswith("Good morning Sara Smith") and "Kudos" not in sara


def test_lessons_are_grouped_by_their_first_theme(week: Net) -> None:
    net = week
    send_digests(net.clock.now(), store=net.store, notifier=net.notifier)
    lines = digest_of(net, net.bas.id).splitlines()
    techniek = lines.index("▸ techniek")
    assert set(lines[techniek + 1 : techniek + 3]) == {
        "  • Triage at the gate — GHOR Midden",
        "  • Netwerkles over portofoons — Brandweer Midden",
    }
    assert lines[lines.index("▸ nazorg") + 1] == "  • Anoniem gedeelde les — brandweer"
    assert sum("Triage at the gate" in line for line in lines) == 1


def test_once_a_week_and_not_for_who_switched_it_off(week: Net) -> None:
    net = week
    net.say(net.bas, "/digest uit")
    send_digests(net.clock.now(), store=net.store, notifier=net.notifier)
    assert net.notifier.to(net.bas.id) == []
    count = len(net.notifier.sent)
    net.clock.advance(timedelta(hours=3))
    assert send_digests(net.clock.now(), store=net.store, notifier=net.notifier) == 0
    assert len(net.notifier.sent) == count
    # next Monday: only what is new since (Anna's prompt is still open)
    net.clock.current = MONDAY_9_CET + WEEK
    assert send_digests(net.clock.now(), store=net.store, notifier=net.notifier) == 1
    second = net.notifier.to(net.anna.id)[-1]
    assert isinstance(second, Text)
    assert "Brand in loods" in second.body and "portofoons" not in second.body


def test_a_failed_digest_is_retried_the_same_morning(week: Net) -> None:
    net = week
    flaky = FlakyNotifier(failures=1)
    assert send_digests(net.clock.now(), store=net.store, notifier=flaky) == 4
    net.clock.advance(timedelta(minutes=5))
    assert send_digests(net.clock.now(), store=net.store, notifier=flaky) == 1
    assert len(flaky.inner.sent) == 5


def test_a_week_with_nothing_new_sends_nothing(net: Net) -> None:
    net.clock.current = MONDAY_9_CET
    assert send_digests(net.clock.now(), store=net.store, notifier=net.notifier) == 0
    assert net.notifier.sent == []


def test_one_member_with_a_broken_time_zone_does_not_stop_the_others(net: Net) -> None:
    net.store.update_member(net.anna.id, timezone="Mars/Olympus_Mons")
    net.reflect(net.piet, "x", "y", "nieuwe les voor de digest")
    monday = datetime(2026, 12, 7, 8, 5, tzinfo=UTC)  # 09:05 in Amsterdam
    net.clock.current = monday
    sent = send_digests(monday, store=net.store, notifier=net.notifier)
    assert sent >= 1 and net.notifier.to(net.anna.id) == []
    assert net.notifier.to(net.bas.id)
