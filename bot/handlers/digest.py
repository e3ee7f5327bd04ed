"""The weekly digest: Monday 09:00 in each member's time zone, only what they may see.

Once a week per member: the member's `last_digest_at` is swapped from its old value to
`now` (compare-and-set) before sending, so of several processes exactly one wins and a
restart does not send it again. A send that raises puts the old value back, so the next
run retries; a process that dies between the swap and the send skips that member's digest
for the week. That is at-most-once on purpose: a digest is a summary, not a question.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.models import OPEN_PROMPT_STATES, Lesson, Member
from bot.ports import Notifier, Store
from bot.replies import Choice, Text
from bot.texts import Translator, shorten
from bot.timing import MORNING, QUIET_START

log = logging.getLogger(__name__)

MONDAY = 0
WEEK = timedelta(days=7)
MAX_LESSONS = 10
MAX_PROMPTS = 3


def digest_moment(now: datetime, timezone: str) -> datetime | None:
    """This Monday 09:00 local time (UTC) if `now` falls between it and 21:00 that day."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    if local.weekday() != MONDAY or not MORNING <= local.time() < QUIET_START:
        # Outside the window the digest waits for next Monday: a "weekly" summary on a
        # Thursday, or at night after an outage, would surprise more than it helps.
        return None
    return datetime.combine(local.date(), MORNING, tzinfo=zone).astimezone(UTC)


def send_digests(now: datetime, *, store: Store, notifier: Notifier) -> int:
    """Send the digest to every member whose Monday 09:00 has come; return how many."""
    with store.transaction():
        recipients = store.digest_recipients()
    sent = 0
    for member, last in recipients:
        try:
            sent += _send_one(member, last, now, store=store, notifier=notifier)
        except Exception:  # one member's broken data must not stop everyone else's digest
            log.exception("digest for member %s failed", member.id)
    return sent


def _send_one(
    member: Member, last: datetime | None, now: datetime, *, store: Store, notifier: Notifier
) -> int:
    """Send one member's digest if it is due; return 1 when a message went out."""
    moment = digest_moment(now, member.timezone)
    if moment is None or (last is not None and last >= moment):
        return 0
    with store.transaction():
        if not store.swap_last_digest(member.id, last, now):
            return 0  # another process took this one
        message = build_digest(member, last or moment - WEEK, store=store)
    if message is None:
        return 0  # nothing new: no message, but this week counts as done
    try:
        notifier.notify(member, [message])
    except Exception as error:  # the platform failed: give the week back for a retry
        log.warning("digest for member %s failed: %s", member.id, error)
        with store.transaction():
            store.swap_last_digest(member.id, now, last)
        return 0
    return 1


def build_digest(member: Member, since: datetime, *, store: Store) -> Text | None:
    """The digest text for a member: new lessons by theme, kudos, open prompts; None if empty."""
    tr = Translator(member.locale)
    lessons = [
        lesson
        for lesson in store.lessons_since(member, since, limit=50)
        if lesson.author_id != member.id
    ]
    kudos = store.kudos_received(member.id, since)
    prompts = store.prompts_of(member.id, OPEN_PROMPT_STATES)
    if not (lessons or kudos or prompts):
        return None
    lines = [tr("digest.title", name=member.name)]
    if lessons:
        lines += ["", tr("digest.lessons", count=len(lessons))]
        lines += _lesson_lines(lessons[:MAX_LESSONS], tr)
        if len(lessons) > MAX_LESSONS:
            lines.append(tr("digest.more_lessons", count=len(lessons) - MAX_LESSONS))
    if kudos:
        lines += ["", tr("digest.kudos", count=len(kudos))]
        for k in kudos[:MAX_LESSONS]:
            giver = store.get_member(k.giver_id)
            lines.append(
                tr("digest.kudos_line", name=giver.name if giver else "?", reason=k.reason)
            )
    choices: list[Choice] = []
    if prompts:
        lines += ["", tr("digest.prompts", count=len(prompts))]
        for p in prompts[:MAX_PROMPTS]:
            incident = store.get_incident(p.incident_id)
            title = incident.title if incident else "?"
            lines.append(tr("digest.prompt_line", id=p.id, title=title))
            choices.append(Choice(tr("prompt.now") + f" #{p.id}", f"/invullen {p.id}"))
    lines += ["", tr("digest.footer")]
    return Text("\n".join(lines), choices=tuple(choices))


def _lesson_lines(lessons: list[Lesson], tr: Translator) -> list[str]:
    by_theme: dict[str, list[Lesson]] = defaultdict(list)
    for lesson in lessons:
        # Under its first theme only: a lesson listed twice reads like two lessons.
        by_theme[lesson.themes[0] if lesson.themes else ""].append(lesson)
    lines: list[str] = []
    for theme in sorted(by_theme, key=lambda t: (t == "", -len(by_theme[t]), t)):
        lines.append(tr("digest.theme", theme=theme or tr("digest.no_theme")))
        for lesson in by_theme[theme]:
            # Anonymous lessons come without organisation from the store: show the discipline.
            source = lesson.org_name or tr(f"discipline.{lesson.discipline.value}")
            text = shorten(lesson.lesson, 140)
            lines.append(tr("digest.lesson_line", lesson=text, source=source))
    return lines
