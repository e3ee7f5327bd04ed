"""When prompts are due, across the daylight-saving changes of 2026 in Europe/Amsterdam.

Summer time starts on Sunday 29 March 2026 (02:00 CET -> 03:00 CEST) and ends on Sunday
25 October 2026 (03:00 CEST -> 02:00 CET), the last Sundays of those months.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.handlers.incidents import record_incident
from bot.models import Discipline, IncidentKind
from bot.timing import default_prompt_time, out_of_quiet_hours, parse_when, tomorrow_morning
from tests.fakes import InMemoryStore

AMS = "Europe/Amsterdam"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("registered", "due"),
    [
        # an ordinary afternoon: two hours later
        (utc(2026, 11, 30, 13, 0), utc(2026, 11, 30, 15, 0)),
        # 20:30 CET the night before summer time: 22:30 is quiet, 09:00 CEST is 07:00 UTC
        (utc(2026, 3, 28, 19, 30), utc(2026, 3, 29, 7, 0)),
        # 00:30 CET, two real hours later is 03:30 CEST (02:xx does not exist): quiet, 09:00
        (utc(2026, 3, 28, 23, 30), utc(2026, 3, 29, 7, 0)),
        # 10:00 CEST on the day itself: 12:00 CEST
        (utc(2026, 3, 29, 8, 0), utc(2026, 3, 29, 10, 0)),
        # 22:00 CEST the night before winter time: 09:00 CET is 08:00 UTC
        (utc(2026, 10, 24, 20, 0), utc(2026, 10, 25, 8, 0)),
        # 06:30 CET on the day itself: 08:30 CET is not quiet, it stays
        (utc(2026, 10, 25, 5, 30), utc(2026, 10, 25, 7, 30)),
        # 02:30 CEST (the first of the two 02:30s): 04:30 wall time is quiet -> 09:00 CET
        (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 8, 0)),
        # 19:00 local: 21:00 is the start of the quiet hours
        (utc(2026, 11, 30, 18, 0), utc(2026, 12, 1, 8, 0)),
        # 06:00 local: 08:00 is the end of them
        (utc(2026, 11, 30, 5, 0), utc(2026, 11, 30, 7, 0)),
    ],
)
def test_default_time_two_hours_later_out_of_quiet_hours(
    registered: datetime, due: datetime
) -> None:
    assert default_prompt_time(registered, AMS) == due


def test_quiet_hours_are_local_to_the_recipient() -> None:
    # 22:00 in Amsterdam is 16:00 in New York: no reason to wait there
    moment = utc(2026, 11, 30, 21, 0)
    assert out_of_quiet_hours(moment, "America/New_York") == moment
    assert out_of_quiet_hours(moment, AMS) == utc(2026, 12, 1, 8, 0)


@pytest.mark.parametrize(
    ("now", "morning"),
    [
        (utc(2026, 3, 28, 12, 0), utc(2026, 3, 29, 7, 0)),  # tomorrow is summer time
        (utc(2026, 10, 24, 12, 0), utc(2026, 10, 25, 8, 0)),  # tomorrow is winter time
        (utc(2026, 3, 28, 23, 30), utc(2026, 3, 30, 7, 0)),  # already Sunday locally
    ],
)
def test_tomorrow_morning_is_nine_local(now: datetime, morning: datetime) -> None:
    assert tomorrow_morning(now, AMS) == morning


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        # durations are real hours, also across the missing and the doubled hour
        ("over 3 uur", utc(2026, 3, 28, 23, 30), utc(2026, 3, 29, 2, 30)),
        ("in 3 hours", utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 2, 30)),
        ("nu", utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 1, 30)),
        ("now", utc(2026, 10, 25, 1, 30), utc(2026, 10, 25, 1, 30)),
        # clock times are wall-clock times with that day's offset
        ("morgen 9:00", utc(2026, 3, 28, 12, 0), utc(2026, 3, 29, 7, 0)),
        ("morgen 9:00", utc(2026, 3, 28, 23, 30), utc(2026, 3, 30, 7, 0)),
        ("tomorrow 9:00", utc(2026, 10, 24, 23, 30), utc(2026, 10, 26, 8, 0)),
        ("morgen 9:00", utc(2026, 10, 24, 12, 0), utc(2026, 10, 25, 8, 0)),
        ("2026-03-29T10:00", utc(2026, 3, 28, 12, 0), utc(2026, 3, 29, 8, 0)),
        ("2026-10-25T10:00+01:00", utc(2026, 10, 24, 12, 0), utc(2026, 10, 25, 9, 0)),
    ],
)
def test_parse_when_across_daylight_saving(text: str, now: datetime, expected: datetime) -> None:
    assert parse_when(text, now, AMS) == expected


def test_unclear_times_are_none() -> None:
    assert parse_when("wanneer het uitkomt", utc(2026, 11, 30, 10, 0), AMS) is None
    assert parse_when("  ", utc(2026, 11, 30, 10, 0), AMS) is None


def test_an_explicit_time_is_honoured_even_at_night() -> None:
    store = InMemoryStore()
    org = store.add_org("Brandweer", "bw", Discipline.BRANDWEER)
    member = store.add_member(org.id, "Piet")
    now = utc(2026, 11, 30, 20, 0)
    night = parse_when("vandaag 23:30", now, AMS)
    assert night == utc(2026, 11, 30, 22, 30)
    incident = record_incident(
        store,
        org_id=org.id,
        title="Brand",
        kind=IncidentKind.INCIDENT,
        occurred_at=now,
        participants=[member],
        now=now,
        prompt_at=night,
    )
    [prompt] = store.prompts_of(member.id)
    assert prompt.incident_id == incident.id
    assert prompt.due_at == night  # not moved to 09:00
    assert prompt.expires_at == night + timedelta(days=7)
