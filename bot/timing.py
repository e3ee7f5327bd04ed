"""When prompts are due: explicit times in Dutch and English, and the default timing."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_DELAY = timedelta(hours=2)
QUIET_START = time(21, 0)
QUIET_END = time(8, 0)
MORNING = time(9, 0)
SNOOZE = timedelta(hours=2)
REMINDER_AFTER = timedelta(hours=24)  # one reminder, a day after the prompt went out
PROMPT_EXPIRY = timedelta(days=7)  # counted from when the prompt was first due


def parse_when(text: str, now: datetime, timezone: str) -> datetime | None:
    """Parse "nu", "over 3 uur", "morgen 9:00", "in 2 hours" or ISO 8601; None if unclear.

    Durations ("over 3 uur") count real hours, also across a daylight-saving change; clock
    times ("morgen 9:00") are wall-clock times in `timezone`, with that day's UTC offset.
    """
    cleaned = text.strip()
    if not cleaned:
        return None
    zone = ZoneInfo(timezone)
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        local_now = now.astimezone(zone).replace(tzinfo=None)
        found = _dateparse(cleaned, local_now)
        if found is None:
            return None
        if found.tzinfo is None:
            # A text whose result moves along with "now" is a duration from now.
            probe = _dateparse(cleaned, local_now + _PROBE)
            if probe is not None and probe.tzinfo is None and probe - found == _PROBE:
                return now + (found - local_now)
        parsed = found
    if parsed.tzinfo is None:
        # ZoneInfo picks the offset of that very day: dateparser would use today's.
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


_PROBE = timedelta(minutes=7)


def _dateparse(text: str, base: datetime) -> datetime | None:
    import dateparser  # imported here: it takes a moment and is only needed for typed times

    settings = {"PREFER_DATES_FROM": "future", "RELATIVE_BASE": base}
    with warnings.catch_warnings():
        # dateparser warns about its own use of deprecated stdlib parsing on some inputs
        warnings.simplefilter("ignore")
        found: datetime | None = dateparser.parse(text, languages=["nl", "en"], settings=settings)
    return found


def out_of_quiet_hours(moment: datetime, timezone: str) -> datetime:
    """Move a moment in 21:00–08:00 local time to 09:00 the next morning (DST-safe)."""
    zone = ZoneInfo(timezone)
    local = moment.astimezone(zone)
    if QUIET_END <= local.time() < QUIET_START:
        return moment
    day = local.date() if local.time() < QUIET_END else local.date() + timedelta(days=1)
    return datetime.combine(day, MORNING, tzinfo=zone).astimezone(UTC)


def default_prompt_time(registered: datetime, timezone: str) -> datetime:
    """Two hours after registration, moved out of the recipient's quiet hours."""
    return out_of_quiet_hours(registered + DEFAULT_DELAY, timezone)


def tomorrow_morning(now: datetime, timezone: str) -> datetime:
    """09:00 on the next day in the member's time zone."""
    zone = ZoneInfo(timezone)
    day = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(day, MORNING, tzinfo=zone).astimezone(UTC)


def start_of_day(now: datetime, timezone: str) -> datetime:
    """Midnight of today in the member's time zone, as UTC."""
    zone = ZoneInfo(timezone)
    return datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone).astimezone(UTC)
